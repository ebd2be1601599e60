import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import type { ClusterHandle, Taskq } from '@taskq/core';
import { TASKS, eventually, linesOf, makeClient, tempFile } from './helpers.js';

const SCRIPT = fileURLToPath(new URL('./fixtures/sigterm-cluster.mjs', import.meta.url));

let client: Taskq | null = null;
let cluster: ClusterHandle | null = null;
afterEach(async () => {
  await cluster?.stop({ deadlineMs: 2000 });
  await client?.close();
  client = cluster = null;
});

describe('stopping a cluster', () => {
  it('SIGTERM mid-work drains what it holds and loses nothing', async () => {
    const child = spawn(process.execPath, [SCRIPT, TASKS, '300'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines = createInterface({ input: child.stdout });
    const messages: Record<string, unknown>[] = [];
    lines.on('line', (line) => {
      const message = JSON.parse(line) as Record<string, unknown>;
      messages.push(message);
      if (message.ready) child.kill('SIGTERM');
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(0);
    const report = messages.find((m) => 'afterStop' in m) as {
      afterStop: { saved: number; queued: number; locked: number };
      results: number;
      records: number;
      attempts: number;
    };
    // After the graceful stop: everything is either saved or still waiting on the broker; nothing is in limbo.
    expect(report.afterStop.locked).toBe(0);
    expect(report.afterStop.saved + report.afterStop.queued).toBe(300);
    expect(report.afterStop.queued).toBeGreaterThan(0);
    // A new cluster finishes the rest: every task exactly one result, each executed once.
    expect(report.results).toBe(300);
    expect(report.records).toBe(300);
    expect(report.attempts).toBe(300);
  });

  it('a stop deadline aborts running tasks unacknowledged, so the broker redelivers them', async () => {
    const runs = tempFile();
    client = makeClient({ retry: 1, workers: 1 });
    cluster = await client.cluster({ handleSignals: false }).start();
    const id = await client.enqueue('countRun', [runs, 'slow', 5000]);
    await eventually(() => linesOf(runs).length === 1, 'the slow task to start');
    await cluster.stop({ deadlineMs: 200 });
    const runtime = await client.runtime();
    expect(await runtime.store.get(id)).toBeNull();
    await eventually(async () => (await runtime.broker.queueSize()) === 1, 'redelivery after the lease');
    cluster = await client.cluster({ handleSignals: false }).start();
    expect(await client.result(id, { wait: 15_000 })).toBe('slow');
    expect(linesOf(runs)).toEqual(['slow', 'slow']);
  });

  it('recycles worker threads after `recycle` tasks and keeps going', async () => {
    client = makeClient({ workers: 1, recycle: 5 });
    const recycled: number[] = [];
    client.on('recycle', ({ threadId }) => recycled.push(threadId));
    cluster = await client.cluster({ handleSignals: false }).start();
    for (let i = 0; i < 12; i++)
      expect(await client.result(await client.enqueue('add', [i, i]), { wait: 10_000 })).toBe(2 * i);
    expect(recycled.length).toBeGreaterThanOrEqual(2);
    expect(new Set(recycled).size).toBe(recycled.length); // a new thread each time
  });

  it('recycles under load without failing or re-running a task', async () => {
    client = makeClient({ workers: 2, concurrency: 4, recycle: 25, bulk: 50, saveLimit: 0 });
    let recycles = 0;
    const lost: string[] = [];
    client.on('recycle', () => recycles++);
    client.on('workerLost', ({ taskIds }) => lost.push(...taskIds));
    cluster = await client.cluster({ handleSignals: false }).start();
    const ids = await client.enqueueMany(Array.from({ length: 600 }, (_, i) => ({ task: 'add', args: [i, 0] })));
    const records = await Promise.all(ids.map((id) => client!.fetch(id, { wait: 30_000 })));
    expect(records.map((r) => r?.result)).toEqual(Array.from({ length: 600 }, (_, i) => i));
    expect(records.every((r) => r?.success && r.attemptCount === 1)).toBe(true);
    expect(lost).toEqual([]);
    expect(recycles).toBeGreaterThanOrEqual(600 / 25 - 2);
  });

  it('a thread that exceeds maxHeapMb dies, its task fails as worker-lost, and the pool carries on', async () => {
    client = makeClient({ workers: 1, maxHeapMb: 32, maxAttempts: 1 });
    cluster = await client.cluster({ handleSignals: false }).start();
    const hog = await client.enqueue('hog');
    const record = await client.fetch(hog, { wait: 30_000 });
    expect(record?.success).toBe(false);
    expect(record?.error?.code).toBe('TASKQ_WORKER_LOST');
    expect(await client.result(await client.enqueue('add', [1, 2]), { wait: 10_000 })).toBe(3);
  });

  it('fails the other tasks of a killed thread as worker-lost and retries them', async () => {
    const runs = tempFile();
    // ackFailures does not apply: a task lost with its thread is not its own failure.
    client = makeClient({ workers: 1, concurrency: 3, retry: 1, guardCycle: 0.1, maxAttempts: 3, ackFailures: true });
    const lost: string[][] = [];
    client.on('workerLost', ({ taskIds }) => lost.push(taskIds));
    cluster = await client.cluster({ handleSignals: false }).start();
    const neighbour = await client.enqueue('countRun', [runs, 'neighbour', 1500]);
    await eventually(() => linesOf(runs).length === 1, 'the neighbour to start');
    const spin = await client.enqueue('spin', [], { timeout: 0.3, ackFailure: true });
    expect((await client.fetch(spin, { wait: 10_000 }))?.error?.code).toBe('TASKQ_TASK_TIMEOUT');
    expect(lost.flat()).toContain(neighbour);
    // The neighbour was saved as a lost attempt, then redelivered and succeeded.
    await eventually(
      async () => (await client!.fetch(neighbour))?.success === true,
      'the neighbour to succeed on retry',
    );
    expect((await client.fetch(neighbour))?.attemptCount).toBe(2);
    expect(linesOf(runs)).toEqual(['neighbour', 'neighbour']);
  });

  it('runs the tasks handed to a killed thread that had not started elsewhere, without costing them an attempt', async () => {
    const runs = tempFile();
    // Two at a time per thread, claimed in one batch before the cluster starts: [beside, spin] go to the thread
    // together and start; the next pair is handed to it too but never starts (the spinner blocks the thread).
    client = makeClient({ workers: 1, concurrency: 2, bulk: 8, maxAttempts: 1 });
    const [beside, spin, ...waiting] = await client.enqueueMany([
      { task: 'countRun', args: [runs, 'beside', 3000] },
      { task: 'spin', options: { timeout: 0.3 } },
      ...Array.from({ length: 6 }, (_, i) => ({ task: 'add', args: [i, 1] })),
    ]);
    cluster = await client.cluster({ handleSignals: false }).start();
    expect((await client.fetch(spin!, { wait: 10_000 }))?.error?.code).toBe('TASKQ_TASK_TIMEOUT');
    // Running beside the spinner when its thread was terminated: lost, and with maxAttempts 1 that is final.
    expect((await client.fetch(beside!, { wait: 10_000 }))?.error?.code).toBe('TASKQ_WORKER_LOST');
    const records = await Promise.all(waiting.map((id) => client!.fetch(id, { wait: 10_000 })));
    expect(records.map((r) => [r?.success, r?.attemptCount, r?.result])).toEqual(
      Array.from({ length: 6 }, (_, i) => [true, 1, i + 1]),
    );
  });
});

describe('closing the client', () => {
  it('stops its running clusters first, so nothing is left pulling from a closed broker', async () => {
    const q = makeClient();
    const handle = await q.cluster({ handleSignals: false }).start();
    expect(await q.result(await q.enqueue('add', [1, 1]), { wait: 10_000 })).toBe(2);
    await q.close();
    expect(handle.status).toBe('Stopped');
  });
});
