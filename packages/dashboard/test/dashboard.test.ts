import { afterEach, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { Taskq, type ClusterHandle } from '@taskq/core';
import { createDashboard, hashPassword, serveDashboard, type DashboardOptions } from '../src/index.js';
import { HttpClient, memoryClient, memoryLogger, record } from './support/browserless.js';

const ADMIN = { username: 'admin', password: 'correct horse battery' };
const VIEWER = { username: 'viewer', password: 'read only please', role: 'viewer' as const };

const open: Taskq[] = [];
const clusters: ClusterHandle[] = [];
afterEach(async () => {
  for (const cluster of clusters.splice(0)) await cluster.stop({ deadlineMs: 2000 });
  for (const q of open.splice(0)) await q.close();
});

const TASKS = fileURLToPath(new URL('./support/e2e-tasks.mjs', import.meta.url));

/** A cluster in this process on the dashboard client's memory queue and store (same name). */
async function startCluster(taskq: Taskq): Promise<ClusterHandle> {
  const worker = new Taskq({
    name: taskq.config.name,
    broker: 'memory:',
    store: 'memory:',
    secretKey: 'dashboard-test-secret',
    tasks: [TASKS],
    workers: 1,
    guardCycle: 0.1,
    logLevel: 'silent',
  });
  open.push(worker);
  const cluster = await worker.cluster({ handleSignals: false }).start();
  clusters.unshift(cluster);
  return cluster;
}

async function eventually<T>(check: () => Promise<T>, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const dead = (overrides: Parameters<typeof record>[0] = {}) =>
  record({ success: false, result: null, error: { name: 'Error', message: 'gave up' }, ...overrides });

function setup(options: Partial<DashboardOptions> = {}) {
  const taskq = memoryClient();
  open.push(taskq);
  const audit = memoryLogger();
  const dashboard = createDashboard({
    taskq,
    basePath: '/taskq',
    users: [ADMIN, VIEWER],
    auditLogger: audit,
    ...options,
  });
  const client = new HttpClient('http://dash.test', (r) => dashboard.fetch(r));
  return { taskq, dashboard, client, audit };
}

async function loggedIn(user = ADMIN, options: Partial<DashboardOptions> = {}) {
  const s = setup(options);
  const response = await s.client.login('/taskq', user.username, user.password);
  expect(response.status).toBe(303);
  const page = await (await s.client.get('/taskq/clusters')).text();
  return { ...s, csrf: HttpClient.csrfOf(page) };
}

describe('configuration', () => {
  it('refuses to start without users (TASKQ_CONFIG_INVALID) and takes them from the environment', () => {
    const taskq = memoryClient();
    open.push(taskq);
    const saved = { ...process.env };
    try {
      delete process.env.TASKQ_DASHBOARD_USER;
      delete process.env.TASKQ_DASHBOARD_PASSWORD;
      expect(() => createDashboard({ taskq })).toThrow(expect.objectContaining({ code: 'TASKQ_CONFIG_INVALID' }));
      process.env.TASKQ_DASHBOARD_USER = 'env-admin';
      process.env.TASKQ_DASHBOARD_PASSWORD = 'from-the-environment';
      expect(createDashboard({ taskq }).basePath).toBe('');
    } finally {
      process.env = saved;
    }
  });

  it('refuses users: false unless bound to loopback', async () => {
    const taskq = memoryClient();
    open.push(taskq);
    await expect(serveDashboard({ taskq, users: false, host: '0.0.0.0', port: 0 })).rejects.toMatchObject({
      code: 'TASKQ_CONFIG_INVALID',
    });
    const running = await serveDashboard({ taskq, users: false, host: '127.0.0.1', port: 0 });
    try {
      const response = await fetch(`${running.url}clusters`);
      expect(response.status).toBe(200);
    } finally {
      await running.close();
    }
  });
});

describe('authentication and sessions', () => {
  it('sends an anonymous visitor to the login page', async () => {
    const { client } = setup();
    const response = await client.get('/taskq/tasks');
    expect(response.status).toBe(303);
    expect(response.headers.get('Location')).toBe('/taskq/login');
  });

  it('rejects a wrong password and logs in with the right one; the cookie is HttpOnly, SameSite=Strict', async () => {
    const { client } = setup();
    const wrong = await client.login('/taskq', 'admin', 'wrong password!');
    expect(wrong.headers.get('Location')).toBe('/taskq/login?failed=1');
    expect((await client.get('/taskq/tasks')).status).toBe(303);
    const form = await (await client.get('/taskq/login')).text();
    const ok = await client.post('/taskq/login', { ...ADMIN, _csrf: HttpClient.csrfOf(form) });
    expect(ok.status).toBe(303);
    const cookie = ok.headers.getSetCookie().find((c) => c.startsWith('taskq_session='));
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).toMatch(/Path=\/taskq/);
    expect((await client.get('/taskq/tasks')).status).toBe(200);
  });

  it('sets Secure on the cookie over HTTPS', async () => {
    const s = setup();
    const https = new HttpClient('https://dash.test', (r) => s.dashboard.fetch(r));
    const response = await https.login('/taskq', ADMIN.username, ADMIN.password);
    expect(response.headers.getSetCookie().find((c) => c.startsWith('taskq_session='))).toMatch(/Secure/);
  });

  it('accepts scrypt-hashed passwords', async () => {
    const s = setup({ users: [{ username: 'hashed', password: hashPassword('a long secret phrase') }] });
    expect((await s.client.login('/taskq', 'hashed', 'a long secret phrase')).headers.get('Location')).toBe('/taskq/');
  });

  it('rate-limits failed logins per address and user name', async () => {
    const { client } = setup({ maxLoginFailures: 3 });
    for (let i = 0; i < 3; i++) await client.login('/taskq', 'admin', `wrong-${i}-password`);
    const blocked = await client.login('/taskq', ADMIN.username, ADMIN.password);
    expect(blocked.headers.get('Location')).toBe('/taskq/login?failed=limit');
    expect(blocked.headers.get('Retry-After')).toMatch(/^\d+$/);
    expect((await client.get('/taskq/login?failed=limit')).status).toBe(429);
  });

  it('rejects a login form posted without its token (login CSRF)', async () => {
    const { client } = setup();
    await client.get('/taskq/login');
    expect((await client.post('/taskq/login', { ...ADMIN, _csrf: 'forged' })).status).toBe(403);
  });

  it('logs out', async () => {
    const { client, csrf } = await loggedIn();
    expect((await client.post('/taskq/logout', { _csrf: csrf })).status).toBe(303);
    expect((await client.get('/taskq/tasks')).status).toBe(303);
  });
});

describe('CSRF, roles and audit', () => {
  it('rejects a state change without the CSRF token, or from another origin', async () => {
    const { client, csrf, taskq } = await loggedIn();
    const failed = record({ success: false, result: null, error: { name: 'Error', message: 'x' } });
    await (await taskq.runtime()).store.saveMany([failed]);
    expect((await client.post('/taskq/tasks/delete', { ids: failed.id })).status).toBe(403);
    expect((await client.post('/taskq/tasks/delete', { ids: failed.id, _csrf: 'wrong' })).status).toBe(403);
    const crossSite = await client.post(
      '/taskq/tasks/delete',
      { ids: failed.id, _csrf: csrf },
      { Origin: 'https://evil.test' },
    );
    expect(crossSite.status).toBe(403);
    expect(await (await taskq.runtime()).store.get(failed.id)).not.toBeNull();
    // htmx sends the token as a header
    const viaHeader = await client.post('/taskq/tasks/delete', { ids: failed.id }, { 'X-CSRF-Token': csrf });
    expect(viaHeader.status).toBe(303);
    expect(await (await taskq.runtime()).store.get(failed.id)).toBeNull();
  });

  it('gives the viewer role read access and no changes', async () => {
    const { client, csrf, taskq } = await loggedIn(VIEWER);
    const failed = record({ success: false, result: null, error: { name: 'Error', message: 'x' } });
    await (await taskq.runtime()).store.saveMany([failed]);
    const page = await (await client.get('/taskq/tasks?state=failure')).text();
    expect(page).toContain(failed.name);
    expect(page).not.toContain('Resubmit selected');
    expect((await client.post('/taskq/tasks/delete', { ids: failed.id, _csrf: csrf })).status).toBe(403);
    expect((await client.post('/taskq/schedules', { func: 'add', type: 'Once', _csrf: csrf })).status).toBe(403);
  });

  it('resubmits and deletes failures and writes an audit line for each', async () => {
    const { client, csrf, taskq, audit } = await loggedIn();
    const store = (await taskq.runtime()).store;
    const failures = [1, 2, 3].map((i) =>
      record({
        func: 'flaky',
        args: `[${i}]`,
        group: 'g1',
        success: false,
        result: null,
        error: { name: 'Error', message: 'no' },
      }),
    );
    await store.saveMany(failures);
    const response = await client.post('/taskq/tasks/resubmit', {
      ids: [failures[0]!.id, failures[1]!.id],
      _csrf: csrf,
      back: '/taskq/tasks?state=failure',
    });
    expect(response.status).toBe(303);
    expect(response.headers.get('Location')).toContain('/taskq/tasks?state=failure&notice=Resubmitted+2+tasks.');
    // the new tasks keep the failed ones' cluster (queue) and group
    const queue = await (await taskq.runtime()).brokerFor('test');
    expect(await queue.queueSize()).toBe(2);
    expect(await store.get(failures[0]!.id)).toBeNull();
    await client.post('/taskq/tasks/delete', { ids: failures[2]!.id, _csrf: csrf });
    expect(await store.get(failures[2]!.id)).toBeNull();
    const actions = audit.lines
      .filter((l) => l.message === 'dashboard audit')
      .map((l) => [l.fields?.action, l.fields?.user, l.fields?.task]);
    expect(actions).toEqual([
      ['resubmit', 'admin', failures[0]!.id],
      ['resubmit', 'admin', failures[1]!.id],
      ['delete', 'admin', failures[2]!.id],
    ]);
  });

  it('never sends a redirect outside the dashboard', async () => {
    const { client, csrf } = await loggedIn();
    const response = await client.post('/taskq/tasks/delete', { ids: 'x', _csrf: csrf, back: 'https://evil.test/' });
    expect(response.headers.get('Location')).toMatch(/^\/taskq\/tasks\?/);
  });
});

describe('pages', () => {
  it('escapes task data: a <script> in args renders as text', async () => {
    const { client, taskq } = await loggedIn();
    const evil = record({ name: '<img src=x onerror=alert(1)>', args: '["<script>alert(1)</script>"]' });
    await (await taskq.runtime()).store.saveMany([evil]);
    const list = await (await client.get('/taskq/tasks')).text();
    expect(list).not.toContain('<img src=x');
    expect(list).toContain('&lt;img src=x onerror=alert(1)&gt;');
    const detail = await (await client.get(`/taskq/tasks/${evil.id}`)).text();
    expect(detail).not.toContain('<script>alert(1)</script>');
    expect(detail).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });

  it('sends a strict CSP and no-store', async () => {
    const { client } = await loggedIn();
    const response = await client.get('/taskq/tasks');
    expect(response.headers.get('Content-Security-Policy')).toContain("script-src 'self'");
    expect(response.headers.get('X-Frame-Options')).toBe('DENY');
    expect(response.headers.get('Cache-Control')).toBe('no-store');
  });

  it('filters and searches the task list and pages with a cursor', async () => {
    const { client, taskq } = await loggedIn();
    const t0 = Date.now() - 100_000;
    const records = Array.from({ length: 60 }, (_, i) =>
      record({ func: i % 2 ? 'odd' : 'even', args: `[{"order":"ORD-${i}"}]`, stoppedAt: new Date(t0 + i * 1000) }),
    );
    await (await taskq.runtime()).store.saveMany(records);
    const found = await (await client.get('/taskq/tasks?q=ORD-17')).text();
    expect(found).toContain(records[17]!.id);
    expect(found).not.toContain(records[16]!.id);
    const odd = await (await client.get('/taskq/tasks?func=odd')).text();
    expect(odd).toContain(records[59]!.id);
    expect(odd).not.toContain(records[58]!.id);
    const first = await (await client.get('/taskq/tasks')).text();
    const next = /href="([^"]+)" data-testid="next-page"/.exec(first)?.[1];
    expect(next).toBeDefined();
    const second = await (await client.get(next!.replaceAll('&amp;', '&'))).text();
    expect(second).toContain(records[0]!.id);
    expect(second).not.toContain(records[59]!.id);
    const bad = await client.get('/taskq/tasks?since=yesterday');
    expect(bad.status).toBe(400);
  });

  it('shows a task with its error, stack and code', async () => {
    const { client, taskq } = await loggedIn();
    const failed = record({
      success: false,
      result: null,
      hook: 'hooks.notify',
      group: 'nightly',
      error: {
        name: 'TypeError',
        message: 'x is undefined',
        stack: 'TypeError: x is undefined\n    at task (tasks.js:3)',
        code: 'TASKQ_TASK_FAILED',
      },
    });
    await (await taskq.runtime()).store.saveMany([failed]);
    const page = await (await client.get(`/taskq/tasks/${failed.id}`)).text();
    for (const text of ['x is undefined', 'at task (tasks.js:3)', 'TASKQ_TASK_FAILED', 'hooks.notify', 'nightly']) {
      expect(page).toContain(text);
    }
  });

  it('previews the next five runs of a cron schedule in its time zone', async () => {
    const { client } = await loggedIn();
    const page = await (
      await client.get(
        '/taskq/schedules/preview?type=Cron&cron=0+9+*+*+1-5&timezone=America/New_York&nextRun=2026-03-06T00:00',
      )
    ).text();
    const times = [...page.matchAll(/<li>([^<]+) <span/g)].map((m) => m[1]);
    // Friday 6 March, then Monday 9 (after the US switch to daylight time: still 09:00 local)
    expect(times).toEqual([
      '2026-03-06 09:00:00',
      '2026-03-09 09:00:00',
      '2026-03-10 09:00:00',
      '2026-03-11 09:00:00',
      '2026-03-12 09:00:00',
    ]);
    const minutes = await (
      await client.get('/taskq/schedules/preview?type=Minutes&minutes=15&nextRun=2026-01-01T10:00&timezone=UTC')
    ).text();
    expect(minutes).toContain('2026-01-01 11:00:00');
    const broken = await (await client.get('/taskq/schedules/preview?type=Cron&cron=nope')).text();
    expect(broken).toContain('class="error"');
  });

  it('creates, pauses, resumes, runs and deletes a schedule', async () => {
    const { client, csrf, taskq, audit } = await loggedIn();
    const created = await client.post('/taskq/schedules', {
      _csrf: csrf,
      name: 'nightly-report',
      func: 'report',
      args: '[1, "x"]',
      type: 'Cron',
      cron: '0 3 * * *',
      repeats: '-1',
      timezone: 'Europe/Berlin',
    });
    expect(created.status).toBe(303);
    const schedule = await taskq.schedules.get('nightly-report');
    expect(schedule).toMatchObject({ type: 'Cron', cron: '0 3 * * *', timezone: 'Europe/Berlin' });
    await client.post(`/taskq/schedules/${schedule!.id}/pause`, { _csrf: csrf });
    expect((await taskq.schedules.get(schedule!.id))?.paused).toBe(true);
    await client.post(`/taskq/schedules/${schedule!.id}/resume`, { _csrf: csrf });
    expect((await taskq.schedules.get(schedule!.id))?.paused).toBe(false);
    const edit = await client.post(`/taskq/schedules/${schedule!.id}`, {
      _csrf: csrf,
      name: 'nightly-report',
      func: 'report',
      args: '[2]',
      type: 'Minutes',
      minutes: '30',
      repeats: '-1',
      timezone: 'Europe/Berlin',
    });
    expect(edit.status).toBe(303);
    expect(await taskq.schedules.get(schedule!.id)).toMatchObject({ type: 'Minutes', minutes: 30 });
    await client.post(`/taskq/schedules/${schedule!.id}/run`, { _csrf: csrf });
    expect(await (await taskq.runtime()).broker.queueSize()).toBe(1);
    const invalid = await client.post('/taskq/schedules', { _csrf: csrf, func: 'x', type: 'Cron', cron: 'not a cron' });
    expect(invalid.status).toBe(422);
    expect(await invalid.text()).toContain('class="error"');
    await client.post(`/taskq/schedules/${schedule!.id}/delete`, { _csrf: csrf });
    expect(await taskq.schedules.get(schedule!.id)).toBeNull();
    expect(audit.lines.map((l) => l.fields?.action)).toEqual([
      'schedule.create',
      'schedule.pause',
      'schedule.resume',
      'schedule.edit',
      'schedule.run',
      'schedule.delete',
    ]);
  });

  it('serves its assets from the package', async () => {
    const { client } = await loggedIn();
    for (const name of ['htmx.min.js', 'uPlot.iife.min.js', 'uPlot.min.css', 'app.css', 'app.js']) {
      const response = await client.get(`/taskq/assets/${name}`);
      expect(response.status).toBe(200);
      expect((await response.arrayBuffer()).byteLength).toBeGreaterThan(100);
    }
  });

  it('returns throughput buckets for the charts', async () => {
    const { client, taskq } = await loggedIn();
    await (
      await taskq.runtime()
    ).store.saveMany([record(), record({ success: false, result: null, error: { name: 'E', message: 'm' } })]);
    const data = (await (await client.get('/taskq/api/throughput?range=1h')).json()) as {
      success: number[];
      failure: number[];
    };
    expect(data.success.reduce((a, b) => a + b, 0)).toBe(1);
    expect(data.failure.reduce((a, b) => a + b, 0)).toBe(1);
  });

  it('lists queued tasks on a broker that can list them', async () => {
    const { client, taskq } = await loggedIn();
    await taskq.enqueue('add', [40, 2], { group: 'queued-group' });
    const page = await (await client.get('/taskq/queued')).text();
    expect(page).toContain('queued-group');
  });
});

