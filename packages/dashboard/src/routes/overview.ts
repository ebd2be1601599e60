import type { Hono } from 'hono';
import { html } from 'hono/html';
import type { ClusterStat, Runtime, TaskMessage } from '@taskq/core';
import type { Ctx, DashboardContext, Env } from '../context.js';
import { formatDuration, formatTime, shorten } from '../views/format.js';
import { csrfField } from '../views/layout.js';
import { queueControls } from './control.js';

/** Chart ranges: label → [range ms, bucket ms]. */
export const RANGES: Record<string, [number, number]> = {
  '1h': [3_600_000, 60_000],
  '6h': [6 * 3_600_000, 5 * 60_000],
  '24h': [24 * 3_600_000, 15 * 60_000],
  '7d': [7 * 24 * 3_600_000, 2 * 3_600_000],
  '30d': [30 * 24 * 3_600_000, 6 * 3_600_000],
};

async function clusterStats(runtime: Runtime): Promise<ClusterStat[]> {
  const stats = runtime.stats ? await runtime.stats.getStats() : await runtime.store.getStats();
  return [...stats].sort((a, b) => a.host.localeCompare(b.host) || a.clusterId.localeCompare(b.clusterId));
}

function clusterRows(stats: ClusterStat[], now = Date.now()) {
  if (stats.length === 0) {
    return html`<tr>
      <td colspan="12" class="empty">No clusters appear to be running.</td>
    </tr>`;
  }
  return stats.map(
    (s) =>
      html`<tr data-cluster-id="${s.clusterId}">
        <td>${s.host}</td>
        <td class="mono" title="${s.clusterId}">${s.clusterId.slice(-8)}</td>
        <td>${s.queue}</td>
        <td data-testid="cluster-status">
          <span class="badge state-${s.status.toLowerCase()}">${s.status}</span>
          ${s.paused ? html`<span class="badge state-paused">Paused</span>` : ''}
        </td>
        <td>${s.concurrency > 1 ? `${s.workers}x${s.concurrency}` : String(s.workers)}</td>
        <td>${s.taskQueueSize}</td>
        <td>${s.resultQueueSize}</td>
        <td>${s.reincarnations}</td>
        <td>${s.running}</td>
        <td>${s.processed} / ${s.failed}</td>
        <td>${formatDuration(now - s.startedAt)}</td>
        <td>${Math.round(s.memory.rssBytes / 1048576)} MB</td>
      </tr>`,
  );
}

