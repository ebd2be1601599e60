import type { Hono } from 'hono';
import { html } from 'hono/html';
import { awaitsRetry, ErrorCodes, isTaskId, type SearchQuery, type TaskMessage, type TaskRecord } from '@taskq/core';
import { formOf, type DashboardContext, type Env, type Ctx } from '../context.js';
import { csrfField } from '../views/layout.js';
import {
  formatDuration,
  formatTime,
  metaView,
  prettyJson,
  selectAllCell,
  selectCell,
  shorten,
  stateBadge,
} from '../views/format.js';

const FILTERS = ['q', 'func', 'name', 'group', 'cluster', 'state', 'since', 'until'] as const;
type Filters = Partial<Record<(typeof FILTERS)[number], string>>;

/** The list's filters from the query string (empty fields dropped). */
function readFilters(c: Ctx): Filters {
  const out: Filters = {};
  for (const key of FILTERS) {
    const value = c.req.query(key)?.trim();
    if (value) out[key] = value;
  }
  return out;
}

/** `datetime-local` values are read as UTC (the pages show UTC). */
export function parseTime(value: string | undefined, field: string): Date | undefined {
  if (!value) return undefined;
  const date = new Date(/[zZ]|[+-]\d\d:\d\d$/.test(value) ? value : `${value}Z`);
  if (Number.isNaN(date.getTime())) throw new FilterError(`"${field}" is not a date: use YYYY-MM-DDTHH:MM.`);
  return date;
}

export class FilterError extends Error {}

export function toSearch(filters: Filters, cursor: string | undefined, limit: number): SearchQuery {
  const query: SearchQuery = { limit };
  if (filters.q) query.text = filters.q;
  if (filters.func) query.func = filters.func;
  if (filters.name) query.name = filters.name;
  if (filters.group) query.group = filters.group;
  if (filters.cluster) query.cluster = filters.cluster;
  if (filters.state === 'success' || filters.state === 'failure') query.state = filters.state;
  const since = parseTime(filters.since, 'since');
  const until = parseTime(filters.until, 'until');
  if (since) query.since = since;
  if (until) query.until = until;
  if (cursor) query.cursor = cursor;
  return query;
}

export function queryString(filters: Filters, extra: Record<string, string> = {}): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries({ ...filters, ...extra })) if (v) params.set(k, v);
  const text = params.toString();
  return text ? `?${text}` : '';
}