describe('job control', () => {
  it('shows the progress bar, log lines and redrive link of a finished task; other progress as JSON', async () => {
    const { client, taskq } = await loggedIn();
    const t = Date.UTC(2026, 10, 29, 18, 4, 5, 120);
    const original = dead();
    const finished = record({
      meta: {
        progress: 0.75,
        logs: [
          { at: t, level: 'info', message: 'fetched <b>rows</b>', fields: { rows: 42 } },
          { at: t + 1000, level: 'warn', message: 'slow page' },
        ],
        droppedLogs: 3,
        redrivenFrom: original.id,
      },
    });
    const staged = record({ meta: { progress: { stage: 'upload', files: 2 } } });
    const plain = record();
    await (await taskq.runtime()).store.saveMany([original, finished, staged, plain]);
    const page = await (await client.get(`/taskq/tasks/${finished.id}`)).text();
    expect(page).toContain('<progress max="100" value="75"');
    expect(page).toContain('75%');
    expect(page).toContain('2026-11-29 18:04:05.120');
    expect(page).toContain('fetched &lt;b&gt;rows&lt;/b&gt;');
    expect(page).toContain('{&quot;rows&quot;:42}');
    expect(page).toContain('slow page');
    expect(page).toContain('3 older log lines were dropped');
    expect(page).toMatch(new RegExp(`href="/taskq/tasks/${original.id}"\\s+data-testid="redriven-from"`));
    const json = await (await client.get(`/taskq/tasks/${staged.id}`)).text();
    expect(json).not.toContain('<progress');
    expect(json).toContain('&quot;stage&quot;: &quot;upload&quot;');
    expect(await (await client.get(`/taskq/tasks/${plain.id}`)).text()).toContain('reported no progress');
    // percentages up to 100 too
    const percent = record({ meta: { progress: 40 } });
    await (await taskq.runtime()).store.saveMany([percent]);
    expect(await (await client.get(`/taskq/tasks/${percent.id}`)).text()).toContain('value="40"');
  });

  it('lists dead letters by func, error code and date, pages them, and redrives one, selected ones or all matching', async () => {
    const { client, csrf, taskq, audit } = await loggedIn();
    const store = (await taskq.runtime()).store;
    const t0 = Date.UTC(2026, 10, 1, 12);
    const timeouts = Array.from({ length: 120 }, (_, i) =>
      dead({
        func: 'fetch',
        error: { name: 'TaskqError', message: 'too slow', code: 'TASKQ_TASK_TIMEOUT' },
        stoppedAt: new Date(t0 + i * 60_000),
      }),
    );
    // no queue of its own: redriven onto the default queue
    const other = dead({
      cluster: null,
      func: 'report',
      error: { name: 'Error', message: 'bad', code: 'E_BAD' },
      stoppedAt: new Date(t0),
    });
    const retrying = dead({ func: 'fetch', error: { name: 'Error', message: 'again', maxAttempts: 5 } });
    const cancelled = dead({
      func: 'fetch',
      error: { name: 'TaskqError', message: 'c', code: 'TASKQ_TASK_CANCELLED' },
    });
    await store.saveMany([...timeouts, other, retrying, cancelled, record({ func: 'fetch' })]);

    const byCode = await (await client.get('/taskq/dead-letters?code=TASKQ_TASK_TIMEOUT')).text();
    expect(byCode).toContain(timeouts[119]!.id);
    expect(byCode).not.toContain(other.id);
    expect(byCode).not.toContain(retrying.id);
    expect(byCode).not.toContain(cancelled.id);
    expect(byCode).not.toContain(timeouts[0]!.id);
    const next = /href="([^"]+)"\s+data-testid="next-page"/.exec(byCode)?.[1];
    expect(next).toBeDefined();
    const older = await (await client.get(next!.replaceAll('&amp;', '&'))).text();
    expect(older).toContain(timeouts[0]!.id);
    expect(older).not.toContain(timeouts[119]!.id);
    const byFunc = await (await client.get('/taskq/dead-letters?func=report')).text();
    expect(byFunc).toContain(other.id);
    expect(byFunc).not.toContain(timeouts[3]!.id);
    const window = await (await client.get('/taskq/dead-letters?since=2026-11-01T12:10&until=2026-11-01T12:12')).text();
    expect(window).toContain(timeouts[10]!.id);
    expect(window).toContain(timeouts[11]!.id);
    expect(window).not.toContain(timeouts[12]!.id);
    expect(window).not.toContain(timeouts[9]!.id);
    expect((await client.get('/taskq/dead-letters?since=soon')).status).toBe(400);

    // one, from its task page: on to the new task, which links back
    const fromPage = await (await client.get(`/taskq/tasks/${other.id}`)).text();
    const action = /formaction="([^"]+)"\s+data-testid="redrive"/.exec(fromPage)?.[1];
    expect(action).toBe('/taskq/dead-letters/redrive?open=1');
    const one = await client.post(action!, { ids: other.id, _csrf: csrf });
    const location = one.headers.get('Location')!;
    expect(location).toMatch(/^\/taskq\/tasks\/[0-9a-f]{32}\?notice=Redrove\+1\+dead\+letter/);
    const newTask = await (await client.get(location)).text();
    expect(newTask).toContain('Waiting on the queue');
    expect(newTask).toMatch(new RegExp(`href="/taskq/tasks/${other.id}"\\s+data-testid="redriven-from"`));
    expect(await (await client.get('/taskq/queued')).text()).toMatch(
      new RegExp(`redriven from\\s+<a class="mono" href="/taskq/tasks/${other.id}"`),
    );
    expect(await (await client.get('/taskq/dead-letters?func=report')).text()).not.toContain(other.id);

    // selected
    const selected = await client.post('/taskq/dead-letters/redrive', {
      ids: [timeouts[0]!.id, timeouts[1]!.id],
      _csrf: csrf,
      back: '/taskq/dead-letters?code=TASKQ_TASK_TIMEOUT',
    });
    expect(selected.headers.get('Location')).toContain(
      '/taskq/dead-letters?code=TASKQ_TASK_TIMEOUT&notice=Redrove+2+dead+letters.',
    );
    // all matching the filter (the 1-minute window holds 10 and 11)
    const all = await client.post('/taskq/dead-letters/redrive', {
      scope: 'all',
      code: 'TASKQ_TASK_TIMEOUT',
      since: '2026-11-01T12:10',
      until: '2026-11-01T12:12',
      _csrf: csrf,
      back: '/taskq/dead-letters',
    });
    expect(all.headers.get('Location')).toContain('notice=Redrove+2+dead+letters.');
    expect(await taskq.queueSize()).toBe(1);
    // the others keep the queue they failed on
    expect(await (await (await taskq.runtime()).brokerFor('test')).queueSize()).toBe(4);
    const redriven = audit.lines.filter((l) => l.fields?.action === 'redrive');
    expect(redriven.map((l) => l.fields?.task)).toEqual([
      other.id,
      timeouts[0]!.id,
      timeouts[1]!.id,
      expect.any(String),
      expect.any(String),
    ]);
    expect(
      redriven
        .slice(3)
        .map((l) => l.fields?.task)
        .sort(),
    ).toEqual([timeouts[10]!.id, timeouts[11]!.id].sort());
    // the redriven ones left the list
    expect((await taskq.deadLetters({ code: 'TASKQ_TASK_TIMEOUT', limit: 1000 })).records).toHaveLength(116);
  });

  it('pauses and resumes a queue; a cancelled queued task is saved as cancelled once a cluster runs', async () => {
    const { client, csrf, taskq, audit } = await loggedIn();
    const queue = taskq.config.cluster;
    await startCluster(taskq);
    const paused = await client.post('/taskq/queues/pause', { queue, _csrf: csrf, back: '/taskq/clusters' });
    expect(paused.headers.get('Location')).toContain('notice=Paused+queue');
    expect((await taskq.pausedQueues()).map((p) => p.queue)).toEqual([queue]);
    const clusters = await (await client.get('/taskq/clusters')).text();
    expect(clusters).toContain(`data-testid="resume-queue-${queue}"`);
    // the cluster notices within a guard cycle and says so in its status
    await eventually(
      async () => (await (await client.get('/taskq/clusters/rows')).text()).includes('>Paused<'),
      'Paused',
    );

    const keep = await taskq.enqueue('add', [1, 2]);
    const drop = await taskq.enqueue('add', [3, 4]);
    const queued = await (await client.get('/taskq/queued')).text();
    expect(queued).toContain('data-testid="queue-paused"');
    expect(queued).toContain(`action="/taskq/tasks/${drop}/cancel"`);
    const waiting = await (await client.get(`/taskq/tasks/${drop}`)).text();
    expect(waiting).toContain('Waiting on the queue');
    expect(waiting).toContain('data-testid="cancel-task"');
    const cancel = await client.post(`/taskq/tasks/${drop}/cancel`, { _csrf: csrf, back: '/taskq/queued' });
    expect(cancel.headers.get('Location')).toMatch(/^\/taskq\/queued\?notice=Cancelled/);

    const resumed = await client.post('/taskq/queues/resume', { queue, _csrf: csrf });
    expect(resumed.headers.get('Location')).toContain('notice=Resumed+queue');
    expect(await taskq.pausedQueues()).toEqual([]);
    const kept = await taskq.fetch(keep, { wait: 15_000 });
    expect(kept?.success).toBe(true);
    const dropped = await eventually(() => taskq.fetch(drop), 'the cancelled record');
    expect(dropped).toMatchObject({ success: false, error: { code: 'TASKQ_TASK_CANCELLED' } });
    const page = await (await client.get(`/taskq/tasks/${drop}`)).text();
    expect(page).toContain('TASKQ_TASK_CANCELLED');
    // a finished task cannot be cancelled any more
    const late = await client.post(`/taskq/tasks/${keep}/cancel`, { _csrf: csrf, back: `/taskq/tasks/${keep}` });
    expect(late.headers.get('Location')).toContain('already+finished');
    expect(
      audit.lines
        .filter((l) => l.message === 'dashboard audit')
        .map((l) => [l.fields?.action, l.fields?.queue ?? l.fields?.task]),
    ).toEqual([
      ['queue.pause', queue],
      ['cancel', drop],
      ['queue.resume', queue],
    ]);
  });

  it('shows a running task live with its progress and logs, and cancels it', async () => {
    const { client, csrf, taskq } = await loggedIn();
    await startCluster(taskq);
    const id = await taskq.enqueue('reports', [3, 60_000]);
    const live = await eventually(async () => {
      const text = await (await client.get(`/taskq/tasks/${id}/live`)).text();
      return text.includes('value="50"') && text;
    }, 'live progress');
    expect(live).toContain('step 2');
    expect(live).toContain('{&quot;i&quot;:1}');
    const page = await (await client.get(`/taskq/tasks/${id}`)).text();
    expect(page).toContain(`hx-get="/taskq/tasks/${id}/live"`);
    expect(page).toContain('data-testid="cancel-task"');
    await client.post(`/taskq/tasks/${id}/cancel`, { _csrf: csrf, back: `/taskq/tasks/${id}` });
    const saved = await eventually(() => taskq.fetch(id), 'the cancelled record');
    expect(saved?.error?.code).toBe('TASKQ_TASK_CANCELLED');
    // once saved, the live fragment tells htmx to reload the page into the record (logs kept in meta)
    const after = await client.get(`/taskq/tasks/${id}/live`);
    expect(after.headers.get('HX-Refresh')).toBe('true');
    expect(await (await client.get(`/taskq/tasks/${id}`)).text()).toContain('step 2');
  });

  it('cancels a group from the groups page', async () => {
    const { client, csrf, taskq, audit } = await loggedIn();
    await (await taskq.runtime()).store.saveMany([record({ group: 'nightly' })]);
    const groups = await (await client.get('/taskq/groups')).text();
    expect(groups).toContain('data-testid="cancel-group-nightly"');
    const id = await taskq.enqueue('add', [1, 1], { group: 'nightly' });
    const response = await client.post('/taskq/groups/cancel', {
      group: 'nightly',
      _csrf: csrf,
      back: '/taskq/groups',
    });
    expect(response.headers.get('Location')).toContain('/taskq/groups?notice=Cancelled+group+nightly');
    await startCluster(taskq);
    const saved = await eventually(() => taskq.fetch(id), 'the cancelled member');
    expect(saved?.error?.code).toBe('TASKQ_TASK_CANCELLED');
    expect(audit.lines.find((l) => l.fields?.action === 'cancel-group')?.fields?.group).toBe('nightly');
  });

  it('gives the viewer role no redrive, cancel or pause (403), and no buttons for them', async () => {
    const { client, csrf, taskq } = await loggedIn(VIEWER);
    const letter = dead();
    await (await taskq.runtime()).store.saveMany([letter]);
    const id = await taskq.enqueue('add', [1, 2], { group: 'g' });
    const posts: [string, Record<string, string>][] = [
      ['/taskq/dead-letters/redrive', { ids: letter.id }],
      ['/taskq/dead-letters/redrive', { scope: 'all' }],
      [`/taskq/tasks/${id}/cancel`, {}],
      ['/taskq/groups/cancel', { group: 'g' }],
      ['/taskq/queues/pause', { queue: taskq.config.cluster }],
      ['/taskq/queues/resume', { queue: taskq.config.cluster }],
    ];
    for (const [path, fields] of posts) {
      const response = await client.post(path, { ...fields, _csrf: csrf });
      expect(response.status, path).toBe(403);
    }
    expect(await taskq.pausedQueues()).toEqual([]);
    expect((await taskq.deadLetters()).records.map((r) => r.id)).toEqual([letter.id]);
    expect(await taskq.queueSize()).toBe(1);
    const pages = await Promise.all(
      [
        '/taskq/dead-letters',
        '/taskq/queued',
        '/taskq/clusters',
        `/taskq/tasks/${id}`,
        `/taskq/tasks/${letter.id}`,
      ].map(async (p) => (await client.get(p)).text()),
    );
    for (const page of pages) {
      expect(page).not.toMatch(
        /Redrive selected|data-testid="cancel-|data-testid="(pause|resume)-queue|data-testid="redrive"/,
      );
    }
    expect(pages[0]).toContain(letter.id);
  });

  it('rejects these changes without the CSRF token', async () => {
    const { client, taskq } = await loggedIn();
    expect((await client.post('/taskq/queues/pause', { queue: taskq.config.cluster })).status).toBe(403);
    expect(await taskq.pausedQueues()).toEqual([]);
  });
});