export function registerOverviewRoutes(app: Hono<Env>, ctx: DashboardContext): void {
  app.get('/', (c) => c.redirect(ctx.url('clusters'), 303));

  app.get('/clusters', async (c) => {
    const runtime = await ctx.runtime();
    const stats = await clusterStats(runtime);
    const body = html`<p class="hint">
        The monitor's table: TQ tasks waiting for a worker, RQ results waiting to be saved, RC restarts. Refreshes every
        2 seconds.
      </p>
      <table class="list" data-testid="cluster-table">
        <thead>
          <tr>
            <th>Host</th>
            <th>Id</th>
            <th>Queue</th>
            <th>State</th>
            <th>Pool</th>
            <th>TQ</th>
            <th>RQ</th>
            <th>RC</th>
            <th>Running</th>
            <th>Done / failed</th>
            <th>Up</th>
            <th>RSS</th>
          </tr>
        </thead>
        <tbody
          hx-get="${ctx.url('clusters/rows')}"
          hx-trigger="every 2s"
          hx-swap="innerHTML"
          data-testid="cluster-rows"
        >
          ${clusterRows(stats)}
        </tbody>
      </table>
      ${await queueControls(
        ctx,
        c,
        stats.map((s) => s.queue),
      )}`;
    return ctx.page(c, { title: 'Clusters', active: 'clusters' }, body);
  });

  app.get('/clusters/rows', async (c) => {
    const stats = await clusterStats(await ctx.runtime());
    return c.html(html`${clusterRows(stats)}`);
  });

  app.get('/queued', async (c) => {
    const runtime = await ctx.runtime();
    const broker = runtime.broker;
    if (!broker.capabilities.listQueued) {
      return ctx.page(
        c,
        { title: 'Queued tasks', active: 'queued' },
        html`<p class="empty">This broker cannot list its messages; ${await broker.queueSize()} are queued.</p>`,
      );
    }
    const messages = await broker.listQueued({ limit: 200 });
    const session = c.get('session');
    const admin = session.role === 'admin';
    const paused = (await ctx.options.taskq.pausedQueues().catch(() => [])).some((p) => p.queue === broker.queue);
    const rows = messages.map((m) => {
      let task: TaskMessage | null;
      try {
        task = runtime.codec.unpack(m.payload);
      } catch {
        task = null;
      }
      return html`<tr data-task-id="${task?.id ?? ''}">
        <td class="mono">${task ? html`<a href="${ctx.url(`tasks/${task.id}`)}">${task.id}</a>` : m.id}</td>
        <td>
          ${task?.name ?? '(unreadable package)'}
          ${
            task?.redrivenFrom
              ? html`<br /><small
                    >redriven from
                    <a class="mono" href="${ctx.url(`tasks/${task.redrivenFrom}`)}">${task.redrivenFrom}</a></small
                  >`
              : ''
          }
        </td>
        <td>${task?.func ?? ''}</td>
        <td>${task?.group ?? ''}</td>
        <td class="mono">${shorten(task ? JSON.stringify(task.args) : '', 60)}</td>
        <td>${task ? formatTime(new Date(task.enqueuedAt)) : ''}</td>
        <td>
          ${m.lockedUntil ? `locked until ${formatTime(m.lockedUntil)}` : m.runAt ? `due ${formatTime(m.runAt)}` : 'ready'}
        </td>
        ${
          admin
            ? html`<td>
                ${
                  task
                    ? html`<form method="post" action="${ctx.url(`tasks/${task.id}/cancel`)}" class="inline">
                        ${csrfField(session)}
                        <input type="hidden" name="back" value="${ctx.url('queued')}" />
                        <button
                          type="submit"
                          class="danger"
                          data-confirm="Cancel this task? It will not run."
                          data-testid="cancel-${task.id}"
                        >
                          Cancel
                        </button>
                      </form>`
                    : ''
                }
              </td>`
            : ''
        }
      </tr>`;
    });
    const body = html`<p class="hint">
        The first 200 messages on queue ${broker.queue}.
        ${
          paused
            ? html`<span class="badge state-paused" data-testid="queue-paused">Paused</span> — resume it on the
                <a href="${ctx.url('clusters')}">clusters page</a>.`
            : ''
        }
      </p>
      <table class="list">
        <thead>
          <tr>
            <th>Task id</th>
            <th>Name</th>
            <th>Func</th>
            <th>Group</th>
            <th>Args</th>
            <th>Enqueued</th>
            <th>State</th>
            ${admin ? html`<th></th>` : ''}
          </tr>
        </thead>
        <tbody data-testid="queued-rows">
          ${rows}
        </tbody>
      </table>
      ${messages.length === 0 ? html`<p class="empty">Nothing is queued.</p>` : ''}`;
    return ctx.page(c, { title: 'Queued tasks', active: 'queued' }, body);
  });

  app.get('/groups', async (c) => {
    const runtime = await ctx.runtime();
    const page = await runtime.store.search({ limit: 1000 });
    const groups = new Map<string, { success: number; failure: number; last: Date }>();
    for (const r of page.records) {
      if (!r.group) continue;
      const g = groups.get(r.group) ?? { success: 0, failure: 0, last: r.stoppedAt };
      if (r.success) g.success++;
      else g.failure++;
      groups.set(r.group, g);
    }
    const session = c.get('session');
    const admin = session.role === 'admin';
    const cancelForm = (group: string | null) =>
      html`<form method="post" action="${ctx.url('groups/cancel')}" class="${group ? 'inline' : 'filters'}">
        ${csrfField(session)}
        <input type="hidden" name="back" value="${ctx.url('groups')}" />
        ${
          group
            ? html`<input type="hidden" name="group" value="${group}" />`
            : html`<input name="group" placeholder="group name" aria-label="group to cancel" required />`
        }
        <button
          type="submit"
          class="danger"
          data-confirm="Cancel every waiting and running task of this group?"
          data-testid="${group ? `cancel-group-${group}` : 'cancel-group'}"
        >
          ${group ? 'Cancel' : 'Cancel group'}
        </button>
      </form>`;
    const body = html`<p class="hint">Groups among the newest 1,000 tasks; filter the task list by any group name.</p>
      <form method="get" action="${ctx.url('tasks')}" class="filters">
        <input name="group" placeholder="group name" aria-label="group" required /><button>Show group</button>
      </form>
      ${admin ? cancelForm(null) : ''}
      <table class="list">
        <thead>
          <tr>
            <th>Group</th>
            <th>Successes</th>
            <th>Failures</th>
            <th>Last finished</th>
            ${admin ? html`<th></th>` : ''}
          </tr>
        </thead>
        <tbody>
          ${[...groups].map(
            ([name, g]) =>
              html`<tr>
                <td><a href="${ctx.url(`tasks?group=${encodeURIComponent(name)}`)}">${name}</a></td>
                <td>${g.success}</td>
                <td>
                  ${g.failure ? html`<a href="${ctx.url(`tasks?state=failure&group=${encodeURIComponent(name)}`)}">${g.failure}</a>` : 0}
                </td>
                <td>${formatTime(g.last)}</td>
                ${admin ? html`<td>${cancelForm(name)}</td>` : ''}
              </tr>`,
          )}
        </tbody>
      </table>`;
    return ctx.page(c, { title: 'Groups', active: 'groups' }, body);
  });

  app.get('/charts', async (c) => {
    const range = RANGES[c.req.query('range') ?? ''] ? c.req.query('range')! : '24h';
    const func = c.req.query('func') ?? '';
    const body = html`<form method="get" action="${ctx.url('charts')}" class="filters" data-testid="range-picker">
        <label
          >Range
          <select name="range">
            ${Object.keys(RANGES).map((r) => html`<option value="${r}" ${r === range ? 'selected' : ''}>last ${r}</option>`)}
          </select>
        </label>
        <input name="func" value="${func}" placeholder="func (all)" aria-label="func" />
        <button type="submit">Show</button>
      </form>
      <div
        class="chart"
        data-chart="throughput"
        data-src="${ctx.url(`api/throughput?range=${range}${func ? `&func=${encodeURIComponent(func)}` : ''}`)}"
      ></div>
      <div class="chart" data-chart="failure-rate"></div>`;
    return ctx.page(c, { title: 'Throughput and failures', active: 'charts' }, body);
  });

  app.get('/api/throughput', async (c) => throughputJson(c, ctx));
}

async function throughputJson(c: Ctx, ctx: DashboardContext): Promise<Response> {
  const [span, bucketMs] = RANGES[c.req.query('range') ?? ''] ?? RANGES['24h']!;
  const until = Math.ceil(Date.now() / bucketMs) * bucketMs;
  const runtime = await ctx.runtime();
  const func = c.req.query('func');
  const buckets = await runtime.store.throughput({
    since: new Date(until - span),
    until: new Date(until),
    bucketMs,
    ...(func ? { func } : {}),
  });
  return c.json({
    bucketMs,
    at: buckets.map((b) => b.at.getTime() / 1000),
    success: buckets.map((b) => b.success),
    failure: buckets.map((b) => b.failure),
  });
}
