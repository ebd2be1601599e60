import type { Hono } from 'hono';
import { html } from 'hono/html';
import {
  SCHEDULE_TYPES,
  isValidTimeZone,
  slotAtOrAfter,
  upcomingSlots,
  type Schedule,
  type ScheduleInput,
  type ScheduleType,
  type SlotRule,
} from '@taskq/core';
import { field, formOf, type Ctx, type DashboardContext, type Env } from '../context.js';
import { csrfField } from '../views/layout.js';
import { formatTime } from '../views/format.js';

type Form = Record<string, unknown>;

/** The next `count` run times of a schedule (its nextRun first), in instants. */
export function previewSchedule(rule: SlotRule, first: Date | null, count = 5): Date[] {
  if (!first) return [];
  if (rule.type === 'Once') return [first];
  return [first, ...upcomingSlots(rule, first, count - 1)];
}

/** Preview of an unsaved form: the first run is nextRun (or now; for Cron the first match at or after it). */
export function previewForm(form: Form, defaultZone: string, now = new Date()): { times: Date[]; zone: string } {
  const type = SCHEDULE_TYPES.find((t) => t.toLowerCase() === field(form, 'type').toLowerCase()) ?? 'Once';
  const zone = field(form, 'timezone') || defaultZone;
  if (!isValidTimeZone(zone)) throw new Error(`"${zone}" is not an IANA time zone (e.g. Europe/Berlin).`);
  const start = field(form, 'nextRun') ? parseUtc(field(form, 'nextRun')) : now;
  const minutes = Number(field(form, 'minutes')) || null;
  if (type === 'Minutes' && !minutes) throw new Error('A Minutes schedule needs minutes (a whole number ≥ 1).');
  const cron = field(form, 'cron') || null;
  if (type === 'Cron' && !cron) throw new Error('A Cron schedule needs a cron expression, e.g. */5 * * * *.');
  const rule: SlotRule = { type, minutes, cron, timezone: zone, anchorAt: start };
  const first = type === 'Cron' ? slotAtOrAfter(rule, start) : start;
  return { times: previewSchedule(rule, first), zone };
}

function parseUtc(value: string): Date {
  const date = new Date(/[zZ]|[+-]\d\d:\d\d$/.test(value) ? value : `${value}Z`);
  if (Number.isNaN(date.getTime())) throw new Error(`"${value}" is not a date: use YYYY-MM-DDTHH:MM (UTC).`);
  return date;
}

function previewList(times: Date[], zone: string) {
  if (times.length === 0) return html`<p class="empty">No further runs.</p>`;
  return html`<ol class="preview" data-testid="next-runs">
    ${times.map((t) => html`<li>${formatTime(t, zone)} <span class="dim">${zone}</span></li>`)}
  </ol>`;
}

/** The form's fields as a ScheduleInput for q.schedules.create/update. */
function toInput(form: Form, creating: boolean): ScheduleInput {
  const argsText = field(form, 'args').trim() || '[]';
  let args: unknown;
  try {
    args = JSON.parse(argsText);
  } catch {
    throw new Error('Arguments must be a JSON array, e.g. [1, "two", {"three": 3}].');
  }
  if (!Array.isArray(args)) throw new Error('Arguments must be a JSON array, e.g. [1, "two", {"three": 3}].');
  const type = field(form, 'type') as ScheduleType;
  const input: ScheduleInput = {
    func: field(form, 'func').trim(),
    args,
    type,
    name: field(form, 'name').trim() || null,
    minutes: type === 'Minutes' ? Number(field(form, 'minutes')) : null,
    cron: type === 'Cron' ? field(form, 'cron').trim() : null,
    repeats: field(form, 'repeats') === '' ? -1 : Number(field(form, 'repeats')),
    cluster: field(form, 'cluster').trim() || null,
  };
  const timezone = field(form, 'timezone').trim();
  if (timezone) input.timezone = timezone;
  const nextRun = field(form, 'nextRun');
  if (nextRun) input.nextRun = parseUtc(nextRun);
  else if (creating) input.nextRun = null;
  return input;
}

