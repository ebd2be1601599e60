import { afterEach, describe, expect, it } from 'vitest';
import {
  BaseBroker,
  HmacSigner,
  Taskq,
  MemoryBroker,
  MemoryStore,
  type ClusterHandle,
  type SaveOptions,
  type TaskRecord,
} from '@taskq/core';
import { eventually, linesOf, makeClient, tempFile } from './helpers.js';

let client: Taskq | null = null;
let cluster: ClusterHandle | null = null;
afterEach(async () => {
  await cluster?.stop({ deadlineMs: 2000 });
  await client?.close();
  client = cluster = null;
});

/** A memory store that refuses some records the way a real store refuses a row (too large, invalid). */
class RefusingStore extends MemoryStore {
  constructor(private readonly refuses: (record: TaskRecord) => boolean) {
    super();
  }

  protected override _saveMany(records: readonly TaskRecord[], options: SaveOptions): Promise<number[]> {
    const refused = records.find((record) => this.refuses(record));
    if (refused) return Promise.reject(new Error(`value too large for column "result" (task ${refused.id})`));
    return super._saveMany(records, options);
  }
}

/** A memory broker whose server "goes away": while away, every dequeue and acknowledge hangs until `back()`. */
class UnreachableBroker extends MemoryBroker {
  #down = false;
  #waiters: (() => void)[] = [];
  dequeueCalls = 0;

  goAway(): void {
    this.#down = true;
  }

  back(): void {
    this.#down = false;
    for (const wake of this.#waiters.splice(0)) wake();
  }

  #gate(): Promise<void> {
    return this.#down ? new Promise((resolve) => this.#waiters.push(resolve)) : Promise.resolve();
  }

  protected override async _dequeue(max: number, waitMs: number, signal?: AbortSignal) {
    this.dequeueCalls++;
    await this.#gate();
    return super._dequeue(max, waitMs, signal);
  }

  protected override async _acknowledge(receipt: string) {
    await this.#gate();
    return super._acknowledge(receipt);
  }
}

/** A logger that keeps `level message` lines. */
function recordingLogger(lines: string[]) {
  return {
    debug: () => undefined,
    info: (message: string) => lines.push(`info ${message}`),
    warn: (message: string) => lines.push(`warn ${message}`),
    error: (message: string) => lines.push(`error ${message}`),
  };
}

describe('one poisoned record never wedges the monitor', () => {
  it('saves the tasks behind a record the store refuses, and keeps that task as a TASKQ_RESULT_NOT_SAVED failure', async () => {
    const store = new RefusingStore((record) => (record.result?.length ?? 0) > 1000);
    client = makeClient({ store, workers: 1, concurrency: 4, maxAttempts: 1 });
    cluster = await client.cluster({ handleSignals: false }).start();
    const big = await client.enqueue('echo', ['x'.repeat(5000)]);
    const small = await Promise.all(Array.from({ length: 30 }, (_, i) => client!.enqueue('add', [i, 1])));
    for (const [i, id] of small.entries()) expect(await client.result(id, { wait: 20_000 })).toBe(i + 1);
    const refused = await client.fetch(big, { wait: 20_000 });
    expect(refused).toMatchObject({ success: false, error: { code: 'TASKQ_RESULT_NOT_SAVED' } });
    expect(refused?.error?.message).toContain('value too large');
    // Nothing is left behind: the refused task was acknowledged by its failure policy (maxAttempts 1).
    const runtime = await client.runtime();
    await eventually(async () => (await runtime.broker.lockSize()) === 0, 'every delivery acknowledged');
  });

  it('leaves a record even the failure substitute cannot save to the broker, and carries on with the rest', async () => {
    const store = new RefusingStore((record) => record.func === 'echo');
    client = makeClient({ store, workers: 1, concurrency: 4, retry: 30 });
    cluster = await client.cluster({ handleSignals: false }).start();
    const poisoned = await client.enqueue('echo', ['never saved']);
    const small = await Promise.all(Array.from({ length: 20 }, (_, i) => client!.enqueue('add', [i, 2])));
    for (const [i, id] of small.entries()) expect(await client.result(id, { wait: 20_000 })).toBe(i + 2);
    const runtime = await client.runtime();
    expect(await runtime.store.get(poisoned)).toBeNull();
    // Not acknowledged: the broker still holds it for a later delivery.
    expect(await runtime.broker.lockSize()).toBe(1);
  });
});