export function registerTaskRoutes(app: Hono<Env>, ctx: DashboardContext): void {
  app.get('/tasks', async (c) => {
    const filters = readFilters(c);
    const session = c.get('session');
    const title =
      filters.state === 'success' ? 'Successful tasks' : filters.state === 'failure' ? 'Failed tasks' : 'Tasks';
    const active = filters.state ? `tasks?state=${filters.state}` : undefined;
    let records: TaskRecord[] = [];
    let nextCursor: string | null = null;
    let error: string | undefined;
    try {
      const runtime = await ctx.runtime();
      const page = await runtime.store.search(toSearch(filters, c.req.query('cursor'), 50));
      records = page.records;
      nextCursor = page.nextCursor;
    } catch (e) {
      error = e instanceof FilterError ? e.message : ctx.describe(e);
    }
    const canChange = session.role === 'admin';
    const back = `${ctx.url('tasks')}${queryString(filters, c.req.query('cursor') ? { cursor: c.req.query('cursor')! } : {})}`;
    const body = html` ${filterForm(ctx, filters)}
      <form method="post" id="bulk" action="${ctx.url('tasks/resubmit')}">
        ${csrfField(session)}
        <input type="hidden" name="back" value="${back}" />
        ${
          canChange && records.length > 0
            ? html`<div class="actions">
                <button type="submit" data-testid="resubmit-selected">Resubmit selected</button>
                <button
                  type="submit"
                  formaction="${ctx.url('tasks/delete')}"
                  class="danger"
                  data-confirm="Delete the selected tasks? This cannot be undone."
                  data-testid="delete-selected"
                >
                  Delete selected
                </button>
              </div>`
            : ''
        }
        <table class="list" data-testid="task-table">
          <thead>
            <tr>
              ${selectAllCell(canChange)}
              <th>Name</th>
              <th>Func</th>
              <th>State</th>
              <th>Group</th>
              <th>Cluster</th>
              <th>Started</th>
              <th>Stopped</th>
              <th>Time</th>
              <th>Attempts</th>
              <th>Result / error</th>
            </tr>
          </thead>
          <tbody>
            ${records.map(
              (r) =>
                html`<tr data-task-id="${r.id}">
                  ${selectCell(canChange, r)}
                  <td><a href="${ctx.url(`tasks/${r.id}`)}">${r.name}</a></td>
                  <td>${r.func}</td>
                  <td>${stateBadge(r.success)}</td>
                  <td>
                    ${r.group ? html`<a href="${ctx.url(`tasks${queryString({ group: r.group })}`)}">${r.group}</a>` : ''}
                  </td>
                  <td>${r.cluster ?? ''}</td>
                  <td>${formatTime(r.startedAt)}</td>
                  <td>${formatTime(r.stoppedAt)}</td>
                  <td>${formatDuration(r.stoppedAt.getTime() - r.startedAt.getTime())}</td>
                  <td>${r.attemptCount}</td>
                  <td class="mono">${r.success ? shorten(r.result) : shorten(r.error?.message)}</td>
                </tr>`,
            )}
          </tbody>
        </table>
      </form>
      ${records.length === 0 && !error ? html`<p class="empty">No tasks match.</p>` : ''}
      <p class="pager">
        ${c.req.query('cursor') ? html`<a href="${ctx.url('tasks')}${queryString(filters)}">« Newest</a>` : ''}
        ${
          nextCursor
            ? html`<a href="${ctx.url('tasks')}${queryString(filters, { cursor: nextCursor })}" data-testid="next-page"
                >Older »</a
              >`
            : ''
        }
      </p>`;
    return ctx.page(c, { title, active, error }, body, error ? 400 : 200);
  });

  app.get('/tasks/:id', async (c) => {
    const runtime = await ctx.runtime();
    const id = c.req.param('id');
    const record = await runtime.store.get(id);
    if (record) return ctx.page(c, { title: `Task ${record.name}` }, taskDetail(ctx, c, record));
    // no record yet: waiting or running (progress and logs live from its cluster), or unknown
    const live = await liveState(ctx, id);
    const known = live.queued !== null || live.meta !== null;
    const session = c.get('session');
    const body = html`<div
        data-testid="task-live"
        hx-get="${ctx.url(`tasks/${encodeURIComponent(id)}/live`)}"
        hx-trigger="every 2s"
        hx-swap="innerHTML"
      >
        ${liveView(ctx, id, live)}
      </div>
      ${
        session.role === 'admin' && (known || isTaskId(id))
          ? html`<form method="post" action="${ctx.url(`tasks/${encodeURIComponent(id)}/cancel`)}" class="actions">
              ${csrfField(session)}
              <input type="hidden" name="back" value="${ctx.url(`tasks/${encodeURIComponent(id)}`)}" />
              <button
                type="submit"
                class="danger"
                data-confirm="Cancel this task? A waiting task never runs; a running one is aborted."
                data-testid="cancel-task"
              >
                Cancel
              </button>
            </form>`
          : ''
      }`;
    return ctx.page(
      c,
      known
        ? { title: `Task ${live.queued?.name ?? id}` }
        : { title: 'Task not found', error: 'No task has that id or name (yet).' },
      body,
      known ? 200 : 404,
    );
  });

  /** The live part of an unfinished task's page; once its record exists, htmx reloads the page into the record. */
  app.get('/tasks/:id/live', async (c) => {
    const id = c.req.param('id');
    const runtime = await ctx.runtime();
    if (await runtime.store.get(id)) {
      c.header('HX-Refresh', 'true');
      return c.body(null, 204);
    }
    return c.html(html`${liveView(ctx, id, await liveState(ctx, id))}`);
  });

  app.post('/tasks/:id/cancel', async (c) => {
    const form = await formOf(c);
    const id = c.req.param('id');
    let notice: string;
    try {
      const cancelled = await ctx.options.taskq.cancel(id);
      if (cancelled) {
        ctx.audit(c, 'cancel', { task: id });
        notice = `Cancelled ${id}: a waiting task will not run; a running one is aborted within a guard cycle.`;
      } else {
        notice = `${id} already finished; nothing to cancel.`;
      }
    } catch (error) {
      notice = `Could not cancel ${id}: ${ctx.describe(error)}`;
    }
    return back(c, ctx, form.back, notice);
  });

  app.post('/tasks/resubmit', async (c) => {
    const form = await formOf(c);
    const ids = list(form.ids);
    const runtime = await ctx.runtime();
    let done = 0;
    const problems: string[] = [];
    for (const id of ids) {
      try {
        const record = await runtime.store.get(id);
        if (!record) continue;
        const args = runtime.serializer.deserialize(record.args) as unknown[];
        const options: Record<string, string> = {};
        if (record.group) options.group = record.group;
        if (record.hook) options.hook = record.hook;
        if (record.cluster) options.cluster = record.cluster;
        const newId = await ctx.options.taskq.enqueue(record.func, Array.isArray(args) ? args : [args], options);
        // django-q2: a resubmitted failure leaves the failed list; a success stays as history
        if (!record.success) await runtime.store.delete(record.id);
        ctx.audit(c, 'resubmit', { task: record.id, func: record.func, newTask: newId });
        done++;
      } catch (error) {
        problems.push(`${id}: ${ctx.describe(error)}`);
      }
    }
    return back(c, ctx, form.back, `Resubmitted ${done} task${done === 1 ? '' : 's'}.${problemText(problems)}`);
  });

  app.post('/tasks/delete', async (c) => {
    const form = await formOf(c);
    const ids = list(form.ids);
    const runtime = await ctx.runtime();
    let done = 0;
    for (const id of ids) {
      if (await runtime.store.delete(id)) {
        ctx.audit(c, 'delete', { task: id });
        done++;
      }
    }
    return back(c, ctx, form.back, `Deleted ${done} task${done === 1 ? '' : 's'}.`);
  });
}