export function registerScheduleRoutes(app: Hono<Env>, ctx: DashboardContext): void {
  const api = () => ctx.options.taskq.schedules;

  app.get('/schedules', async (c) => {
    const session = c.get('session');
    const runtime = await ctx.runtime();
    const { schedules, total } = await api().list({ limit: 500 });
    const lastSuccess = await Promise.all(
      schedules.map(async (s) => (s.lastTaskId ? ((await runtime.store.get(s.lastTaskId))?.success ?? null) : null)),
    );
    const admin = session.role === 'admin';
    const action = (s: Schedule, verb: string, label: string, cls = '') =>
      html`<form method="post" action="${ctx.url(`schedules/${s.id}/${verb}`)}" class="inline">
        ${csrfField(session)}<button
          type="submit"
          class="${cls}"
          data-testid="${verb}-${s.name ?? s.id}"
          data-confirm="${verb === 'delete' ? `Delete the schedule ${s.name ?? s.id}?` : null}"
        >
          ${label}
        </button>
      </form>`;
    const body = html`${admin ? html`<p><a class="button" href="${ctx.url('schedules/new')}">New schedule</a></p>` : ''}
      <table class="list" data-testid="schedule-table">
        <thead>
          <tr>
            <th>Name</th>
            <th>Func</th>
            <th>Type</th>
            <th>Rule</th>
            <th>Repeats</th>
            <th>Cluster</th>
            <th>Next run</th>
            <th>Last run</th>
            <th>Success</th>
            ${admin ? html`<th>Actions</th>` : ''}
          </tr>
        </thead>
        <tbody>
          ${schedules.map(
            (s, i) =>
              html`<tr data-schedule="${s.name ?? s.id}">
                <td>
                  <a href="${ctx.url(`schedules/${s.id}`)}">${s.name ?? s.id.slice(0, 8)}</a
                  >${s.paused ? html` <span class="badge">paused</span>` : ''}
                </td>
                <td class="mono">${s.func}</td>
                <td>${s.type}</td>
                <td class="mono">
                  ${s.type === 'Cron' ? s.cron : s.type === 'Minutes' ? `every ${s.minutes} min` : ''}
                </td>
                <td>${s.repeats < 0 ? '∞' : s.repeats}</td>
                <td>${s.cluster ?? 'any'}</td>
                <td>${formatTime(s.nextRun, s.timezone)} <span class="dim">${s.timezone}</span></td>
                <td>
                  ${s.lastTaskId ? html`<a href="${ctx.url(`tasks/${s.lastTaskId}`)}">${formatTime(s.lastRunAt)}</a>` : '—'}
                </td>
                <td>${lastSuccess[i] === null ? '—' : lastSuccess[i] ? '✔' : '✘'}</td>
                ${
                  admin
                    ? html`<td class="row-actions">
                        ${action(s, 'run', 'Run now')}
                        ${s.paused ? action(s, 'resume', 'Resume') : action(s, 'pause', 'Pause')}
                        <a href="${ctx.url(`schedules/${s.id}`)}">Edit</a>
                        ${action(s, 'delete', 'Delete', 'danger')}
                      </td>`
                    : ''
                }
              </tr>`,
          )}
        </tbody>
      </table>
      ${total === 0 ? html`<p class="empty">No schedules.</p>` : ''}`;
    return ctx.page(c, { title: 'Scheduled tasks', active: 'schedules' }, body);
  });

  app.get('/schedules/new', async (c) => scheduleForm(c, ctx, null, {}));

  app.get('/schedules/preview', async (c) => {
    try {
      const { times, zone } = previewForm(c.req.query(), ctx.options.taskq.config.timezone);
      return c.html(previewList(times, zone));
    } catch (error) {
      return c.html(html`<p class="error" role="alert">${(error as Error).message}</p>`);
    }
  });

  app.post('/schedules', async (c) => {
    const form = await formOf(c);
    try {
      const created = await api().create(toInput(form, true));
      ctx.audit(c, 'schedule.create', {
        schedule: created.id,
        name: created.name,
        func: created.func,
        type: created.type,
      });
      return c.redirect(
        `${ctx.url('schedules')}?notice=${encodeURIComponent(`Created schedule ${created.name ?? created.id}.`)}`,
        303,
      );
    } catch (error) {
      return scheduleForm(c, ctx, null, form, errorText(ctx, error));
    }
  });

  app.get('/schedules/:id', async (c) => {
    const schedule = await api().get(c.req.param('id'));
    if (!schedule) return ctx.page(c, { title: 'Schedule not found', error: 'No schedule has that id.' }, html``, 404);
    return scheduleForm(c, ctx, schedule, await formFromSchedule(ctx, schedule));
  });

  app.post('/schedules/:id', async (c) => {
    const schedule = await api().get(c.req.param('id'));
    if (!schedule) return c.text('No schedule has that id.', 404);
    const form = await formOf(c);
    try {
      const updated = await api().update(schedule.id, toInput(form, false));
      ctx.audit(c, 'schedule.edit', { schedule: updated.id, name: updated.name });
      return c.redirect(
        `${ctx.url('schedules')}?notice=${encodeURIComponent(`Saved schedule ${updated.name ?? updated.id}.`)}`,
        303,
      );
    } catch (error) {
      return scheduleForm(c, ctx, schedule, form, errorText(ctx, error));
    }
  });

  const verbs: Record<string, (id: string) => Promise<string>> = {
    pause: async (id) => `Paused ${(await api().pause(id)).name ?? id}.`,
    resume: async (id) => `Resumed ${(await api().resume(id)).name ?? id}.`,
    run: async (id) => `Started task ${await api().runNow(id)}.`,
    delete: async (id) => ((await api().delete(id)) ? 'Deleted the schedule.' : 'The schedule was already gone.'),
  };
  app.post('/schedules/:id/:verb', async (c) => {
    const verb = verbs[c.req.param('verb')];
    if (!verb) return c.notFound();
    const id = c.req.param('id');
    let notice: string;
    try {
      notice = await verb(id);
      ctx.audit(c, `schedule.${c.req.param('verb')}`, { schedule: id });
    } catch (error) {
      notice = errorText(ctx, error);
    }
    return c.redirect(`${ctx.url('schedules')}?notice=${encodeURIComponent(notice)}`, 303);
  });
}

