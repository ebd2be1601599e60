import type { Hono } from 'hono';
import { html } from 'hono/html';
import type { SearchQuery, TaskRecord } from '@taskq/core';
import { formOf, type DashboardContext, type Env, type Ctx } from '../context.js';
import { csrfField } from '../views/layout.js';
import { formatDuration, formatTime, prettyJson, shorten, stateBadge } from '../views/format.js';

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
function parseTime(value: string | undefined, field: string): Date | undefined {
  if (!value) return undefined;
  const date = new Date(/[zZ]|[+-]\d\d:\d\d$/.test(value) ? value : `${value}Z`);
  if (Number.isNaN(date.getTime())) throw new FilterError(`"${field}" is not a date: use YYYY-MM-DDTHH:MM.`);
  return date;
}

class FilterError extends Error {}

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

function queryString(filters: Filters, extra: Record<string, string> = {}): string {
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
              ${canChange ? html`<th><input type="checkbox" data-select-all aria-label="select all" /></th>` : ''}
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
                  ${
                    canChange
                      ? html`<td>
                          <input type="checkbox" name="ids" value="${r.id}" aria-label="select ${r.name}" />
                        </td>`
                      : ''
                  }
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
    const record = await runtime.store.get(c.req.param('id'));
    if (!record) return ctx.page(c, { title: 'Task not found', error: 'No task has that id or name.' }, html``, 404);
    return ctx.page(c, { title: `Task ${record.name}` }, taskDetail(ctx, c, record));
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

function list(value: unknown): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).filter((v): v is string => typeof v === 'string' && v !== '');
}

/** Back to the page the form came from, only within the dashboard. */
function back(c: Ctx, ctx: DashboardContext, target: unknown, notice: string): Response {
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
