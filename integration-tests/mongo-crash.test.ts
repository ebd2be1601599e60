import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { Taskq } from '@taskq/core';
import { MongoTestServer } from '@taskq/test-servers/mongo';
import { ClusterProcesses, eventually } from './support/cluster-processes.js';

// kill -9 of a cluster process while it works through 2,000 tasks on MongoDB (broker and store both
// mongodb://) loses none. MongoDB is the wire-protocol test server from @taskq/test-servers, started here
// on a spare loopback port (no MongoDB server installs on these machines); TASKQ_MONGO_URL points the
// test at a real one instead.
const TOTAL = 2000;
const secret = randomBytes(16).toString('hex');
const server = process.env.TASKQ_MONGO_URL ? undefined : await MongoTestServer.start();
const base = (process.env.TASKQ_MONGO_URL ?? server!.url).replace(/\/$/, '');
const url = `${base}/taskq_crash_${process.pid}_${randomBytes(3).toString('hex')}`;
const clusters = new ClusterProcesses(url, secret, { TASKQ_RETRY: '2' });
const client = new Taskq({ name: 'crash', secretKey: secret, broker: url, store: url, logLevel: 'warn' });

afterAll(async () => {
  await clusters.stopAll();
  const runtime = await client.runtime();
  await runtime.broker.deleteQueue().catch(() => undefined);
  await client.close();
  await server?.stop();
}, 60_000);

describe('MongoDB broker and store: a cluster killed with SIGKILL', () => {
  it(`loses none of ${TOTAL} tasks: each ends with exactly one saved result`, async () => {
    const ids = await client.enqueueMany(Array.from({ length: TOTAL }, (_, i) => ({ task: 'work', args: [i] })));
    expect(new Set(ids).size).toBe(TOTAL);
    const runtime = await client.runtime();
    const saved = async () => (await runtime.store.list({ limit: 1 })).total;
    const succeeded = async () => (await runtime.store.list({ success: true, limit: 1 })).total;

    const first = await clusters.start();
    await eventually(async () => (await saved()) >= TOTAL / 4, 'a quarter of the results', 60_000);
    await clusters.stop(first, 'SIGKILL');
    // it really died mid-run, holding leased tasks that only lease expiry can give back
    expect(await saved()).toBeLessThan(TOTAL);
    expect(await runtime.broker.lockSize()).toBeGreaterThan(0);

    const second = await clusters.start();
    await eventually(async () => (await succeeded()) >= TOTAL, 'every result after the restart', 120_000);
    await eventually(
      async () => (await runtime.broker.queueSize()) + (await runtime.broker.lockSize()) === 0,
      'an empty queue',
      30_000,
    );
    await clusters.stop(second, 'SIGTERM');

    // one document per task id (the _id), every one a success with its own value
    const { records, total } = await runtime.store.list({ limit: TOTAL * 2 });
    expect(total).toBe(TOTAL);
    expect(new Set(records.map((r) => r.id))).toEqual(new Set(ids));
    expect(records.filter((r) => !r.success).map((r) => r.error)).toEqual([]);
    const results = await Promise.all(ids.map((id) => client.result<number>(id)));
    expect(results).toEqual(Array.from({ length: TOTAL }, (_, i) => i));
  }, 240_000);
});