function problemText(problems: string[]): string {
  return problems.length ? ` ${problems.length} could not be resubmitted: ${problems.slice(0, 3).join('; ')}` : '';
}

export function list(value: unknown): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).filter((v): v is string => typeof v === 'string' && v !== '');
}

/** Back to the page the form came from, only within the dashboard. */
export function back(c: Ctx, ctx: DashboardContext, target: unknown, notice: string): Response {
  const base = ctx.url('');
  let path =
    typeof target === 'string' && target.startsWith(base) && !target.startsWith('//') ? target : ctx.url('tasks');
  const url = new URL(path, 'http://x');
  url.searchParams.set('notice', notice);
  path = `${url.pathname}${url.search}`;
  return c.redirect(path, 303);
}

function filterForm(ctx: DashboardContext, f: Filters) {
  return html`<form method="get" action="${ctx.url('tasks')}" class="filters" data-testid="filters">
    <input name="q" value="${f.q ?? ''}" placeholder="Search args, results, errors" aria-label="search text" />
    <input name="func" value="${f.func ?? ''}" placeholder="func" aria-label="func" />
    <input name="name" value="${f.name ?? ''}" placeholder="name" aria-label="name" />
    <input name="group" value="${f.group ?? ''}" placeholder="group" aria-label="group" />
    <input name="cluster" value="${f.cluster ?? ''}" placeholder="cluster" aria-label="cluster" />
    <select name="state" aria-label="state">
      <option value="">any state</option>
      <option value="success" ${f.state === 'success' ? 'selected' : ''}>success</option>
      <option value="failure" ${f.state === 'failure' ? 'selected' : ''}>failure</option>
    </select>
    <label>from <input type="datetime-local" name="since" value="${f.since ?? ''}" /></label>
    <label>to <input type="datetime-local" name="until" value="${f.until ?? ''}" /> UTC</label>
    <button type="submit">Filter</button>
  </form>`;
}

