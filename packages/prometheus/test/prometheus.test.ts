import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Counter, Registry } from 'prom-client';
import { Taskq, type ClusterHandle, type TaskqOptions } from '@taskq/core';
import { TaskqMetrics, clientTarget } from '../src/index.js';
import { eventually, parse, scrape, valueOf } from './support/scrape.js';

const TASKS = fileURLToPath(new URL('./support/tasks.mjs', import.meta.url));

let client: Taskq | null = null;
let cluster: ClusterHandle | null = null;
let counter = 0;

afterEach(async () => {
  await cluster?.stop({ deadlineMs: 1000 });
  await client?.close();
  client = null;
  cluster = null;
});

async function start(options: TaskqOptions) {
  client = new Taskq({
    name: `metrics${process.pid}x${++counter}`,
    broker: 'memory:',
    tasks: [TASKS],
    logLevel: 'silent',
    metrics: { port: 0, host: '127.0.0.1' },
    ...options,
  });
  cluster = await client.cluster({ handleSignals: false }).start();
  return { q: client, url: cluster.metricsUrl as string };
}

describe('the cluster metrics endpoint (metrics: { port, host })', () => {
  it('counts tasks per queue and func and times them, scraped over HTTP', async () => {
    const { q, url } = await start({ workers: 2, maxAttempts: 1 });
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const queue = q.config.cluster;
    const adds = await q.enqueueMany(Array.from({ length: 5 }, (_, i) => ({ task: 'add', args: [i, 1] })));
    const failing = await q.enqueue('fail', [], { maxAttempts: 2, retry: { backoff: 'fixed', delayMs: 0 } });
    const spinning = await q.enqueue('spin', [], { timeout: 0.3 });
    await (await q.runtime()).broker.enqueue('this is not a signed package');
    for (const id of adds) await q.result(id, { wait: 10_000 });
    await eventually(async () => (await q.fetch(failing))?.attemptCount === 2, 'two attempts of the failing task');
    await eventually(async () => (await q.fetch(spinning)) !== null, 'the timed-out task');

    const t = (func: string) => ({ queue, func });
    await eventually(async () => valueOf(await scrape(url), 'taskq_tasks_failed_total', t('spin')) === 1, 'counts');
    const samples = await scrape(url);
    const v = (name: string, labels: Record<string, string> = {}) => valueOf(samples, name, labels);
    expect(v('taskq_tasks_enqueued_total', t('add'))).toBe(5);
    expect(v('taskq_tasks_enqueued_total', t('fail'))).toBe(1); // the retry is not a new enqueue
    expect(v('taskq_tasks_started_total', t('add'))).toBe(5);
    expect(v('taskq_tasks_started_total', t('fail'))).toBe(2);
    expect(v('taskq_tasks_succeeded_total', t('add'))).toBe(5);
    expect(v('taskq_tasks_failed_total', t('fail'))).toBe(2);
    expect(v('taskq_tasks_retried_total', t('fail'))).toBe(1);
    expect(v('taskq_tasks_timed_out_total', t('spin'))).toBe(1);
    expect(v('taskq_tasks_failed_total', t('spin'))).toBe(1);
    expect(v('taskq_packages_rejected_total', { queue })).toBe(1);
    expect(v('taskq_task_duration_seconds_count', t('add'))).toBe(5);
    expect(v('taskq_task_duration_seconds_bucket', { ...t('spin'), le: '+Inf' })).toBe(1);
    expect(v('taskq_task_duration_seconds_sum', t('spin'))).toBeGreaterThanOrEqual(0.3);
    expect(v('taskq_task_latency_seconds_count', t('add'))).toBe(5);
    expect(v('taskq_task_latency_seconds_count', t('fail'))).toBe(1); // first attempts only
    expect(v('taskq_worker_threads', { queue })).toBe(2);
    // The thread running the runaway task was terminated and replaced.
    expect(v('taskq_reincarnations_total', { queue })).toBeGreaterThanOrEqual(1);
    expect(v('taskq_queue_depth', { queue })).toBe(0);
    // prom-client's process metrics come along on the cluster's own endpoint.
    expect(v('process_resident_memory_bytes')).toBeGreaterThan(0);
  });

  it('shows queue depth, locked tasks and busy workers while tasks run', async () => {
    // One thread and room for one waiting task: of six, one runs, one waits in the cluster, four stay on the broker.
    const { q, url } = await start({ workers: 1, concurrency: 1, queueLimit: 1 });
    const queue = q.config.cluster;
    await q.enqueueMany(Array.from({ length: 6 }, () => ({ task: 'sleep', args: [30_000] })));
    await eventually(async () => {
      const samples = await scrape(url);
      return (
        valueOf(samples, 'taskq_workers_busy', { queue }) === 1 &&
        valueOf(samples, 'taskq_queue_depth', { queue }) === 4 &&
        valueOf(samples, 'taskq_queue_locked', { queue }) === 2
      );
    }, 'depth 4, locked 2, one busy worker');
  });

  it('serves only its path, and closes with the cluster', async () => {
    const { url } = await start({ workers: 1 });
    expect((await fetch(url.replace('/metrics', '/other'))).status).toBe(404);
    await cluster?.stop();
    await expect(fetch(url)).rejects.toThrow();
    expect(new Taskq({ broker: 'memory:', logLevel: 'silent' }).cluster().metricsUrl).toBeNull();
  });

  it('names the option to change when the port is taken, and the cluster does not start', async () => {
    const { url } = await start({ workers: 1 });
    const port = Number(new URL(url).port);
    const second = new Taskq({
      name: `taken${process.pid}`,
      broker: 'memory:',
      tasks: [TASKS],
      logLevel: 'silent',
      metrics: port,
    });
    const handle = second.cluster({ handleSignals: false });
    await expect(handle.start()).rejects.toMatchObject({
      code: 'TASKQ_CONFIG_INVALID',
      message: expect.stringContaining(
        `cannot listen on 127.0.0.1:${port} (EADDRINUSE): choose another \`metrics.port\``,
      ),
    });
    expect(handle.status).toBe('Stopped');
    await second.close();
  });
});

