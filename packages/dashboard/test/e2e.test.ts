/**
 * The dashboard in a real browser: Debian's Chromium driven by playwright-core,
 * two real cluster processes on Redis (127.0.0.1:6379), the standalone server.
 * Screenshots of each page go to integration-tests/screenshots/ (the README shows them).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { Redis } from 'ioredis';
import { Taskq } from '@taskq/core';
import { serveDashboard, type RunningDashboard } from '../src/index.js';

const CHROMIUM = '/usr/bin/chromium';
const LAUNCH_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];
const SCREENSHOTS = fileURLToPath(new URL('../../../integration-tests/screenshots/', import.meta.url));
const CLUSTER = fileURLToPath(new URL('./support/e2e-cluster.mjs', import.meta.url));
const REDIS = process.env.TASKQ_REDIS_URL ?? 'redis://127.0.0.1:6379';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium && process.env.CI === 'true') {
  throw new Error(`${CHROMIUM} is missing: .ci/run installs it with \`apt-get install -y chromium\`.`);
}

/** Each step drives a browser on a shared 2-core machine: generous, since no timing is asserted. */
const STEP_TIMEOUT = 120_000;
const ADMIN = { username: 'admin', password: 'e2e-admin-password' };
const prefix = `dash-e2e-${randomUUID().slice(0, 8)}`;
const url = `${REDIS}?prefix=${prefix}`;
const name = 'dashe2e';
const secret = 'dashboard-e2e-secret';
const markers = mkdtempSync(join(tmpdir(), 'taskq-dash-e2e-'));

let browser: Browser;
let page: Page;
let server: RunningDashboard;
let taskq: Taskq;
const children: ChildProcess[] = [];

function startCluster(): Promise<ChildProcess> {
  const child = spawn(process.execPath, [CLUSTER], {
    env: { ...process.env, TASKQ_URL: url, TASKQ_SECRET: secret, TASKQ_NAME: name },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('a cluster process did not start within 30 s')), 30_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('ready')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`a cluster process exited (${code}) before it was ready`));
    });
  });
}

async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function shot(file: string): Promise<void> {
  await page.screenshot({ path: join(SCREENSHOTS, `${file}.png`), fullPage: true });
}

async function storeCount(query: Parameters<Awaited<ReturnType<Taskq['runtime']>>['store']['search']>[0]) {
  const { store } = await taskq.runtime();
  return (await store.search({ ...query, limit: 1000 })).records.length;
}