function taskDetail(ctx: DashboardContext, c: Ctx, r: TaskRecord) {
  const session = c.get('session');
  const wait = r.startedAt.getTime() - r.enqueuedAt.getTime();
  const run = r.stoppedAt.getTime() - r.startedAt.getTime();
  return html`<dl class="detail" data-testid="task-detail">
      <dt>Id</dt>
      <dd class="mono">${r.id}</dd>
      <dt>Name</dt>
      <dd>${r.name}</dd>
      <dt>Func</dt>
      <dd class="mono">${r.func}</dd>
      <dt>State</dt>
      <dd>${stateBadge(r.success)}</dd>
      <dt>Group</dt>
      <dd>
        ${r.group ? html`<a href="${ctx.url(`tasks?group=${encodeURIComponent(r.group)}`)}">${r.group}</a>` : '—'}
      </dd>
      <dt>Hook</dt>
      <dd class="mono">${r.hook ?? '—'}</dd>
      <dt>Cluster</dt>
      <dd>${r.cluster ?? '—'}</dd>
      <dt>Attempts</dt>
      <dd>${r.attemptCount}</dd>
      <dt>Enqueued</dt>
      <dd>${formatTime(r.enqueuedAt)} UTC</dd>
      <dt>Started</dt>
      <dd>${formatTime(r.startedAt)} UTC (waited ${formatDuration(wait)})</dd>
      <dt>Stopped</dt>
      <dd>${formatTime(r.stoppedAt)} UTC (ran ${formatDuration(run)})</dd>
      ${
        r.meta?.redrivenFrom
          ? html`<dt>Redriven from</dt>
              <dd>
                <a class="mono" href="${ctx.url(`tasks/${r.meta.redrivenFrom}`)}" data-testid="redriven-from"
                  >${r.meta.redrivenFrom}</a
                >
              </dd>`
          : ''
      }
    </dl>
    <h2>Arguments</h2>
    <pre data-testid="task-args">${prettyJson(r.args)}</pre>
    ${
      r.success
        ? html`<h2>Result</h2>
            <pre data-testid="task-result">${prettyJson(r.result)}</pre>`
        : html`<h2>Error</h2>
            <p data-testid="task-error">
              <strong>${r.error?.name ?? 'Error'}</strong>: ${r.error?.message ?? ''}
              ${r.error?.code ? html` <span class="badge">${r.error.code}</span>` : ''}
            </p>
            <pre>${r.error?.stack ?? ''}</pre>`
    }
    <h2>Progress and logs</h2>
    ${metaView(r.meta)}
    ${
      session.role === 'admin'
        ? html`<form method="post" action="${ctx.url('tasks/resubmit')}" class="actions">
            ${csrfField(session)}
            <input type="hidden" name="ids" value="${r.id}" />
            <input
              type="hidden"
              name="back"
              value="${ctx.url(r.success ? 'tasks?state=success' : 'tasks?state=failure')}"
            />
            <button type="submit" data-testid="resubmit">Resubmit</button>
            ${
              isDeadLetter(r)
                ? html`<button
                    type="submit"
                    formaction="${ctx.url('dead-letters/redrive?open=1')}"
                    data-testid="redrive"
                  >
                    Redrive
                  </button>`
                : ''
            }
            <button
              type="submit"
              formaction="${ctx.url('tasks/delete')}"
              class="danger"
              data-confirm="Delete this task record?"
            >
              Delete
            </button>
          </form>`
        : ''
    }`;
}