describe('TaskqMetrics on your own registry', () => {
  it('adds the taskq metrics beside your own, for a cluster and for an enqueue-only client', async () => {
    const registry = new Registry();
    new Counter({ name: 'app_orders_total', help: 'Orders.', registers: [registry] }).inc(3);
    const metrics = new TaskqMetrics({ registry });
    client = new Taskq({
      name: `own${process.pid}`,
      broker: 'memory:',
      tasks: [TASKS],
      workers: 1,
      logLevel: 'silent',
    });
    cluster = await client.cluster({ handleSignals: false }).start();
    const detach = metrics.attach(cluster.metricsTarget());
    await client.result(await client.enqueue('add', [1, 2]), { wait: 10_000 });
    await eventually(
      async () => valueOf(parse(await registry.metrics()), 'taskq_tasks_succeeded_total', { func: 'add' }) === 1,
      'the success counted',
    );
    const samples = parse(await registry.metrics());
    expect(valueOf(samples, 'app_orders_total')).toBe(3);
    expect(valueOf(samples, 'taskq_worker_threads', { queue: client.config.cluster })).toBe(1);

    // A second cluster of the same queue: its threads add up, the queue's own counts are read once.
    const other = new Taskq({
      name: `own${process.pid}`,
      broker: 'memory:',
      tasks: [TASKS],
      workers: 2,
      logLevel: 'silent',
    });
    const otherCluster = await other.cluster({ handleSignals: false }).start();
    const detachOther = metrics.attach(otherCluster.metricsTarget());
    await client.enqueue('sleep', [30_000]);
    await eventually(async () => {
      const now = parse(await registry.metrics());
      const queue = { queue: client!.config.cluster };
      return valueOf(now, 'taskq_worker_threads', queue) === 3 && valueOf(now, 'taskq_queue_locked', queue) === 1;
    }, 'three threads in all and one locked task');
    detachOther();
    await otherCluster.stop({ deadlineMs: 500 });
    detach();

    // A web process that only enqueues: counts its enqueues and reads the queue depth.
    // (Its own queue: closing a client closes the in-process memory broker it shares with same-named clients.)
    const web = new Taskq({ name: `web${process.pid}`, broker: 'memory:', logLevel: 'silent' });
    const webMetrics = new TaskqMetrics({ prefix: 'web_taskq_', registry });
    webMetrics.attach(clientTarget(web));
    await web.enqueue('add', [1, 1]);
    const after = parse(await registry.metrics());
    expect(valueOf(after, 'web_taskq_tasks_enqueued_total', { func: 'add' })).toBe(1);
    expect(valueOf(after, 'web_taskq_queue_depth', { queue: web.config.cluster })).toBe(1);
    expect(valueOf(after, 'web_taskq_worker_threads')).toBeUndefined();
    await web.close();
  });

  it('registers exactly the metrics docs/observability.md lists, with their types', async () => {
    const doc = readFileSync(new URL('../../../docs/observability.md', import.meta.url), 'utf8');
    const documented = [...doc.matchAll(/^\| `(taskq_\w+)` \| (counter|gauge|histogram) \|/gm)].map(
      (m) => `${m[1]} ${m[2]}`,
    );
    const registry = new Registry();
    new TaskqMetrics({ registry });
    const registered = (await registry.getMetricsAsJSON()).map((m) => `${m.name} ${String(m.type)}`);
    expect(documented.sort()).toEqual(registered.sort());
  });

  it('refuses a second TaskqMetrics with the same prefix on one registry', () => {
    const registry = new Registry();
    new TaskqMetrics({ registry });
    expect(() => new TaskqMetrics({ registry })).toThrow(/already been registered/);
  });
});
