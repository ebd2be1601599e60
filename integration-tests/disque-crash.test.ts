import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { Taskq } from '@taskq/core';
import { DisqueCluster } from '@taskq/test-servers/disque';
import { ClusterProcesses, eventually } from './support/cluster-processes.js';

// Cluster processes on Disque (the local two-node Disque server from @taskq/test-servers; Disque keeps no
// results, so they go to Redis): a cluster killed with SIGKILL, and the Disque node a cluster talks to
// stopped mid-run. No task is lost.
const REDIS = process.env.TASKQ_REDIS_URL ?? 'redis://127.0.0.1:6379';
const TOTAL = 2000;
const secret = randomBytes(16).toString('hex');

const clusters: ClusterProcesses[] = [];
const cleanups: Array<() => Promise<void>> = [];

async function startDisque(): Promise<DisqueCluster> {
  const disque = await DisqueCluster.start({ nodes: 2 });
  cleanups.push(() => disque.stop());
  return disque;
}

/** Results in Redis under a prefix of their own. */
function storeUrl(): string {
  const prefix = `taskq-disque-crash-${randomBytes(4).toString('hex')}`;
  cleanups.push(async () => {
    const redis = new Redis(REDIS);
    const keys = await redis.keys(`{${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });
  return `${REDIS}?prefix=${prefix}`;
}

/** Cluster processes with a 2 s lease (RETRY 2), so a killed cluster's tasks come back quickly. */
function clusterProcesses(url: string, store: string): ClusterProcesses {
  const processes = new ClusterProcesses(url, secret, { TASKQ_RETRY: '2', TASKQ_STORE_URL: store });
  clusters.push(processes);
  return processes;
}

/** A client that enqueues TOTAL tasks on Disque and checks their results in the store. */
async function setUp(url: string, store: string) {
  // Disque fixes a job's RETRY when it is added: the producer's `retry` is the lease the clusters get.
  const client = new Taskq({ name: 'crash', secretKey: secret, broker: url, store, retry: 2, logLevel: 'warn' });
  cleanups.push(() => client.close());
  const ids = await client.enqueueMany(Array.from({ length: TOTAL }, (_, i) => ({ task: 'work', args: [i] })));
  expect(new Set(ids).size).toBe(TOTAL);
  const runtime = await client.runtime();
  const saved = async () => (await runtime.store.list({ limit: 1 })).total;
  const succeeded = async () => (await runtime.store.list({ success: true, limit: 1 })).total;
  /** Every task has exactly one record, a success with its own result; Disque ends up holding nothing. */
  const verify = async () => {
    expect(await saved()).toBe(TOTAL);
    const records = await Promise.all(ids.map((id) => runtime.store.get(id)));
    expect(records.filter((r) => r === null).length).toBe(0);
    expect(records.filter((r) => !r?.success).map((r) => r?.error)).toEqual([]);
    const results = await Promise.all(ids.map((id) => client.result<number>(id)));
    expect(results).toEqual(Array.from({ length: TOTAL }, (_, i) => i));
    // A result is saved before its job is acknowledged: the last ACKJOBs may still be on their way.
    await eventually(
      async () => (await client.queueSize()) === 0 && (await client.lockSize()) === 0,
      'nothing left queued or active on Disque',
      10_000,
    );
  };
  return { saved, succeeded, verify };
}

afterAll(async () => {
  await Promise.all(clusters.map((processes) => processes.stopAll()));
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
}, 60_000);

// The SIGKILL row for Disque (and every broker) is in matrix.test.ts; this file keeps the lost node.
describe('Disque broker: a lost node loses nothing', () => {
  it(`the Disque node the cluster talks to is stopped mid-run: the cluster carries on with the other`, async () => {
    const disque = await startDisque();
    const store = storeUrl();
    // Default replication: with two nodes every job has a copy on both, which is what survives a node.
    const { saved, succeeded, verify } = await setUp(disque.url, store);
    const processes = clusterProcesses(disque.url, store);

    const cluster = await processes.start();
    await eventually(async () => (await saved()) >= TOTAL / 4, 'a quarter of the results', 60_000);
    const first = disque.nodes[0]!; // first in the URL: the node every connection starts on
    expect(first.connections.size).toBeGreaterThan(0);
    await first.stop();
    expect(await saved()).toBeLessThan(TOTAL); // it really happened mid-run

    await eventually(async () => (await succeeded()) >= TOTAL, 'every result after the node stopped', 90_000);
    await verify();
    expect(cluster.exitCode).toBeNull(); // the cluster rode out the lost node
    expect(first.running).toBe(false);
    expect(disque.nodes[1]!.connections.size).toBeGreaterThan(0);
    await processes.stop(cluster, 'SIGTERM');
  }, 180_000);
});