describe('an unreachable broker', () => {
  it('fails a call with TASKQ_BROKER_UNAVAILABLE after callTimeoutMs instead of waiting forever', async () => {
    const broker = new UnreachableBroker({ queue: 'down', retrySeconds: 5, callTimeoutMs: 200 });
    broker.goAway();
    await expect(broker.dequeue({ max: 1, waitMs: 100 })).rejects.toMatchObject({
      code: 'TASKQ_BROKER_UNAVAILABLE',
      message: expect.stringContaining('brokerTimeout'),
    });
    expect(broker).toBeInstanceOf(BaseBroker);
    await broker.close();
  });

  it('logs an outage once when it starts and once when it ends, and pulls again by itself', async () => {
    const broker = new UnreachableBroker({ queue: 'outage', retrySeconds: 30, callTimeoutMs: 100 });
    const lines: string[] = [];
    client = makeClient({ broker, secretKey: 'reliability', logger: recordingLogger(lines), workers: 1 });
    cluster = await client.cluster({ handleSignals: false }).start();
    broker.goAway();
    await eventually(() => lines.some((line) => line.includes('broker unreachable')), 'the outage to be logged');
    const callsAtStart = broker.dequeueCalls;
    await eventually(() => broker.dequeueCalls >= callsAtStart + 3, 'several retries during the outage');
    expect(lines.filter((line) => line.includes('broker unreachable'))).toHaveLength(1);
    expect(cluster.stat()?.brokerUnreachableSince).toBeTypeOf('number');
    broker.back();
    await eventually(() => lines.some((line) => line.includes('broker reachable again')), 'the recovery to be logged');
    const id = await client.enqueue('add', [2, 3]);
    expect(await client.result(id, { wait: 10_000 })).toBe(5);
    expect(cluster.stat()?.brokerUnreachableSince).toBeNull();
  });

  it('does not hold a stop past its limit while the broker never answers', async () => {
    // The broker hangs without ever failing (a host that accepts the connection and never replies).
    const broker = new UnreachableBroker({ queue: 'stop-down', retrySeconds: 30, callTimeoutMs: 3_600_000 });
    const lines: string[] = [];
    client = makeClient({
      broker,
      secretKey: 'reliability',
      logger: recordingLogger(lines),
      workers: 1,
      stopTimeout: 0.5,
    });
    cluster = await client.cluster({ handleSignals: false }).start();
    const id = await client.enqueue('sleep', [300]);
    await eventually(() => (cluster?.stat()?.running ?? 0) === 1, 'the task to start');
    broker.goAway();
    // Its result cannot be acknowledged and the pusher's dequeue never returns: the stop ends by its own limit.
    await cluster.stop();
    cluster = null;
    expect(lines).toContainEqual(expect.stringMatching(/^warn stop limit passed/));
    expect(lines).toContainEqual(expect.stringMatching(/^info cluster .* stopped/));
    expect(await (await client.runtime()).store.get(id)).not.toBeNull();
  });
});

describe('bad input is a typed error, never a crash or a nonsense record', () => {
  it.each([
    ['timeout', -1],
    ['timeout', 0],
    ['timeout', 'soon'],
    ['maxAttempts', 1.5],
    ['priority', Number.NaN],
    ['delay', -5],
    ['runAt', new Date('not a date')],
  ])('rejects %s = %s at enqueue, naming the option', async (option, value) => {
    client = makeClient({ sync: true });
    await expect(client.enqueue('add', [1, 2], { [option]: value })).rejects.toMatchObject({
      code: 'TASKQ_INVALID_ARGUMENT',
      message: expect.stringContaining(`\`${option}\` must be`),
    });
  });

  it('checks every chain link at enqueue, not when its turn comes', async () => {
    client = makeClient({ sync: true });
    const steps = [
      { task: 'add', args: [1, 2] },
      { task: 'add', args: [3, 4], options: { timeout: -1 } },
    ];
    await expect(client.chain(steps)).rejects.toMatchObject({ code: 'TASKQ_INVALID_ARGUMENT' });
  });

  it('refuses arguments nested too deeply to serialize with a typed error', async () => {
    client = makeClient({ sync: true });
    let deep: unknown[] = [];
    for (let i = 0; i < 100_000; i++) deep = [deep];
    await expect(client.enqueue('echo', [deep])).rejects.toMatchObject({
      code: 'TASKQ_INVALID_ARGUMENT',
      message: expect.stringContaining('nested too deeply'),
    });
  });

  it('rejects and records a signed package nested too deeply to decode, and keeps working', async () => {
    client = makeClient({ secretKey: 'deep', workers: 1 });
    cluster = await client.cluster({ handleSignals: false }).start();
    const runtime = await client.runtime();
    const text = `{"id":"${'a'.repeat(32)}","name":"deep","func":"echo","enqueuedAt":1,"args":[${'['.repeat(100_000)}${']'.repeat(100_000)}]}`;
    await runtime.broker.enqueue(new HmacSigner({ secretKey: 'deep', salt: runtime.config.name }).sign(text));
    const id = await client.enqueue('add', [20, 22]);
    expect(await client.result(id, { wait: 10_000 })).toBe(42);
    await eventually(() => (cluster?.stat()?.rejected ?? 0) === 1, 'the deep package to be rejected');
    const { records } = await runtime.store.list({ success: false });
    expect(records[0]?.error).toMatchObject({ code: 'TASKQ_BAD_PACKAGE', message: expect.stringContaining('nested') });
  });
});

