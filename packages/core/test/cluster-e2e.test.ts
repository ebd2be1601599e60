import { afterEach, describe, expect, it } from 'vitest';
import { HmacSigner, PackageCodec, taggedJson, type Taskq, type ClusterHandle } from '@taskq/core';
import { eventually, linesOf, makeClient, tempFile } from './helpers.js';

let client: Taskq | null = null;
let cluster: ClusterHandle | null = null;

afterEach(async () => {
  await cluster?.stop({ deadlineMs: 2000 });
  await client?.close();
  client = null;
  cluster = null;
});

async function start(options: Parameters<typeof makeClient>[0] = {}) {
  client = makeClient(options);
  cluster = await client.cluster({ handleSignals: false }).start();
  return client;
}

describe('a cluster on the memory broker with real worker threads', () => {
  it('runs 1,000 tasks and saves a result for every one', async () => {
    const q = await start({ concurrency: 4, bulk: 50, saveLimit: 0 });
    const ids = await q.enqueueMany(Array.from({ length: 1000 }, (_, i) => ({ task: 'add', args: [i, 1] })));
    const results = await Promise.all(ids.map((id) => q.result<number>(id, { wait: 30_000 })));
    expect(results).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect(await q.queueSize()).toBe(0);
    expect(await q.lockSize()).toBe(0);
  });

  it('stops a runaway CPU loop at its timeout while other tasks keep completing', async () => {
    const q = await start({ workers: 2, ackFailures: true });
    const started = Date.now();
    const spin = await q.enqueue('spin', [], { timeout: 1 });
    const others = await Promise.all(Array.from({ length: 20 }, (_, i) => q.enqueue('sleep', [i])));
    for (const id of others) expect(await q.result(id, { wait: 10_000 })).toBeTypeOf('number');
    const record = await q.fetch(spin, { wait: 10_000 });
    expect(record?.success).toBe(false);
    expect(record?.error?.code).toBe('TASKQ_TASK_TIMEOUT');
    expect(record?.attemptCount).toBe(1);
    // The clock started when the task started, and it was not stopped before its timeout.
    expect(record!.stoppedAt.getTime() - record!.startedAt.getTime()).toBeGreaterThanOrEqual(1000);
    expect(record!.startedAt.getTime()).toBeGreaterThanOrEqual(started);
    // The pool replaced the killed thread and still works.
    expect(await q.result(await q.enqueue('add', [2, 2]), { wait: 10_000 })).toBe(4);
  });

  it('runs a timed-out task hook and counts the timeout as an attempt', async () => {
    const hookFile = tempFile('hooks.txt');
    const q = await start({ workers: 1, retry: 1, guardCycle: 0.1 });
    const id = await q.enqueue('spinWith', [hookFile], { timeout: 0.3, maxAttempts: 2, hook: 'recordHook' });
    await eventually(async () => (await q.fetch(id))?.attemptCount === 2, 'two timed-out attempts');
    const record = await q.fetch(id);
    expect(record?.error?.code).toBe('TASKQ_TASK_TIMEOUT');
    await eventually(async () => (await q.lockSize()) + (await q.queueSize()) === 0, 'the task to be acknowledged');
    await eventually(() => linesOf(hookFile).length === 2, 'a hook run per timed-out attempt');
    expect(linesOf(hookFile).map((line) => JSON.parse(line))).toEqual([
      { id, success: false, code: 'TASKQ_TASK_TIMEOUT' },
      { id, success: false, code: 'TASKQ_TASK_TIMEOUT' },
    ]);
  });

  it('runs a throwing task exactly maxAttempts times and saves it once as a failure', async () => {
    const runs = tempFile();
    const q = await start({ retry: 1, guardCycle: 0.1, maxAttempts: 3 });
    const id = await q.enqueue('countFail', [runs, 'x']);
    await eventually(async () => (await q.fetch(id))?.attemptCount === 3, 'three attempts', 30_000);
    await eventually(async () => (await q.queueSize()) + (await q.lockSize()) === 0, 'the final acknowledgement');
    // Past another retry window: nothing is redelivered once maxAttempts is reached.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(linesOf(runs)).toHaveLength(3);
    const { records, total } = await (await q.runtime()).store.list({ success: false });
    expect(total).toBe(1);
    expect(records[0]?.attemptCount).toBe(3);
    expect(records[0]?.error?.message).toBe('attempt failed for x');
  });

  it('retries with a backoff policy without waiting for the retry window', async () => {
    const runs = tempFile();
    const q = await start({ retry: 60, maxAttempts: 3, retryPolicy: { backoff: 'exponential', delayMs: 50 } });
    const id = await q.enqueue('countFail', [runs, 'y']);
    await eventually(async () => (await q.fetch(id))?.attemptCount === 3, 'three attempts', 15_000);
    expect(linesOf(runs)).toHaveLength(3);
  });

  it('executes a task that runs three times longer than retry exactly once', async () => {
    const runs = tempFile();
    const q = await start({ retry: 1, guardCycle: 0.1, workers: 2 });
    const id = await q.enqueue('countRun', [runs, 'long', 3000]);
    expect(await q.result(id, { wait: 15_000 })).toBe('long');
    await new Promise((resolve) => setTimeout(resolve, 1200)); // one more retry window: no late redelivery
    expect(linesOf(runs)).toEqual(['long']);
  });

  it('rejects forged, foreign and random packages without executing them', async () => {
    const runs = tempFile();
    const q = await start();
    const runtime = await q.runtime();
    const message = {
      id: 'f'.repeat(32),
      name: 'forged',
      func: 'countRun',
      args: [runs, 'forged'],
      enqueuedAt: Date.now(),
    };
    const otherKey = new PackageCodec(taggedJson, new HmacSigner({ secretKey: 'not-ours', salt: q.config.name }));
    const otherName = new PackageCodec(taggedJson, new HmacSigner({ secretKey: 'shared', salt: 'other-cluster' }));
    const genuine = runtime.codec.pack(message);
    const tampered = genuine.replace(/^./, (c) => (c === 'A' ? 'B' : 'A'));
    for (const payload of [otherKey.pack(message), otherName.pack(message), tampered, 'garbage', '::', '']) {
      await runtime.broker.enqueue(payload);
    }
    await eventually(async () => (await runtime.store.list({ success: false })).total === 6, 'six rejections');
    const { records } = await runtime.store.list({ success: false });
    expect(new Set(records.map((r) => r.error?.code))).toEqual(new Set(['TASKQ_BAD_SIGNATURE', 'TASKQ_BAD_PACKAGE']));
    expect(await runtime.broker.queueSize()).toBe(0);
    expect(await runtime.broker.lockSize()).toBe(0);
    expect(linesOf(runs)).toEqual([]);
    expect(cluster?.stat()?.rejected).toBe(6);
  });

  it('gives a task whole-number arguments as small integers even beside fractions (fast arithmetic)', async () => {
    // JSON.parse reads [27, 1.5] into an array of doubles; a task doing arithmetic on 27 then runs several times
    // slower. The worker normalises the arguments it decoded (structured cloning did this before threads decoded).
    const q = await start();
    const id = await q.enqueue('smallIntegers', [27, 1.5, 2 ** 40]);
    expect(await q.result(id, { wait: 10_000 })).toEqual([true, false, false]);
  });

  it('returns falsy results as results', async () => {
    const q = await start();
    for (const [kind, value] of [
      ['zero', 0],
      ['empty', ''],
      ['false', false],
      ['null', null],
    ] as const) {
      const id = await q.enqueue('falsy', [kind]);
      expect(await q.result(id, { wait: 10_000 })).toBe(value);
    }
  });

  it('runs a chain in order in one group, advancing even when results are not saved', async () => {
    const q = await start({ saveLimit: -1 });
    const runs = tempFile();
    const group = await q.chain([
      { task: 'countRun', args: [runs, 'a'] },
      { task: 'countRun', args: [runs, 'b'] },
      { task: 'countRun', args: [runs, 'c'] },
    ]);
    await eventually(() => linesOf(runs).length === 3, 'three chain links');
    expect(linesOf(runs)).toEqual(['a', 'b', 'c']);
    expect(await q.countGroup(group)).toBe(0); // saveLimit -1: nothing saved, chain still advanced
  });

  it('collates an iter in input order', async () => {
    const q = await start({ workers: 2, concurrency: 4 });
    const id = await q.iter('sleep', [[60], [1], [30], [0], [10]]);
    expect(await q.result(id, { wait: 15_000 })).toEqual([60, 1, 30, 0, 10]);
    expect(await q.countGroup(id)).toBe(0); // sub-task records are folded into the iter's record
  });

  it('keeps only the newest saveLimit successes and every failure', async () => {
    const q = await start({ saveLimit: 5, workers: 1, ackFailures: true });
    for (let i = 0; i < 12; i++) expect(await q.result(await q.enqueue('add', [i, 0]), { wait: 10_000 })).toBe(i);
    await q.fetch(await q.enqueue('fail'), { wait: 10_000 });
    const store = (await q.runtime()).store;
    await eventually(async () => (await store.list({ success: true })).total === 5, 'pruning to 5 successes');
    const kept = (await store.list({ success: true })).records.map((r) => taggedJson.deserialize(r.result as string));
    expect(kept).toEqual([11, 10, 9, 8, 7]);
    expect((await store.list({ success: false })).total).toBe(1);
  });

  it('runs hooks after successes and failures with the task record', async () => {
    const file = tempFile('hooks.txt');
    const q = await start({ ackFailures: true });
    const ok = await q.enqueue('echo', [file], { hook: 'recordHook' });
    const bad = await q.enqueue('fail', [], { hook: 'recordHook' });
    await q.fetch(ok, { wait: 10_000 });
    await q.fetch(bad, { wait: 10_000 });
    // recordHook appends to the file named by the task's first argument; the failing task has none.
    await eventually(() => linesOf(file).length === 1, 'the success hook');
    expect(JSON.parse(linesOf(file)[0] as string)).toMatchObject({ id: ok, success: true });
  });

  it('gives tasks their context and keeps rich types through the pipeline', async () => {
    const q = await start();
    const id = await q.enqueue('whoAmI', [], { taskName: 'my-task' });
    expect(await q.result(id, { wait: 10_000 })).toEqual({ id, name: 'my-task', attempt: 1 });
    expect(await q.result('my-task')).toEqual({ id, name: 'my-task', attempt: 1 });
    const rich = await q.result<Record<string, unknown>>(await q.enqueue('rich'), { wait: 10_000 });
    expect(rich?.when).toEqual(new Date(0));
    expect(rich?.big).toBe(2n ** 70n);
    expect(rich?.map).toEqual(new Map([['k', 1]]));
    expect(Number.isNaN(rich?.nan)).toBe(true);
    expect('u' in (rich ?? {})).toBe(true);
  });

  it('runs schedules created through the client, within about a second of each slot', async () => {
    const q = await start({ workers: 1 });
    await q.schedule('add', [1, 2], { type: 'Cron', cron: '* * * * * *', name: 'every-second', repeats: 3 });
    expect(await q.resultGroup('every-second', { count: 3, wait: 15_000 })).toEqual([3, 3, 3]);
    expect((await q.schedules.get('every-second'))?.repeats).toBe(0);
  });

  it('advances a chain once per link even when a link is retried by a policy', async () => {
    const runs = tempFile();
    const q = await start({ maxAttempts: 3, retryPolicy: { backoff: 'fixed', delayMs: 10 } });
    const group = await q.chain([
      { task: 'flaky', args: [runs, 'first', 2] },
      { task: 'countRun', args: [runs, 'second'] },
    ]);
    expect(await q.resultGroup(group, { count: 2, wait: 15_000 })).toEqual(['first', 'second']);
    await new Promise((resolve) => setTimeout(resolve, 300)); // room for a duplicate link to show up
    expect(linesOf(runs)).toEqual(['first', 'first', 'first', 'second']);
  });

  it('collates an iter only when a retried sub-task has finally succeeded', async () => {
    const runs = tempFile();
    const q = await start({ maxAttempts: 3, retryPolicy: { backoff: 'fixed', delayMs: 10 } });
    const id = await q.iter('flaky', [
      [runs, 'a', 0],
      [runs, 'b', 2],
      [runs, 'c', 0],
    ]);
    expect(await q.result(id, { wait: 15_000 })).toEqual(['a', 'b', 'c']);
    expect(linesOf(runs).filter((line) => line === 'b')).toHaveLength(3);
  });

  it('collates an iter larger than saveLimit (sub-tasks are never pruned)', async () => {
    const q = await start({ saveLimit: 5, concurrency: 4 });
    const id = await q.iter(
      'add',
      Array.from({ length: 40 }, (_, i) => [i, 1]),
    );
    expect(await q.result(id, { wait: 15_000 })).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
  });
});