function errorText(ctx: DashboardContext, error: unknown): string {
  return error instanceof Error && !('code' in error) ? error.message : ctx.describe(error);
}

async function formFromSchedule(ctx: DashboardContext, s: Schedule): Promise<Form> {
  const args = await ctx.options.taskq.schedules.args(s);
  return {
    name: s.name ?? '',
    func: s.func,
    args: JSON.stringify(args),
    type: s.type,
    minutes: s.minutes === null ? '' : String(s.minutes),
    cron: s.cron ?? '',
    repeats: String(s.repeats),
    nextRun: s.nextRun.toISOString().slice(0, 16),
    timezone: s.timezone,
    cluster: s.cluster ?? '',
  };
}

async function scheduleForm(c: Ctx, ctx: DashboardContext, schedule: Schedule | null, form: Form, error?: string) {
  const session = c.get('session');
  const admin = session.role === 'admin';
  const v = (name: string) => field(form, name);
  const type = v('type') || 'Cron';
  const zone = v('timezone') || ctx.options.taskq.config.timezone;
  let preview;
  if (schedule && !error) {
    const rule: SlotRule = { ...schedule };
    preview = previewList(previewSchedule(rule, schedule.nextRun), schedule.timezone);
  } else {
    try {
      const { times, zone: z } = previewForm({ ...form, type }, zone);
      preview = previewList(times, z);
    } catch (e) {
      preview = html`<p class="error">${(e as Error).message}</p>`;
    }
  }
  const body = html`<form
      method="post"
      action="${ctx.url(schedule ? `schedules/${schedule.id}` : 'schedules')}"
      class="schedule-form"
      data-testid="schedule-form"
    >
      ${csrfField(session)}
      <label>Name <input name="name" value="${v('name')}" placeholder="optional, unique" /></label>
      <label>Func <input name="func" value="${v('func')}" required placeholder="task name" /></label>
      <label>Arguments (JSON array) <input name="args" value="${v('args') || '[]'}" class="mono" /></label>
      <label
        >Type
        <select
          name="type"
          hx-get="${ctx.url('schedules/preview')}"
          hx-target="#preview"
          hx-include="closest form"
          hx-trigger="change"
        >
          ${SCHEDULE_TYPES.map((t) => html`<option value="${t}" ${t === type ? 'selected' : ''}>${t}</option>`)}
        </select>
      </label>
      <label
        >Cron
        <input
          name="cron"
          value="${v('cron')}"
          class="mono"
          placeholder="*/5 * * * *"
          hx-get="${ctx.url('schedules/preview')}"
          hx-target="#preview"
          hx-include="closest form"
          hx-trigger="input changed delay:400ms"
      /></label>
      <label
        >Minutes
        <input
          name="minutes"
          type="number"
          min="1"
          value="${v('minutes')}"
          hx-get="${ctx.url('schedules/preview')}"
          hx-target="#preview"
          hx-include="closest form"
          hx-trigger="input changed delay:400ms"
      /></label>
      <label
        >Repeats <input name="repeats" type="number" value="${v('repeats') || '-1'}" />
        <span class="dim">-1 forever</span></label
      >
      <label
        >First run (UTC)
        <input
          name="nextRun"
          type="datetime-local"
          value="${v('nextRun')}"
          hx-get="${ctx.url('schedules/preview')}"
          hx-target="#preview"
          hx-include="closest form"
          hx-trigger="change"
      /></label>
      <label
        >Time zone
        <input
          name="timezone"
          value="${zone}"
          hx-get="${ctx.url('schedules/preview')}"
          hx-target="#preview"
          hx-include="closest form"
          hx-trigger="input changed delay:400ms"
      /></label>
      <label>Cluster <input name="cluster" value="${v('cluster')}" placeholder="any" /></label>
      ${admin ? html`<button type="submit" data-testid="save-schedule">${schedule ? 'Save' : 'Create'}</button>` : ''}
    </form>
    <h2>Next five runs</h2>
    <div id="preview" aria-live="polite">${preview}</div>`;
  return ctx.page(
    c,
    { title: schedule ? `Schedule ${schedule.name ?? schedule.id}` : 'New schedule', active: 'schedules', error },
    body,
    error ? 422 : 200,
  );
}
