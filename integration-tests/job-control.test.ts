import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { Taskq } from '@taskq/core';
import { BROKERS, REDIS, type RunningBroker } from './support/brokers.js';
import { ClusterProcesses, eventually } from './support/cluster-processes.js';

// Job control across real processes, on every broker of the matrix (each harness's broker and store): dedup
// keys raced by 4 processes, cancel of a running task on another process, pause/resume seen by every cluster,
// expiry, dead letters and redrive, and fan-in whose members finish on two cluster processes.
const RACER = fileURLToPath(new URL('./support/dedup-racer.mjs', import.meta.url));
const secret = randomBytes(16).toString('hex');
const counter = new Redis(REDIS);
const cleanups: Array<() => Promise<void>> = [];

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  await counter.quit();
}, 120_000);

/** Starts `count` racer processes, releases them together, and returns what each enqueue returned per key. */
async function race(broker: RunningBroker, count: number, keys: number, rounds: number) {
  const env = {
    ...process.env,
    ...broker.env,
    TASKQ_URL: broker.brokerUrl,
    TASKQ_STORE_URL: broker.storeUrl,
    TASKQ_SECRET: secret,
    RACE_KEYS: String(keys),
    RACE_ROUNDS: String(rounds),
  };
  const children = Array.from({ length: count }, () =>
    spawn(process.execPath, [RACER], { env, stdio: ['pipe', 'pipe', 'inherit'] }),
  );
  const outputs = children.map(
    (child) =>
      new Promise<Record<string, string[]>>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
        child.once('exit', (code) =>
          code === 0 ? resolve(JSON.parse(out) as Record<string, string[]>) : reject(new Error(`racer exited ${code}`)),
        );
      }),
  );
  // Let every process load and connect before the start signal.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  for (const child of children) child.stdin.end('go\n');
  return Promise.all(outputs);
}

for (const harness of BROKERS) {
  describe(`job control on ${harness.name} (${harness.server})`, () => {
    it('dedup, fan-in, cancel, pause, expiry and dead letters across processes', async () => {
      const broker = await harness.start();
      cleanups.push(() => broker.stop());
      Object.assign(process.env, broker.env ?? {});
      const client = new Taskq({
        name: 'crash',
        secretKey: secret,
        broker: broker.brokerUrl,
        store: broker.storeUrl,
        logLevel: 'warn',
      });
      cleanups.push(() => client.close());
      const runtime = await client.runtime();

      // 1. Dedup: 4 processes enqueue each of 10 keys 3 times at once — exactly one task per key.
      const results = await race(broker, 4, 10, 3);
      for (let k = 0; k < 10; k++) {
        const ids = new Set(results.flatMap((r) => r[`order-${k}`] ?? []));
        expect(ids.size, `order-${k}`).toBe(1);
      }
      const racedIds = new Set(results.flatMap((r) => Object.values(r).flat()));
      expect(racedIds.size).toBe(10);

      // Two cluster processes share the queue from here on.
      const processes = new ClusterProcesses(broker.brokerUrl, secret, {
        ...broker.env,
        TASKQ_RETRY: '5',
        TASKQ_STORE_URL: broker.storeUrl,
      });
      cleanups.push(() => processes.stopAll());
      await Promise.all([processes.start(), processes.start()]);
      await eventually(
        async () => (await runtime.store.getStates([...racedIds])).size === 10,
        'raced tasks ran',
        60_000,
      );

      // 2. Fan-in: 40 members on the two clusters (whichever claims them); the callback runs once, results in order.
      const countsKey = `taskq-jc-${randomBytes(4).toString('hex')}`;
      cleanups.push(async () => void (await counter.del(countsKey)));
      const group = await client.group(
        Array.from({ length: 40 }, (_, i) => ({ task: 'workWhere', args: [i] })),
        { then: { task: 'collectCounted', args: [countsKey] } },
      );
      const collected = await client.result<[number, number][]>(group.callbackId, { wait: 60_000 });
      expect(collected?.map(([index]) => index)).toEqual(Array.from({ length: 40 }, (_, i) => i));
      expect(await counter.hget(countsKey, 'callback')).toBe('1');

      // 3. Cancel a running task from this process; live progress is readable here while it runs.
      const running = await client.enqueue('untilCancelled', []);
      await eventually(async () => (await client.progress(running))?.progress !== undefined, 'live progress', 30_000);
      expect((await client.progress(running))?.progress).toEqual({ stage: 'waiting' });
      expect(await client.cancel(running)).toBe(true);
      const cancelled = await client.fetch(running, { wait: 30_000 });
      expect(cancelled?.error?.code).toBe('TASKQ_TASK_CANCELLED');
      expect(cancelled?.meta?.logs?.map((l) => l.message)).toEqual(['waiting for cancel']);

      // 4. Pause: both clusters stop claiming; waiting tasks can be cancelled or expire meanwhile; resume.
      await client.pauseQueue('crash');
      await eventually(
        async () => (await runtime.stats!.getStats()).filter((s) => s.queue === 'crash' && s.paused).length === 2,
        'both clusters paused',
        30_000,
      );
      const plain = await client.enqueue('work', [1]);
      const expiring = await client.enqueue('work', [2], { expiresIn: 300 });
      const toCancel = await client.enqueue('work', [3]);
      await client.cancel(toCancel);
      const pausedAt = Date.now();
      await eventually(async () => Date.now() - pausedAt > 1500, 'several guard cycles', 5000);
      expect(await client.fetch(plain)).toBeNull();
      await client.resumeQueue('crash');
      expect(await client.result(plain, { wait: 30_000 })).toBe(1);
      expect((await client.fetch(expiring, { wait: 30_000 }))?.error?.code).toBe('TASKQ_TASK_EXPIRED');
      expect((await client.fetch(toCancel, { wait: 30_000 }))?.error?.code).toBe('TASKQ_TASK_CANCELLED');

      // 5. Dead letters: a task out of attempts is listed by code and redriven once, linked to it.
      const dead = await client.enqueue('failsWith', ['E_JC'], { maxAttempts: 1 });
      await client.fetch(dead, { wait: 30_000 });
      expect((await client.deadLetters({ code: 'E_JC' })).records.map((r) => r.id)).toEqual([dead]);
      const [redriven] = await client.redrive({ code: 'E_JC' });
      expect(redriven?.from).toBe(dead);
      const again = await client.fetch(redriven!.id, { wait: 30_000 });
      expect(again?.meta?.redrivenFrom).toBe(dead);
      expect(await client.redrive([dead])).toEqual([]);
    }, 240_000);
  });
}
