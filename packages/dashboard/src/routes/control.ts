import type { Hono } from 'hono';
import { html } from 'hono/html';
import type { Taskq, TaskResult } from '@taskq/core';
import { field, formOf, type Ctx, type DashboardContext, type Env } from '../context.js';
import { csrfField } from '../views/layout.js';
import { formatTime, selectAllCell, selectCell, shorten } from '../views/format.js';
import { back, FilterError, list, parseTime, queryString } from './tasks.js';

type DeadLetterQuery = NonNullable<Parameters<Taskq['deadLetters']>[0]>;

const DEAD_FILTERS = ['func', 'code', 'since', 'until'] as const;
type DeadFilters = Partial<Record<(typeof DEAD_FILTERS)[number], string>>;

function readDeadFilters(source: (key: string) => string | undefined): DeadFilters {
  const out: DeadFilters = {};
  for (const key of DEAD_FILTERS) {
    const value = source(key)?.trim();
    if (value) out[key] = value;
  }
  return out;
}

function toDeadQuery(filters: DeadFilters): DeadLetterQuery {
  const query: DeadLetterQuery = {};
  if (filters.func) query.func = filters.func;
  if (filters.code) query.code = filters.code;
  const since = parseTime(filters.since, 'since');
  const until = parseTime(filters.until, 'until');
  if (since) query.since = since;
  if (until) query.until = until;
  return query;
}

/** Dead letters (list, redrive), cancelling tasks and groups, pausing queues. */
export function registerControlRoutes(app: Hono<Env>, ctx: DashboardContext): void {
  const { taskq } = ctx.options;

  app.get('/dead-letters', async (c) => {
    const filters = readDeadFilters((k) => c.req.query(k));
    const cursor = c.req.query('cursor');
    const session = c.get('session');
    let records: TaskResult[] = [];
    let nextCursor: string | null = null;
    let error: string | undefined;
    try {
      const page = await taskq.deadLetters({ ...toDeadQuery(filters), limit: 50, ...(cursor ? { cursor } : {}) });
      records = page.records;
      nextCursor = page.nextCursor;
    } catch (e) {
      error = e instanceof FilterError ? e.message : ctx.describe(e);
    }
    const canChange = session.role === 'admin';
    const here = `${ctx.url('dead-letters')}${queryString(filters, cursor ? { cursor } : {})}`;
    const body = html`<p class="hint">
        Failed tasks with no attempt left, not redriven yet, newest first. Redriving enqueues a new task (same func,
        arguments, group and queue) linked to the dead letter.
      </p>
      <form method="get" action="${ctx.url('dead-letters')}" class="filters" data-testid="dead-filters">
        <input name="func" value="${filters.func ?? ''}" placeholder="func" aria-label="func" />
        <input name="code" value="${filters.code ?? ''}" placeholder="error code" aria-label="error code" />
        <label>from <input type="datetime-local" name="since" value="${filters.since ?? ''}" /></label>
        <label>to <input type="datetime-local" name="until" value="${filters.until ?? ''}" /> UTC</label>
        <button type="submit">Filter</button>
      </form>
      <form method="post" action="${ctx.url('dead-letters/redrive')}">
        ${csrfField(session)}
        <input type="hidden" name="back" value="${here}" />
        ${
          canChange && records.length > 0
            ? html`<div class="actions">
                <button type="submit" data-testid="redrive-selected">Redrive selected</button>
                <button
                  type="submit"
                  name="scope"
                  value="all"
                  data-confirm="Redrive every dead letter matching the filter (not only this page)?"
                  data-testid="redrive-all"
                >
                  Redrive all matching the filter
                </button>
                ${DEAD_FILTERS.map((k) =>
                  filters[k] ? html`<input type="hidden" name="${k}" value="${filters[k]}" />` : '',
                )}
              </div>`
            : ''
        }
        <table class="list" data-testid="dead-table">
          <thead>
            <tr>
              ${selectAllCell(canChange)}
              <th>Name</th>
              <th>Func</th>
              <th>Error code</th>
              <th>Error</th>
              <th>Group</th>
              <th>Queue</th>
              <th>Attempts</th>
              <th>Failed</th>
            </tr>
          </thead>
          <tbody>
            ${records.map(
              (r) =>
                html`<tr data-task-id="${r.id}">
                  ${selectCell(canChange, r)}
                  <td><a href="${ctx.url(`tasks/${r.id}`)}">${r.name}</a></td>
                  <td>${r.func}</td>
                  <td>${r.error?.code ? html`<span class="badge">${r.error.code}</span>` : ''}</td>
                  <td class="mono">${shorten(r.error?.message)}</td>
                  <td>${r.group ?? ''}</td>
                  <td>${r.cluster ?? ''}</td>
                  <td>${r.attemptCount}</td>
                  <td>${formatTime(r.stoppedAt)}</td>
                </tr>`,
            )}
          </tbody>
        </table>
      </form>
      ${records.length === 0 && !error ? html`<p class="empty">No dead letters match.</p>` : ''}
      <p class="pager">
        ${cursor ? html`<a href="${ctx.url('dead-letters')}${queryString(filters)}">« Newest</a>` : ''}
        ${
          nextCursor
            ? html`<a
                href="${ctx.url('dead-letters')}${queryString(filters, { cursor: nextCursor })}"
                data-testid="next-page"
                >Older »</a
              >`
            : ''
        }
      </p>`;
    return ctx.page(c, { title: 'Dead letters', active: 'dead-letters', error }, body, error ? 400 : 200);
  });

  app.post('/dead-letters/redrive', async (c) => {
    const form = await formOf(c);
    const all = field(form, 'scope') === 'all';
    let redriven: { from: string; id: string }[];
    try {
      const target = all ? toDeadQuery(readDeadFilters((k) => field(form, k))) : list(form.ids);
      redriven = Array.isArray(target) && target.length === 0 ? [] : await taskq.redrive(target);
    } catch (error) {
      const message = error instanceof FilterError ? error.message : ctx.describe(error);
      return back(c, ctx, form.back, `Could not redrive: ${message}`);
    }
    for (const r of redriven) ctx.audit(c, 'redrive', { task: r.from, newTask: r.id });
    const notice = `Redrove ${redriven.length} dead letter${redriven.length === 1 ? '' : 's'}.`;
    // from a task's page: on to the new task
    if (c.req.query('open') && redriven.length === 1) return back(c, ctx, ctx.url(`tasks/${redriven[0]!.id}`), notice);
    return back(c, ctx, form.back ?? ctx.url('dead-letters'), notice);
  });

  app.post('/groups/cancel', async (c) => {
    const form = await formOf(c);
    const group = field(form, 'group').trim();
    let notice: string;
    if (!group) notice = 'Name the group to cancel.';
    else {
      try {
        await taskq.cancelGroup(group);
        ctx.audit(c, 'cancel-group', { group });
        notice = `Cancelled group ${group}: its waiting tasks will not run; running ones are aborted.`;
      } catch (error) {
        notice = `Could not cancel group ${group}: ${ctx.describe(error)}`;
      }
    }
    return back(c, ctx, form.back ?? ctx.url('groups'), notice);
  });

  for (const action of ['pause', 'resume'] as const) {
    app.post(`/queues/${action}`, async (c) => {
      const form = await formOf(c);
      const queue = field(form, 'queue').trim();
      let notice: string;
      if (!queue) notice = 'Name the queue.';
      else {
        try {
          if (action === 'pause') {
            await taskq.pauseQueue(queue);
            notice = `Paused queue ${queue}: its clusters claim nothing until it is resumed.`;
          } else {
            const was = await taskq.resumeQueue(queue);
            notice = was ? `Resumed queue ${queue}.` : `Queue ${queue} was not paused.`;
          }
          ctx.audit(c, `queue.${action}`, { queue });
        } catch (error) {
          notice = `Could not ${action} queue ${queue}: ${ctx.describe(error)}`;
        }
      }
      return back(c, ctx, form.back ?? ctx.url('clusters'), notice);
    });
  }
}

