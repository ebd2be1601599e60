import { afterEach, describe, expect, it } from 'vitest';
import { isTaskqError, MemoryStore, type ClusterHandle, type Taskq } from '@taskq/core';
import { eventually, linesOf, makeClient, rejection, tempFile } from './helpers.js';

const clients: Taskq[] = [];
const clusters: ClusterHandle[] = [];

afterEach(async () => {
  for (const c of clusters.splice(0)) await c.stop({ deadlineMs: 2000 });
  for (const c of clients.splice(0)) await c.close();
});

function client(options: Parameters<typeof makeClient>[0] = {}): Taskq {
  const q = makeClient({ guardCycle: 0.1, ...options });
  clients.push(q);
  return q;
}

async function start(q: Taskq): Promise<ClusterHandle> {
  const cluster = await q.cluster({ handleSignals: false }).start();
  clusters.push(cluster);
  return cluster;
}

/** A second client on the same memory broker and store (another "process" of the same deployment). */
function sibling(q: Taskq): Taskq {
  return client({ name: q.config.name });
}

describe('idempotent enqueue (dedupKey)', () => {
  it('returns the waiting task instead of enqueueing a second one, then frees the key when it finishes', async () => {
    const q = client();
    const runs = tempFile();
    const first = await q.enqueue('countRun', [runs, 'a'], { dedupKey: 'invoice-1' });
    const again = await q.enqueue('countRun', [runs, 'b'], { dedupKey: 'invoice-1' });
    const [bulk] = await q.enqueueMany([{ task: 'countRun', args: [runs, 'c'], options: { dedupKey: 'invoice-1' } }]);
    expect(again).toBe(first);
    expect(bulk).toBe(first);
    expect(await q.queueSize()).toBe(1);
    await start(q);
    expect((await q.fetch(first, { wait: 10_000 }))?.success).toBe(true);
    expect(linesOf(runs)).toEqual(['a']);
    // 'active' (the default) holds until the task is done for good: now a new task is enqueued.
    await eventually(async () => (await q.enqueue('noop', [], { dedupKey: 'invoice-1' })) !== first, 'key freed');
  });

  it("'queued' frees the key when the task starts; { ttlMs } holds it after the task finished", async () => {
    const q = client();
    const file = tempFile();
    await start(q);
    const running = await q.enqueue('waitForAbort', [file], { dedupKey: 'sync-user-7', dedup: 'queued' });
    await eventually(() => linesOf(file).length === 1, 'task started');
    const next = await q.enqueue('noop', [], { dedupKey: 'sync-user-7', dedup: 'queued' });
    expect(next).not.toBe(running);
    await q.cancel(running);

    const timed = await q.enqueue('noop', [], { dedupKey: 'daily-report', dedup: { ttlMs: 60_000 } });
    expect((await q.fetch(timed, { wait: 10_000 }))?.success).toBe(true);
    expect(await q.enqueue('noop', [], { dedupKey: 'daily-report', dedup: { ttlMs: 60_000 } })).toBe(timed);
  });

  it("a 'queued' key held by a task cancelled before it started is freed when it is saved as cancelled", async () => {
    const q = client();
    const waiting = await q.enqueue('noop', [], { dedupKey: 'export-9', dedup: 'queued' });
    await q.cancel(waiting);
    await start(q);
    expect((await q.fetch(waiting, { wait: 10_000 }))?.error?.code).toBe('TASKQ_TASK_CANCELLED');
    // Released by the finisher itself (not only taken over later by the next enqueue's stale-holder check).
    const { store } = await q.runtime();
    await eventually(async () => (await store.getValues(['dedup:export-9'])).size === 0, 'key released');
  });

  it('is atomic across concurrent enqueuers: one task per key', async () => {
    const q = client();
    const others = [sibling(q), sibling(q), sibling(q)];
    const ids = await Promise.all(
      [q, ...others].flatMap((c) =>
        ['k1', 'k2', 'k3'].flatMap((key) => [1, 2, 3].map(() => c.enqueue('noop', [], { dedupKey: key }))),
      ),
    );
    expect(new Set(ids).size).toBe(3);
    expect(await q.queueSize()).toBe(3);
  });

  it('takes over a key whose holder finished for good but never released it (a crash)', async () => {
    const q = client();
    await start(q);
    const id = await q.enqueue('noop', [], { dedupKey: 'stale' });
    await q.fetch(id, { wait: 10_000 });
    const runtime = await q.runtime();
    await runtime.store.setValue('dedup:stale', id, null); // as if the release was lost
    expect(await q.enqueue('noop', [], { dedupKey: 'stale' })).not.toBe(id);
  });

  it('rejects bad values and typos with typed errors', async () => {
    const q = client();
    expect((await rejection(q.enqueue('noop', [], { dedupKey: '' }))).code).toBe('TASKQ_INVALID_ARGUMENT');
    const typo = await rejection(q.enqueue('noop', [], { dedupkey: 'x' } as never));
    expect(typo.message).toMatch(/did you mean `dedupKey`/);
    expect((await rejection(q.enqueue('noop', [], { dedup: 'queued' }))).message).toMatch(/needs a `dedupKey`/);
    const mode = await rejection(q.enqueue('noop', [], { dedupKey: 'x', dedup: 'forever' as never }));
    expect(mode.message).toMatch(/'queued', 'active' or \{ ttlMs/);
  });
});

describe('cancel', () => {
  it('a waiting task never runs: saved as cancelled, its hook runs, its chain stops, no retry', async () => {
    const q = client();
    const runs = tempFile();
    const hooks = tempFile();
    const id = await q.enqueue('countRun', [hooks, 'x'], { hook: 'recordHook' });
    const group = await q.chain([
      { task: 'countRun', args: [runs, 'first'] },
      { task: 'countRun', args: [runs, 'second'] },
    ]);
    expect(await q.cancel(id)).toBe(true);
    await q.cancelGroup(group);
    await start(q);
    const record = await q.fetch(id, { wait: 10_000 });
    expect(record?.success).toBe(false);
    expect(record?.error?.code).toBe('TASKQ_TASK_CANCELLED');
    await eventually(() => linesOf(hooks).length === 1, 'hook ran');
    expect(JSON.parse(linesOf(hooks)[0] as string)).toMatchObject({ id, code: 'TASKQ_TASK_CANCELLED' });
    await eventually(async () => (await q.countGroup(group)) === 1, 'chain link saved');
    expect(linesOf(runs)).toEqual([]); // neither link ran: the first was cancelled, the chain stopped
    expect(await q.cancel(id)).toBe(false); // already finished for good
    expect((await q.deadLetters()).records).toEqual([]); // cancelled is not a dead letter
  });

  it('a running task gets its signal aborted and is saved as cancelled, on another cluster too', async () => {
    const q = client();
    const other = sibling(q);
    const file = tempFile();
    await start(q);
    const id = await q.enqueue('waitForAbort', [file]);
    await eventually(() => linesOf(file).length === 1, 'task started');
    expect(await other.cancel(id)).toBe(true);
    const record = await other.fetch(id, { wait: 10_000 });
    expect(record?.error?.code).toBe('TASKQ_TASK_CANCELLED');
    expect(linesOf(file)).toEqual([`started ${id}`, 'aborted TASKQ_TASK_CANCELLED']);
    expect(record?.attemptCount).toBe(1);
  });

  it('a task that ignores its signal has its thread terminated; other tasks are unaffected', async () => {
    const q = client({ workers: 1, concurrency: 4 });
    const file = tempFile();
    await start(q);
    const stubborn = await q.enqueue('ignoresAbort', [file]);
    await eventually(() => linesOf(file).length === 1, 'task started');
    await q.cancel(stubborn);
    expect((await q.fetch(stubborn, { wait: 10_000 }))?.error?.code).toBe('TASKQ_TASK_CANCELLED');
    expect(await q.result(await q.enqueue('add', [2, 3]), { wait: 10_000 })).toBe(5);
  });

  it('a task blocking its thread is terminated when it has a timeout (its thread is known)', async () => {
    const q = client({ timeout: 60, retry: 120 });
    const file = tempFile();
    await start(q);
    const id = await q.enqueue('startsThenSpins', [file]);
    await eventually(() => linesOf(file).length === 1, 'task started');
    await q.cancel(id);
    expect((await q.fetch(id, { wait: 10_000 }))?.error?.code).toBe('TASKQ_TASK_CANCELLED');
  });

  it('cancelGroup cancels what was enqueued before it, not tasks added to the group later', async () => {
    const q = client();
    const ids = await q.enqueueMany([1, 2, 3].map((n) => ({ task: 'add', args: [n, n], options: { group: 'batch' } })));
    await q.cancelGroup('batch');
    // Marks compare ms timestamps and a tie counts as cancelled: enqueue the later task in a later millisecond.
    const cancelledAt = Date.now();
    await eventually(() => Date.now() > cancelledAt, 'next millisecond', 1000);
    const later = await q.enqueue('add', [5, 5], { group: 'batch' });
    await start(q);
    expect(await q.result(later, { wait: 10_000 })).toBe(10);
    for (const id of ids) expect((await q.fetch(id, { wait: 10_000 }))?.error?.code).toBe('TASKQ_TASK_CANCELLED');
  });

  it('by name', async () => {
    const q = client();
    const id = await q.enqueue('add', [1, 1], { taskName: 'nightly-import' });
    await q.cancel('nightly-import');
    await start(q);
    expect((await q.fetch(id, { wait: 10_000 }))?.error?.code).toBe('TASKQ_TASK_CANCELLED');
  });
});

describe('expiry', () => {
  it('a task not started by expiresAt never runs and is saved as expired; its hook runs', async () => {
    const q = client();
    const hooks = tempFile();
    const expiresAt = new Date(Date.now() + 20);
    const expired = await q.enqueue('countRun', [hooks, 'ran'], { expiresAt, hook: 'recordHook' });
    const fresh = await q.enqueue('add', [1, 2], { expiresIn: 60_000 });
    await eventually(() => Date.now() > expiresAt.getTime(), 'expiry passed', 1000);
    await start(q);
    const record = await q.fetch(expired, { wait: 10_000 });
    expect(record?.error?.code).toBe('TASKQ_TASK_EXPIRED');
    expect(await q.result(fresh, { wait: 10_000 })).toBe(3);
    await eventually(() => linesOf(hooks).length === 1, 'hook ran');
    expect(JSON.parse(linesOf(hooks)[0] as string).code).toBe('TASKQ_TASK_EXPIRED'); // the hook, not the task
  });

  it('rejects giving both expiresIn and expiresAt', async () => {
    const q = client();
    const error = await rejection(q.enqueue('noop', [], { expiresIn: 5, expiresAt: new Date() }));
    expect(error.message).toMatch(/not both/);
  });
});

describe('pause and resume', () => {
  it('a paused queue claims nothing on any cluster, shows as paused, and runs again once resumed', async () => {
    const q = client();
    const other = sibling(q);
    await other.pauseQueue();
    expect((await q.pausedQueues()).map((p) => p.queue)).toEqual([q.config.cluster]);
    const cluster = await start(q);
    const id = await q.enqueue('add', [20, 22]);
    await eventually(() => cluster.stat()?.paused === true, 'stat shows paused');
    // Several guard cycles (0.1 s each) pass without a claim.
    const until = Date.now() + 600;
    await eventually(() => Date.now() > until, 'time passed', 2000);
    expect(await q.queueSize()).toBe(1);
    expect(await q.fetch(id)).toBeNull();
    expect(await other.resumeQueue()).toBe(true);
    expect(await q.result(id, { wait: 10_000 })).toBe(42);
    expect(cluster.stat()?.paused).toBe(false);
    expect(await q.resumeQueue()).toBe(false);
  });
});

describe('progress and logs', () => {
  it('are readable while the task runs and kept with its record, bounded', async () => {
    const q = client();
    await start(q);
    const id = await q.enqueue('reports', [120, 1500]);
    await eventually(async () => (await q.progress(id))?.progress === 0.5, 'live progress while it runs');
    expect(await q.fetch(id)).toBeNull(); // still running: the live value came from the control store
    const record = await q.fetch(id, { wait: 10_000 });
    expect(record?.meta?.progress).toBe(1);
    expect(record?.meta?.logs).toHaveLength(100);
    expect(record?.meta?.droppedLogs).toBe(20);
    expect(record?.meta?.logs?.[0]).toMatchObject({ level: 'info', message: 'line 20', fields: { i: 20 } });
    expect((await q.progress(id))?.progress).toBe(1);
  });

  it('the record keeps the last report even when the task returns right after it', async () => {
    const q = client({ workers: 2, concurrency: 10 });
    await start(q);
    const ids = await q.enqueueMany(Array.from({ length: 40 }, () => ({ task: 'reports', args: [3] })));
    for (const id of ids) {
      const record = await q.fetch(id, { wait: 10_000 });
      expect(record?.meta?.progress).toBe(1);
      expect(record?.meta?.logs?.map((l) => l.message)).toEqual(['line 0', 'line 1', 'line 2']);
    }
  });

  it('reaches taskFinished events, and a too-large progress value fails the task with a typed error', async () => {
    const q = client();
    const seen: unknown[] = [];
    q.on('taskFinished', (event) => seen.push(event.progress));
    await start(q);
    const id = await q.enqueue('reports', [0]);
    await q.fetch(id, { wait: 10_000 });
    await eventually(() => seen.includes(1), 'event with progress');
    const bad = await q.fetch(await q.enqueue('hugeProgress', [], { maxAttempts: 1 }), { wait: 10_000 });
    expect(bad?.error?.code).toBe('TASKQ_INVALID_ARGUMENT');
    expect(bad?.error?.message).toMatch(/at most 4096 bytes/);
  });

  it('work in sync mode too', async () => {
    const q = client({ sync: true });
    const id = await q.enqueue('reports', [3]);
    expect((await q.fetch(id))?.meta).toMatchObject({ progress: 1, logs: [{ message: 'line 0' }, {}, {}] });
  });
});

describe('dead letters', () => {
  it('lists failures with no attempt left by func and code, and redrives them once, linked', async () => {
    const q = client();
    await start(q);
    const dead = await q.enqueue('fail', ['no disk'], { maxAttempts: 1 });
    const other = await q.enqueue('add', [1, 'x'], { maxAttempts: 1 });
    await q.fetch(dead, { wait: 10_000 });
    await q.fetch(other, { wait: 10_000 });
    await q.result(await q.enqueue('add', [1, 1]), { wait: 10_000 });
    const byCode = await q.deadLetters({ code: 'E_TEST' });
    expect(byCode.records.map((r) => r.id)).toEqual([dead]);
    expect((await q.deadLetters({ func: 'fail' })).records.map((r) => r.id)).toEqual([dead]);
    expect((await q.deadLetters()).records).toHaveLength(1); // add(1, 'x') returned '1x': not a failure

    const [redriven, second] = await Promise.all([q.redrive([dead]), q.redrive([dead])]);
    const all = [...(redriven ?? []), ...(second ?? [])];
    expect(all).toHaveLength(1);
    const record = await q.fetch(all[0]!.id, { wait: 10_000 });
    expect(record?.meta?.redrivenFrom).toBe(dead);
    expect(record?.args).toEqual(['no disk']);
    expect((await q.deadLetters()).records.map((r) => r.id)).toEqual([all[0]!.id]); // the redriven one failed again
  });

  it('redrive by filter', async () => {
    const q = client();
    await start(q);
    const ids = await q.enqueueMany(
      [1, 2, 3].map((n) => ({ task: 'fail', args: [`m${n}`], options: { maxAttempts: 1 } })),
    );
    for (const id of ids) await q.fetch(id, { wait: 10_000 });
    const done = await q.redrive({ func: 'fail', code: 'E_TEST' });
    expect(done.map((d) => d.from).sort()).toEqual([...ids].sort());
  });
});

describe('fan-in (group with then)', () => {
  it('runs the callback once with every result in input order', async () => {
    const q = client();
    await start(q);
    const group = await q.group(
      [5, 4, 3, 2, 1].map((n) => ({ task: 'sleep', args: [n * 20] })),
      { then: { task: 'collect', args: ['extra'] } },
    );
    expect(group.ids).toHaveLength(5);
    const result = await q.result<{ results: unknown[]; extra: unknown[] }>(group.callbackId, { wait: 15_000 });
    expect(result).toEqual({ results: [100, 80, 60, 40, 20], extra: ['extra'] });
    expect((await q.fetchGroup(group.group)).map((r) => r.id).sort()).toEqual([...group.ids].sort());
  });

  it('exactly once when the last members finish on different clusters at the same instant', async () => {
    const q = client({ workers: 2, concurrency: 10 });
    const other = sibling(q);
    const runs = tempFile();
    await start(q);
    await start(other);
    for (let round = 0; round < 5; round++) {
      const group = await q.group(
        Array.from({ length: 40 }, (_, i) => ({ task: 'add', args: [i, 0] })),
        { then: { task: 'collectOnce', args: [runs] } },
      );
      expect((await q.result<number[]>(group.callbackId, { wait: 15_000 }))?.[39]).toBe(39);
    }
    await eventually(() => linesOf(runs).length >= 5, 'callbacks ran');
    expect(linesOf(runs)).toEqual(Array(5).fill('run 40'));
  });

  it("a failed member: 'run' passes its failure in its slot, 'skip' saves the callback as failed", async () => {
    const q = client();
    await start(q);
    const members = [
      { task: 'add', args: [1, 1] },
      { task: 'fail', args: ['bad'], options: { maxAttempts: 1 } },
    ];
    const run = await q.group(members, { then: { task: 'collect' } });
    const ran = await q.result<{ results: unknown[] }>(run.callbackId, { wait: 15_000 });
    expect(ran?.results[0]).toBe(2);
    expect(ran?.results[1]).toMatchObject({ failed: true, id: run.ids[1], code: 'E_TEST', message: 'bad' });

    const skip = await q.group(members, { then: { task: 'collect' }, onFailure: 'skip' });
    const skipped = await q.fetch(skip.callbackId, { wait: 15_000 });
    expect(skipped?.error?.code).toBe('TASKQ_GROUP_MEMBER_FAILED');
    expect((await q.deadLetters({ code: 'TASKQ_GROUP_MEMBER_FAILED' })).records).toEqual([]);
  });

  it('needs `then`', async () => {
    const q = client();
    const error = await rejection(q.group([{ task: 'noop' }], {} as never));
    expect(error.code).toBe('TASKQ_INVALID_ARGUMENT');
  });
});

describe('a store without job control', () => {
  it('refuses each feature with TASKQ_UNSUPPORTED naming it', async () => {
    class PlainStore extends MemoryStore {
      override readonly capabilities = { stats: true, ttl: true, control: false };
    }
    const q = client({ store: new PlainStore() });
    for (const call of [
      () => q.enqueue('noop', [], { dedupKey: 'x' }),
      () => q.cancel('some-task'),
      () => q.pauseQueue(),
      () => q.redrive([]),
      () => q.group([{ task: 'noop' }], { then: { task: 'noop' } }),
    ]) {
      const error = await rejection(call());
      expect(isTaskqError(error, 'TASKQ_UNSUPPORTED' as never)).toBe(true);
      expect(error.message).toMatch(/capability `control`/);
    }
    expect(await q.queueSize()).toBe(0);
  });
});
