import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { Taskq } from '@taskq/core';
import { FAUXQS_CREDENTIALS, FAUXQS_REGION, FauxqsServer } from '@taskq/test-servers/sqs';
import { ClusterProcesses, eventually } from './support/cluster-processes.js';

// A cluster process on SQS (fauxqs 1.9.2 on 127.0.0.1, through @aws-sdk/client-sqs) killed with SIGKILL mid-run:
// no task is lost. SQS keeps no results, so the store is Redis (a unique key prefix per run).
const REDIS = process.env.TASKQ_REDIS_URL ?? 'redis://127.0.0.1:6379';
const TOTAL = 2000;
const secret = randomBytes(16).toString('hex');
const run = randomBytes(4).toString('hex');
const prefix = `taskq-sqs-crash-${run}`;
const storeUrl = `${REDIS}?prefix=${prefix}`;
// Credentials come from the SDK's default chain: the environment, for this process and the cluster processes.
const awsEnv = {
  AWS_ACCESS_KEY_ID: FAUXQS_CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: FAUXQS_CREDENTIALS.secretAccessKey,
  AWS_EC2_METADATA_DISABLED: 'true',
  // The SDK warns once per process that its releases after January 2027 need Node 22; the pinned one runs on 20.
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};
Object.assign(process.env, awsEnv);

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

describe('SQS broker: crashes lose nothing', () => {
  it(`a cluster killed with SIGKILL mid-run: each of ${TOTAL} tasks ends with exactly one saved result`, async () => {
    const server = await FauxqsServer.start();
    cleanups.push(() => server.stop());
    const url = `sqs://${FAUXQS_REGION}/run-${run}-?endpoint=${encodeURIComponent(server.endpoint)}`;

    const client = new Taskq({ name: 'crash', secretKey: secret, broker: url, store: storeUrl, logLevel: 'warn' });
    cleanups.push(() => client.close());
    const ids = await client.enqueueMany(Array.from({ length: TOTAL }, (_, i) => ({ task: 'work', args: [i] })));
    expect(new Set(ids).size).toBe(TOTAL);
    const runtime = await client.runtime();
    const saved = async () => (await runtime.store.list({ limit: 1 })).total;
    const succeeded = async () => (await runtime.store.list({ success: true, limit: 1 })).total;

    // 2 s visibility timeout, so the killed cluster's deliveries come back quickly.
    processes = new ClusterProcesses(url, secret, { ...awsEnv, TASKQ_RETRY: '2', TASKQ_STORE_URL: storeUrl });
    const first = await processes.start();
    await eventually(async () => (await saved()) >= TOTAL / 4, 'a quarter of the results', 60_000);
    await processes.stop(first, 'SIGKILL');
    const atKill = await saved();
    expect(atKill).toBeLessThan(TOTAL); // it really died mid-run
    const inFlightAtKill = await client.lockSize();

    const second = await processes.start();
    await eventually(async () => (await succeeded()) >= TOTAL, 'every result after the restart', 120_000);

    // Every task has exactly one record, a success with its own result.
    expect(await saved()).toBe(TOTAL);
    const records = await Promise.all(ids.map((id) => runtime.store.get(id)));
    expect(records.filter((r) => r === null)).toHaveLength(0);
    expect(records.filter((r) => !r?.success).map((r) => r?.error)).toEqual([]);
    const results = await Promise.all(ids.map((id) => client.result<number>(id)));
    expect(results).toEqual(Array.from({ length: TOTAL }, (_, i) => i));
    // The killed cluster's deliveries became visible again and were delivered; nothing is left on the queue.
    await eventually(
      async () => (await client.queueSize()) === 0 && (await client.lockSize()) === 0,
      'every message deleted on SQS',
      30_000,
    );
    expect(inFlightAtKill).toBeGreaterThan(0); // the kill really left in-flight messages behind to redeliver
    await processes.stop(second, 'SIGTERM');
  }, 240_000);
});
