import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { Taskq } from '@taskq/core';
import { ClusterProcesses, eventually } from './support/cluster-processes.js';
import { RedisServer } from '../packages/redis/test/support/redis-server.js';

// A cluster process on Redis killed with SIGKILL, and a Redis server restarted mid-run: no task is lost.
const REDIS = process.env.TASKQ_REDIS_URL ?? 'redis://127.0.0.1:6379';
const TOTAL = 2000;
const secret = randomBytes(16).toString('hex');

const clusters: ClusterProcesses[] = [];
const cleanups: Array<() => Promise<void>> = [];

/** Cluster processes on `url` with a 2 s lease, so a killed cluster's tasks come back quickly. */
function clusterProcesses(url: string): ClusterProcesses {
  const processes = new ClusterProcesses(url, secret, { TASKQ_RETRY: '2' });
  clusters.push(processes);
  return processes;
}

/** A client on `url` (with a unique key prefix) that enqueues TOTAL tasks and can check their results. */
async function setUp(url: string) {
  const client = new Taskq({ name: 'crash', secretKey: secret, broker: url, store: url, logLevel: 'warn' });
  cleanups.push(() => client.close());
  const ids = await client.enqueueMany(Array.from({ length: TOTAL }, (_, i) => ({ task: 'work', args: [i] })));
  expect(new Set(ids).size).toBe(TOTAL);
  const runtime = await client.runtime();
  const saved = async () => (await runtime.store.list({ limit: 1 })).total;
  // A failed attempt (e.g. a worker thread lost) is not acknowledged, so it is redelivered until it succeeds.
  const succeeded = async () => (await runtime.store.list({ success: true, limit: 1 })).total;
  /** Every task has exactly one record, and it is a success with its own result. */
  const verify = async () => {
    expect(await saved()).toBe(TOTAL);
    const records = await Promise.all(ids.map((id) => runtime.store.get(id)));
    const missing = records.filter((r) => r === null).length;
    expect(missing).toBe(0);
    expect(records.filter((r) => !r?.success).map((r) => r?.error)).toEqual([]);
    const results = await Promise.all(ids.map((id) => client.result<number>(id)));
    expect(results).toEqual(Array.from({ length: TOTAL }, (_, i) => i));
    expect(await client.queueSize()).toBe(0);
    expect(await client.lockSize()).toBe(0);
  };
  return { client, saved, succeeded, verify };
}

async function deleteKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url);
  const keys = await redis.keys(`{${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
}

afterAll(async () => {
  await Promise.all(clusters.map((processes) => processes.stopAll()));
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
}, 60_000);

describe('Redis broker: crashes lose nothing', () => {
  it(`a cluster killed with SIGKILL mid-run: each of ${TOTAL} tasks ends with exactly one saved result`, async () => {
    const prefix = `taskq-crash-${randomBytes(4).toString('hex')}`;
    const url = `${REDIS}?prefix=${prefix}`;
    cleanups.push(() => deleteKeys(REDIS, prefix));
    const { saved, succeeded, verify } = await setUp(url);
    const processes = clusterProcesses(url);

    const first = await processes.start();
    await eventually(async () => (await saved()) >= TOTAL / 4, 'a quarter of the results', 60_000);
    await processes.stop(first, 'SIGKILL');
    const atKill = await saved();
    expect(atKill).toBeLessThan(TOTAL); // it really died mid-run

    const second = await processes.start();
    await eventually(async () => (await succeeded()) >= TOTAL, 'every result after the restart', 90_000);
    // Leases of the killed cluster's tasks have lapsed and been redelivered; nothing is left behind.
    await verify();
    await processes.stop(second, 'SIGTERM');
  }, 180_000);

  it(`the Redis server restarted mid-run: each of ${TOTAL} tasks ends with exactly one saved result`, async () => {
    const server = await RedisServer.start({ persist: true });
    cleanups.push(() => server.stop());
    const url = `${server.url}?prefix=taskq-restart`;
    const { saved, succeeded, verify } = await setUp(url);
    const processes = clusterProcesses(url);

    const cluster = await processes.start();
    await eventually(async () => (await saved()) >= TOTAL / 4, 'a quarter of the results', 60_000);
    const beforeOutage = await saved();
    await server.kill();
    expect(beforeOutage).toBeLessThan(TOTAL); // it really happened mid-run
    await new Promise((resolve) => setTimeout(resolve, 500)); // an outage, not just a blip
    await server.start();

    await eventually(async () => (await succeeded()) >= TOTAL, 'every result after the Redis restart', 90_000);
    await verify();
    expect(cluster.exitCode).toBeNull(); // the cluster rode out the outage
    await processes.stop(cluster, 'SIGTERM');
  }, 180_000);
});
