import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { Taskq } from '@taskq/core';
import { IronMqServer } from '@taskq/test-servers/ironmq';
import { ClusterProcesses, eventually } from './support/cluster-processes.js';

// A cluster process on IronMQ (the local IronMQ v3 server, over HTTP) killed with SIGKILL mid-run: no task is lost.
// IronMQ keeps no results, so the store is Redis (a unique key prefix per run).
const REDIS = process.env.TASKQ_REDIS_URL ?? 'redis://127.0.0.1:6379';
const TOTAL = 2000;
const secret = randomBytes(16).toString('hex');
const prefix = `taskq-ironmq-crash-${randomBytes(4).toString('hex')}`;
const storeUrl = `${REDIS}?prefix=${prefix}`;

const cleanups: Array<() => Promise<void>> = [];
let processes: ClusterProcesses | undefined;

afterAll(async () => {
  await processes?.stopAll();
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  const redis = new Redis(REDIS);
  const keys = await redis.keys(`{${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
}, 60_000);

describe('IronMQ broker: crashes lose nothing', () => {
  it(`a cluster killed with SIGKILL mid-run: each of ${TOTAL} tasks ends with exactly one saved result`, async () => {
    // 2 s reservations so a killed cluster's tasks come back quickly (IronMQ's documented minimum is 30 s).
    const server = await IronMqServer.start({ minTimeoutSeconds: 1 });
    cleanups.push(() => server.stop());
    const url = server.url();

    const client = new Taskq({ name: 'crash', secretKey: secret, broker: url, store: storeUrl, logLevel: 'warn' });
    cleanups.push(() => client.close());
    const ids = await client.enqueueMany(Array.from({ length: TOTAL }, (_, i) => ({ task: 'work', args: [i] })));
    expect(new Set(ids).size).toBe(TOTAL);
    const runtime = await client.runtime();
    const saved = async () => (await runtime.store.list({ limit: 1 })).total;
    const succeeded = async () => (await runtime.store.list({ success: true, limit: 1 })).total;

    processes = new ClusterProcesses(url, secret, { TASKQ_RETRY: '2', TASKQ_STORE_URL: storeUrl });
    const first = await processes.start();
    await eventually(async () => (await saved()) >= TOTAL / 4, 'a quarter of the results', 60_000);
    await processes.stop(first, 'SIGKILL');
    const atKill = await saved();
    expect(atKill).toBeLessThan(TOTAL); // it really died mid-run
    const reservedAtKill = [...(server.queues.get('crash')?.messages.values() ?? [])].filter(
      (m) => m.reservationId !== null,
    ).length;

    const second = await processes.start();
    await eventually(async () => (await succeeded()) >= TOTAL, 'every result after the restart', 90_000);

    // Every task has exactly one record, a success with its own result.
    expect(await saved()).toBe(TOTAL);
    const records = await Promise.all(ids.map((id) => runtime.store.get(id)));
    expect(records.filter((r) => r === null)).toHaveLength(0);
    expect(records.filter((r) => !r?.success).map((r) => r?.error)).toEqual([]);
    const results = await Promise.all(ids.map((id) => client.result<number>(id)));
    expect(results).toEqual(Array.from({ length: TOTAL }, (_, i) => i));
    // The killed cluster's reservations lapsed and were delivered again; nothing is left on the queue.
    await eventually(
      async () => (server.queues.get('crash')?.messages.size ?? 0) === 0,
      'every message deleted on IronMQ',
      30_000,
    );
    expect(await client.queueSize()).toBe(0);
    expect(await client.lockSize()).toBe(0);
    expect(reservedAtKill).toBeGreaterThan(0); // the kill really left reservations behind to redeliver
    await processes.stop(second, 'SIGTERM');
  }, 180_000);
});