/** A failure with no attempt left that was not stopped on purpose (what `q.deadLetters()` lists, before redrives). */
export function isDeadLetter(r: TaskRecord): boolean {
  if (r.success || awaitsRetry(r)) return false;
  const code = r.error?.code;
  return (
    code !== ErrorCodes.TASK_CANCELLED && code !== ErrorCodes.TASK_EXPIRED && code !== ErrorCodes.GROUP_MEMBER_FAILED
  );
}

interface LiveState {
  queued: (TaskMessage & { lockedUntil: Date | null; runAt: Date | null }) | null;
  meta: Awaited<ReturnType<DashboardContext['options']['taskq']['progress']>>;
}

/** Where an unfinished task is (the first 1,000 messages of each queue looked at), and what it reported so far. */
async function liveState(ctx: DashboardContext, id: string): Promise<LiveState> {
  const runtime = await ctx.runtime();
  let queued: LiveState['queued'] = null;
  // the default queue and those the running clusters serve
  const stats = await (runtime.stats ? runtime.stats.getStats() : runtime.store.getStats()).catch(() => []);
  const queues = [...new Set([runtime.broker.queue, ...stats.map((s) => s.queue)])];
  for (const queue of queues) {
    const broker = queue === runtime.broker.queue ? runtime.broker : await runtime.brokerFor(queue);
    if (!broker.capabilities.listQueued) continue;
    for (const m of await broker.listQueued({ limit: 1000 })) {
      try {
        const task = runtime.codec.unpack(m.payload);
        if (task.id === id || task.name === id) {
          queued = { ...task, lockedUntil: m.lockedUntil ?? null, runAt: m.runAt ?? null };
          break;
        }
      } catch {
        // an unreadable package is listed as such on the queued page
      }
    }
    if (queued) break;
  }
  const meta = isTaskId(id) ? await ctx.options.taskq.progress(id).catch(() => null) : null;
  return { queued, meta };
}

function liveView(ctx: DashboardContext, id: string, live: LiveState) {
  const q = live.queued;
  const state = q
    ? q.lockedUntil
      ? 'Running (claimed by a cluster)'
      : q.runAt && q.runAt.getTime() > Date.now()
        ? `Waiting, due ${formatTime(q.runAt)} UTC`
        : 'Waiting on the queue'
    : live.meta
      ? 'Running'
      : 'No record yet: waiting on another queue, running without progress reported, or unknown';
  return html`<dl class="detail">
      <dt>Id</dt>
      <dd class="mono">${q?.id ?? id}</dd>
      ${
        q
          ? html`<dt>Name</dt>
              <dd>${q.name}</dd>
              <dt>Func</dt>
              <dd class="mono">${q.func}</dd>`
          : ''
      }
      <dt>State</dt>
      <dd><span class="badge state-live" data-testid="task-live-state">${state}</span></dd>
      ${
        q?.group
          ? html`<dt>Group</dt>
              <dd>${q.group}</dd>`
          : ''
      }
      ${
        q
          ? html`<dt>Enqueued</dt>
              <dd>${formatTime(new Date(q.enqueuedAt))} UTC</dd>`
          : ''
      }
      ${
        q?.redrivenFrom || live.meta?.redrivenFrom
          ? html`<dt>Redriven from</dt>
              <dd>
                <a
                  class="mono"
                  href="${ctx.url(`tasks/${q?.redrivenFrom ?? live.meta?.redrivenFrom}`)}"
                  data-testid="redriven-from"
                  >${q?.redrivenFrom ?? live.meta?.redrivenFrom}</a
                >
              </dd>`
          : ''
      }
    </dl>
    <h2>Progress and logs (live)</h2>
    ${metaView(live.meta)}`;
}