/** The queues the clusters serve, the default queue and the paused ones, with a Pause/Resume control each. */
export async function queueControls(ctx: DashboardContext, c: Ctx, served: string[]) {
  const { taskq } = ctx.options;
  const session = c.get('session');
  const paused = await taskq.pausedQueues().catch(() => []);
  const since = new Map(paused.map((p) => [p.queue, p.since]));
  const queues = [...new Set([taskq.config.cluster, ...served, ...since.keys()])].sort();
  const admin = session.role === 'admin';
  const control = (action: 'pause' | 'resume', queue: string) =>
    html`<form method="post" action="${ctx.url(`queues/${action}`)}" class="inline">
      ${csrfField(session)}
      <input type="hidden" name="queue" value="${queue}" />
      <input type="hidden" name="back" value="${ctx.url('clusters')}" />
      <button type="submit" data-testid="${action}-queue-${queue}">${action === 'pause' ? 'Pause' : 'Resume'}</button>
    </form>`;
  return html`<h2>Queues</h2>
    <table class="list" data-testid="queue-table">
      <thead>
        <tr>
          <th>Queue</th>
          <th>State</th>
          ${admin ? html`<th></th>` : ''}
        </tr>
      </thead>
      <tbody>
        ${queues.map((queue) => {
          const at = since.get(queue);
          return html`<tr data-queue="${queue}">
            <td>${queue}</td>
            <td>
              ${
                at
                  ? html`<span class="badge state-paused">Paused</span> since ${formatTime(at)} UTC`
                  : html`<span class="badge ok">Active</span>`
              }
            </td>
            ${admin ? html`<td>${control(at ? 'resume' : 'pause', queue)}</td>` : ''}
          </tr>`;
        })}
      </tbody>
    </table>
    ${
      admin
        ? html`<form method="post" action="${ctx.url('queues/pause')}" class="filters">
            ${csrfField(session)}
            <input type="hidden" name="back" value="${ctx.url('clusters')}" />
            <input name="queue" placeholder="queue name" aria-label="queue to pause" required />
            <button type="submit">Pause queue</button>
          </form>`
        : ''
    }`;
}