describe.skipIf(!hasChromium)(
  'dashboard in Chromium (skipped only outside CI when /usr/bin/chromium is missing)',
  () => {
    beforeAll(async () => {
      mkdirSync(SCREENSHOTS, { recursive: true });
      await Promise.all([startCluster(), startCluster()]);
      taskq = new Taskq({ name, secretKey: secret, broker: url, store: url, logLevel: 'warn' });
      server = await serveDashboard({
        taskq,
        port: 0,
        users: [ADMIN, { username: 'viewer', password: 'e2e-viewer-pass', role: 'viewer' }],
      });
      browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS });
      page = await browser.newPage({ viewport: { width: 1360, height: 860 } });
    }, 60_000);

    afterAll(async () => {
      await browser?.close();
      await server?.close();
      await Promise.all(
        children.map(
          (child) =>
            new Promise<void>((resolve) => {
              if (child.exitCode !== null || child.signalCode !== null) return resolve();
              child.once('exit', () => resolve());
              child.kill('SIGTERM');
            }),
        ),
      );
      await taskq?.close();
      const redis = new Redis(REDIS);
      const keys = await redis.keys(`{${prefix}:*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    }, 60_000);

    it(
      'rejects a wrong password',
      async () => {
        await page.goto(`${server.url}tasks`);
        expect(new URL(page.url()).pathname).toBe('/login');
        await shot('login');
        await page.fill('input[name=username]', ADMIN.username);
        await page.fill('input[name=password]', 'not-the-password');
        await page.click('button[type=submit]');
        await expect.poll(() => page.textContent('[role=alert]')).toContain('Wrong user name or password');
      },
      STEP_TIMEOUT,
    );

    it(
      'logs in and sees two running clusters, live',
      async () => {
        await page.fill('input[name=username]', ADMIN.username);
        await page.fill('input[name=password]', ADMIN.password);
        await page.click('button[type=submit]');
        await page.waitForURL(/\/clusters$/);
        expect(await page.textContent('[data-testid=user]')).toBe('admin');
        // the rows refresh by htmx without a reload: wait for both heartbeats
        await page.waitForFunction(
          () => document.querySelectorAll('[data-testid=cluster-rows] tr[data-cluster-id]').length === 2,
          null,
          {
            timeout: 30_000,
          },
        );
        await shot('clusters');
      },
      STEP_TIMEOUT,
    );

    it(
      'fails a task, finds it by a value inside its args, resubmits it from the page and sees it succeed',
      async () => {
        const marker = join(markers, 'single');
        const token = `needle-${randomUUID().slice(0, 6)}`;
        await taskq.enqueue('flaky', [marker, { order: token }]);
        await eventually(
          async () => (await storeCount({ func: 'flaky', state: 'failure', text: token })) === 1,
          'the failure',
        );
        await page.goto(`${server.url}tasks?state=failure`);
        await page.fill('input[name=q]', token);
        await page.click('[data-testid=filters] button[type=submit]');
        const rows = page.locator('[data-testid=task-table] tbody tr');
        await expect.poll(() => rows.count()).toBe(1);
        await shot('failed-search');
        await rows.first().locator('a').first().click();
        await page.waitForSelector('[data-testid=task-detail]');
        expect(await page.textContent('[data-testid=task-error]')).toContain('is missing');
        await shot('task-failed-detail');
        writeFileSync(marker, 'fixed');
        await page.click('[data-testid=resubmit]');
        await page.waitForSelector('.notice');
        expect(await page.textContent('.notice')).toContain('Resubmitted 1 task');
        // watch it succeed: reload the successful list filtered by the same value
        await expect
          .poll(
            async () => {
              await page.goto(`${server.url}tasks?state=success&q=${token}`);
              return page.locator('[data-testid=task-table] tbody tr').count();
            },
            { timeout: 30_000, interval: 500 },
          )
          .toBe(1);
        await shot('succeeded-search');
      },
      STEP_TIMEOUT,
    );

    it(
      'bulk-resubmits 50 failures',
      async () => {
        const marker = join(markers, 'bulk');
        await taskq.enqueueMany(
          Array.from({ length: 50 }, (_, i) => ({
            task: 'flaky',
            args: [marker, { bulk: i }],
            options: { group: 'bulk-50' },
          })),
        );
        await eventually(async () => (await storeCount({ group: 'bulk-50', state: 'failure' })) === 50, '50 failures');
        await page.goto(`${server.url}tasks?state=failure&group=bulk-50`);
        await expect.poll(() => page.locator('input[name=ids]').count()).toBe(50);
        await page.check('[data-select-all]');
        expect(await page.locator('input[name=ids]:checked').count()).toBe(50);
        await shot('failed-bulk-selected');
        writeFileSync(marker, 'fixed');
        await page.click('[data-testid=resubmit-selected]');
        await page.waitForSelector('.notice');
        expect(await page.textContent('.notice')).toContain('Resubmitted 50 tasks');
        await eventually(async () => (await storeCount({ group: 'bulk-50', state: 'success' })) === 50, '50 successes');
        expect(await storeCount({ group: 'bulk-50', state: 'failure' })).toBe(0);
        await page.goto(`${server.url}tasks?state=success&group=bulk-50`);
        await expect.poll(() => page.locator('[data-testid=task-table] tbody tr').count()).toBe(50);
      },
      STEP_TIMEOUT,
    );

    it(
      'deletes a failure only after the confirmation',
      async () => {
        const id = await taskq.enqueue('flaky', [join(markers, 'never'), 'to delete'], { group: 'to-delete' });
        await eventually(async () => (await storeCount({ group: 'to-delete', state: 'failure' })) === 1, 'the failure');
        await page.goto(`${server.url}tasks?state=failure&group=to-delete`);
        await page.check(`input[name=ids][value="${id}"]`);
        page.once('dialog', (dialog) => void dialog.dismiss());
        await page.click('[data-testid=delete-selected]');
        expect(await storeCount({ group: 'to-delete' })).toBe(1);
        page.once('dialog', (dialog) => void dialog.accept());
        await page.click('[data-testid=delete-selected]');
        await page.waitForSelector('.notice');
        expect(await page.textContent('.notice')).toContain('Deleted 1 task');
        expect(await storeCount({ group: 'to-delete' })).toBe(0);
      },
      STEP_TIMEOUT,
    );

    it(
      'creates a cron schedule, previews its next runs and sees its task appear',
      async () => {
        await page.goto(`${server.url}schedules/new`);
        await page.fill('input[name=name]', 'e2e-every-2s');
        await page.fill('input[name=func]', 'tick');
        await page.selectOption('select[name=type]', 'Cron');
        await page.fill('input[name=cron]', '*/2 * * * * *');
        await page.fill('input[name=timezone]', 'Europe/Berlin');
        // htmx fetches the preview as the cron is typed
        await expect.poll(() => page.locator('[data-testid=next-runs] li').count(), { timeout: 10_000 }).toBe(5);
        expect(await page.textContent('[data-testid=next-runs]')).toContain('Europe/Berlin');
        await shot('schedule-new');
        await page.click('[data-testid=save-schedule]');
        await page.waitForURL(/\/schedules\?notice=/);
        expect(await page.textContent('[data-testid=schedule-table]')).toContain('e2e-every-2s');
        await expect
          .poll(
            async () => {
              await page.goto(`${server.url}tasks?group=e2e-every-2s`);
              return page.locator('[data-testid=task-table] tbody tr').count();
            },
            { timeout: 30_000, interval: 1000 },
          )
          .toBeGreaterThan(0);
        await page.goto(`${server.url}schedules`);
        await page.click('[data-testid="pause-e2e-every-2s"]');
        await page.waitForSelector('.notice');
        await shot('schedules');
      },
      STEP_TIMEOUT,
    );

    it(
      'renders an XSS payload inert',
      async () => {
        const payload = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">';
        const id = await taskq.enqueue('echo', [payload], { taskName: 'xss-<b>bold</b>' });
        await eventually(async () => (await storeCount({ func: 'echo', state: 'success' })) >= 1, 'the echo task');
        await page.goto(`${server.url}tasks/${id}`);
        await page.waitForSelector('[data-testid=task-detail]');
        expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
        expect(await page.locator('[data-testid=task-args] script, [data-testid=task-result] img, h1 b').count()).toBe(
          0,
        );
        expect(await page.textContent('[data-testid=task-args]')).toContain('<script>window.__xss = 1</script>');
        await page.goto(`${server.url}tasks?func=echo`);
        expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
        await shot('xss-inert');
      },
      STEP_TIMEOUT,
    );

    it('shows charts, groups and queued tasks', async () => {
      await page.goto(`${server.url}charts?range=1h`);
      await page.waitForSelector('[data-chart=throughput][data-ready=true]', { timeout: 15_000 });
      expect(await page.locator('.uplot').count()).toBe(2);
      await shot('charts');
      await page.goto(`${server.url}groups`);
      expect(await page.textContent('main')).toContain('bulk-50');
      await shot('groups');
      await page.goto(`${server.url}queued`);
      await shot('queued');
      await page.goto(`${server.url}tasks?state=success`);
      await shot('successful');
    });

    it(
      'shows the progress bar and log lines of a finished task',
      async () => {
        const id = await taskq.enqueue('reports', [4, 0]);
        await eventually(async () => (await taskq.fetch(id)) !== null, 'the reporting task');
        await page.goto(`${server.url}tasks/${id}`);
        await page.waitForSelector('[data-testid=task-detail]');
        expect(await page.getAttribute('[data-testid=task-progress] progress', 'value')).toBe('100');
        const logs = page.locator('[data-testid=task-logs] tbody tr');
        expect(await logs.count()).toBe(4);
        expect(await logs.nth(3).textContent()).toMatch(/warn\s+step 3\s+\{"i":3\}/);
        await shot('task-progress');
      },
      STEP_TIMEOUT,
    );

    it(
      'follows a running task live and cancels it from its page',
      async () => {
        const id = await taskq.enqueue('reports', [2, 120_000]);
        await page.goto(`${server.url}tasks/${id}`);
        // htmx polls the live part: the progress appears once the task runs
        await page.waitForSelector('[data-testid=task-live] [data-testid=task-progress] progress[value="50"]', {
          timeout: 30_000,
        });
        expect(await page.textContent('[data-testid=task-live-state]')).toContain('Running');
        await shot('task-running');
        page.once('dialog', (dialog) => void dialog.accept());
        await page.click('[data-testid=cancel-task]');
        await page.waitForSelector('.notice');
        expect(await page.textContent('.notice')).toContain('Cancelled');
        // the page turns into the saved record by itself
        await page.waitForSelector('[data-testid=task-error]', { timeout: 30_000 });
        expect(await page.textContent('[data-testid=task-error]')).toContain('TASKQ_TASK_CANCELLED');
        expect(await page.locator('[data-testid=task-logs] tbody tr').count()).toBe(2);
      },
      STEP_TIMEOUT,
    );

    it(
      'filters dead letters by code and func, redrives one and links the new task to it',
      async () => {
        const marker = join(markers, 'dead-letter');
        const token = `dl-${randomUUID().slice(0, 6)}`;
        const coded = await taskq.enqueue('failWithCode', ['E_E2E_DEAD', token]);
        const letter = await taskq.enqueue('flaky', [marker, { dead: token }]);
        await eventually(
          async () => (await taskq.fetch(coded)) !== null && (await taskq.fetch(letter)) !== null,
          'two dead letters',
        );
        await page.goto(`${server.url}dead-letters`);
        await page.fill('[data-testid=dead-filters] input[name=code]', 'E_E2E_DEAD');
        await page.click('[data-testid=dead-filters] button[type=submit]');
        const rows = page.locator('[data-testid=dead-table] tbody tr');
        await expect.poll(() => rows.count()).toBe(1);
        expect(await rows.first().getAttribute('data-task-id')).toBe(coded);
        await page.fill('[data-testid=dead-filters] input[name=code]', '');
        await page.fill('[data-testid=dead-filters] input[name=func]', 'flaky');
        await page.click('[data-testid=dead-filters] button[type=submit]');
        await page.waitForURL(/func=flaky/);
        expect(await page.locator(`[data-testid=dead-table] tr[data-task-id="${letter}"]`).count()).toBe(1);
        expect(await page.locator(`[data-testid=dead-table] tr[data-task-id="${coded}"]`).count()).toBe(0);
        await shot('dead-letters');
        writeFileSync(marker, 'fixed');
        await page.check(`input[name=ids][value="${letter}"]`);
        await page.click('[data-testid=redrive-selected]');
        await page.waitForSelector('.notice');
        expect(await page.textContent('.notice')).toContain('Redrove 1 dead letter');
        expect(await page.locator(`[data-testid=dead-table] tr[data-task-id="${letter}"]`).count()).toBe(0);
        // the new task runs and links back to the dead letter
        await eventually(
          async () => (await storeCount({ func: 'flaky', state: 'success', text: token })) === 1,
          'the redriven task',
        );
        const { store } = await taskq.runtime();
        const [redriven] = (await store.search({ func: 'flaky', state: 'success', text: token, limit: 1 })).records;
        expect(redriven!.meta?.redrivenFrom).toBe(letter);
        await page.goto(`${server.url}tasks/${redriven!.id}`);
        await page.waitForSelector('[data-testid=redriven-from]');
        await shot('task-redriven');
        await page.click('[data-testid=redriven-from]');
        await page.waitForURL(new RegExp(`/tasks/${letter}$`));
        expect(await page.textContent('[data-testid=task-error]')).toContain('is missing');
      },
      STEP_TIMEOUT,
    );

    it(
      'pauses the queue, cancels a queued task, resumes: the task is saved as cancelled, the other runs',
      async () => {
        await page.goto(`${server.url}clusters`);
        await page.click(`[data-testid=pause-queue-${name}]`);
        await page.waitForSelector('.notice');
        expect(await page.textContent('.notice')).toContain(`Paused queue ${name}`);
        // both clusters say so in their status (the rows refresh by htmx)
        await page.waitForFunction(
          () =>
            [...document.querySelectorAll('[data-testid=cluster-rows] [data-testid=cluster-status]')].filter((td) =>
              td.textContent?.includes('Paused'),
            ).length === 2,
          null,
          { timeout: 30_000 },
        );
        await shot('clusters-paused');
        const keep = await taskq.enqueue('add', [20, 22]);
        const drop = await taskq.enqueue('add', [1, 1]);
        await page.goto(`${server.url}queued`);
        expect(await page.textContent('[data-testid=queue-paused]')).toContain('Paused');
        await page.waitForSelector(`[data-testid="cancel-${drop}"]`);
        await shot('queued-paused');
        page.once('dialog', (dialog) => void dialog.accept());
        await page.click(`[data-testid="cancel-${drop}"]`);
        await page.waitForSelector('.notice');
        expect(await page.textContent('.notice')).toContain('Cancelled');
        await page.goto(`${server.url}clusters`);
        await page.click(`[data-testid=resume-queue-${name}]`);
        await page.waitForSelector('.notice');
        expect(await page.textContent('.notice')).toContain(`Resumed queue ${name}`);
        expect(await taskq.pausedQueues()).toEqual([]);
        await eventually(async () => (await taskq.fetch(keep)) !== null, 'the kept task');
        expect((await taskq.fetch(keep))?.result).toBe(42);
        await eventually(async () => (await taskq.fetch(drop)) !== null, 'the cancelled task');
        await page.goto(`${server.url}tasks/${drop}`);
        expect(await page.textContent('[data-testid=task-error]')).toContain('TASKQ_TASK_CANCELLED');
      },
      STEP_TIMEOUT,
    );
  },
);