describe('replayed, foreign and forged packages', () => {
  it('acknowledges a package pushed again after its task finished, without running it again', async () => {
    const runs = tempFile();
    client = makeClient({ secretKey: 'replay', workers: 1 });
    const runtime = await client.runtime();
    const id = await client.enqueue('countRun', [runs, 'once']);
    const [queued] = await runtime.broker.listQueued();
    cluster = await client.cluster({ handleSignals: false }).start();
    expect(await client.result(id, { wait: 10_000 })).toBe('once');
    await runtime.broker.enqueue(queued!.payload);
    await eventually(() => cluster?.stat()?.replayed === 1, 'the replay to be dropped');
    const after = await client.enqueue('countRun', [runs, 'next']);
    expect(await client.result(after, { wait: 10_000 })).toBe('next');
    expect(linesOf(runs)).toEqual(['once', 'next']);
    expect(await runtime.broker.queueSize()).toBe(0);
  });

  it("files a package signed with another secretKey under its task id, so the sender's fetch() shows why", async () => {
    const name = `wrongkey${process.pid}`;
    client = makeClient({ name, secretKey: 'right', workers: 1 });
    cluster = await client.cluster({ handleSignals: false }).start();
    const sender = new Taskq({ name, broker: 'memory:', secretKey: 'wrong', logLevel: 'silent' });
    try {
      const id = await sender.enqueue('add', [1, 2]);
      const record = await client.fetch(id, { wait: 10_000 });
      expect(record).toMatchObject({ id, success: false, func: '(rejected package)' });
      expect(record?.error?.code).toBe('TASKQ_BAD_SIGNATURE');
    } finally {
      await sender.close();
    }
  });

  it('keeps the rejection records of a forged flood bounded and rejects them in bulk', async () => {
    client = makeClient({ secretKey: 'flood', workers: 1, bulk: 250 });
    const runtime = await client.runtime();
    const forged = Array.from({ length: 1500 }, (_, i) => ({ payload: `forged-${i}:1:c2lnbmF0dXJl` }));
    await runtime.broker.enqueueMany(forged);
    const legit = await client.enqueue('add', [1, 1]);
    cluster = await client.cluster({ handleSignals: false }).start();
    expect(await client.result(legit, { wait: 20_000 })).toBe(2);
    await eventually(() => cluster?.stat()?.rejected === 1500, 'every forged package rejected');
    const rejections = async () =>
      (await runtime.store.list({ func: '(rejected package)', success: false, limit: 1 })).total;
    await eventually(async () => (await rejections()) === 1000, 'rejection records pruned to 1,000', 30_000);
    expect(await runtime.broker.queueSize()).toBe(0);
  });
});

describe('hooks survive their thread', () => {
  it("runs a hook again on another thread when its thread is terminated for another task's timeout", async () => {
    const file = tempFile();
    client = makeClient({ workers: 1, concurrency: 2 });
    cluster = await client.cluster({ handleSignals: false }).start();
    const id = await client.enqueue('countRun', [file, 'task'], { hook: 'slowHook' });
    expect(await client.result(id, { wait: 10_000 })).toBe('task');
    await eventually(() => linesOf(file).includes('hook-start'), 'the hook to start');
    // Shares the hook's only thread, runs away, and gets the thread terminated at its timeout.
    await client.enqueue('spinWith', [tempFile()], { timeout: 0.3, maxAttempts: 1 });
    await eventually(() => linesOf(file).includes('hook-done'), 'the hook to finish', 30_000);
    expect(linesOf(file).filter((line) => line === 'hook-start').length).toBeGreaterThanOrEqual(2);
  });
});
