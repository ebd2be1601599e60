import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { Taskq } from '@taskq/core';
import { BROKERS, REDIS, type BrokerHarness, type RunningBroker } from './support/brokers.js';
import { ClusterProcesses, eventually } from './support/cluster-processes.js';

// The standing reliability matrix (docs/reliability.md), one row per broker in support/brokers.ts:
// - two cluster processes share a queue; one is killed with SIGKILL mid-run and a replacement starts: every task
//   ends with exactly one saved success, and executions are counted outside the store (a Redis hash) to report
//   duplicates — the tasks the killed cluster held when it died, run again after their lease;
// - where the test owns a durable server (harness.outage), it is restarted, and stopped for 10 s, mid-run: enqueue
//   fails with the typed error within its bound, and the cluster rides it out and finishes everything.
const TOTAL = Number(process.env.TASKQ_MATRIX_TASKS ?? 10_000);
const OUTAGE_TASKS = 2000;
const secret = randomBytes(16).toString('hex');
const counter = new Redis(REDIS);
const cleanups: Array<() => Promise<void>> = [];

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  await counter.quit();
}, 120_000);

async function run(harness: BrokerHarness): Promise<RunningBroker> {
  const broker = await harness.start();
  cleanups.push(() => broker.stop());
  Object.assign(process.env, broker.env ?? {});
  return broker;
}

/** A client on the harness's broker and store, and the checks the rows share. */
function setUp(broker: RunningBroker, total: number) {
  const countsKey = `taskq-matrix-counts-${randomBytes(4).toString('hex')}`;
  cleanups.push(async () => void (await counter.del(countsKey)));
  const client = new Taskq({
    name: 'crash',
    secretKey: secret,
    broker: broker.brokerUrl,
    store: broker.storeUrl,
    retry: 2,
    logLevel: 'warn',
  });
  cleanups.push(() => client.close());
  const processes = new ClusterProcesses(broker.brokerUrl, secret, {
    ...broker.env,
    TASKQ_RETRY: '2',
    TASKQ_STORE_URL: broker.storeUrl,
  });
  cleanups.push(() => processes.stopAll());
  const enqueue = () =>
    client.enqueueMany(Array.from({ length: total }, (_, i) => ({ task: 'counted', args: [i, countsKey] })));
  const saved = async () => (await (await client.runtime()).store.list({ limit: 1 })).total;
  const succeeded = async () => (await (await client.runtime()).store.list({ success: true, limit: 1 })).total;
  /** Exactly one saved success per task, nothing left on the broker; returns the duplicate executions. */
  const verify = async (ids: string[]): Promise<number> => {
    const runtime = await client.runtime();
    const states = await runtime.store.getStates(ids);
    expect(states.size).toBe(total);
    expect([...states.values()].filter((state) => !state.success)).toEqual([]);
    expect(await saved()).toBe(total);
    await eventually(async () => (await runtime.broker.lockSize()) === 0, 'every delivery acknowledged', 60_000);
    expect(await runtime.broker.queueSize()).toBe(0);
    const counts = Object.values(await counter.hgetall(countsKey)).map(Number);
    expect(counts).toHaveLength(total);
    expect(counts.every((n) => n >= 1)).toBe(true);
    return counts.reduce((sum, n) => sum + n, 0) - total;
  };
  return { client, processes, enqueue, saved, succeeded, verify };
}

describe.each(BROKERS)('reliability matrix: $name', (harness) => {
  it(`one of two clusters killed with SIGKILL during ${TOTAL} tasks, then replaced: each ends with exactly one result`, async () => {
    const broker = await run(harness);
    const { processes, enqueue, saved, succeeded, verify } = setUp(broker, TOTAL);
    const ids = await enqueue();
    const [victim] = await Promise.all([processes.start(), processes.start()]);
    await eventually(async () => (await saved()) >= TOTAL / 4, 'a quarter of the results', 120_000);
    await processes.stop(victim, 'SIGKILL');
    const atKill = await saved();
    expect(atKill).toBeLessThan(TOTAL); // it really died mid-run
    await processes.start();
    await eventually(async () => (await succeeded()) >= TOTAL, 'every result after the replacement', 170_000);
    const duplicates = await verify(ids);
    // Reported, not asserted: a task may run twice only when the killed cluster held it (its lease then lapsed).
    console.log(JSON.stringify({ matrix: harness.name, row: 'kill', tasks: TOTAL, savedAtKill: atKill, duplicates }));
  }, 300_000);
});

// Outages need a server the test owns and that keeps its data across a restart (today: Redis with AOF).
describe.each(BROKERS.filter((harness) => harness.outage))('reliability matrix, outages: $name', (harness) => {
  it.each([
    { outage: 'restarted', seconds: 0 },
    { outage: 'stopped for 10 s', seconds: 10 },
  ])(
    'the server $outage mid-run: the cluster rides it out and nothing is lost',
    async ({ seconds }) => {
      const broker = await run(harness);
      const { processes, enqueue, saved, succeeded, verify } = setUp(broker, OUTAGE_TASKS);
      const ids = await enqueue();
      const cluster = await processes.start();
      await eventually(async () => (await saved()) >= OUTAGE_TASKS / 4, 'a quarter of the results', 60_000);
      await broker.outage!.down();
      const outageStarted = Date.now();
      if (seconds > 0) {
        // An enqueue during the outage fails with the typed error within its bound, instead of waiting forever.
        const during = new Taskq({
          name: 'crash',
          secretKey: secret,
          broker: broker.brokerUrl,
          store: 'memory:', // only the broker is under test here
          brokerTimeout: 1,
        });
        await expect(during.enqueue('counted', [-1, 'none'])).rejects.toMatchObject({
          code: 'TASKQ_BROKER_UNAVAILABLE',
        });
        await during.close();
        // The outage itself lasts `seconds` (a deliberate wait, not a poll).
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, seconds * 1000 - (Date.now() - outageStarted))));
      }
      await broker.outage!.up();
      await eventually(async () => (await succeeded()) >= OUTAGE_TASKS, 'every result after the outage', 120_000);
      const duplicates = await verify(ids);
      expect(cluster.exitCode).toBeNull(); // it rode out the outage
      console.log(JSON.stringify({ matrix: harness.name, row: 'outage', tasks: OUTAGE_TASKS, seconds, duplicates }));
    },
    180_000,
  );
});
