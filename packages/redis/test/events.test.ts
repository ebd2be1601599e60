import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { uniqueName, waitFor } from '@taskq/conformance';
import { Taskq, type TaskFinishedEvent } from '@taskq/core';
import { RedisBroker } from '../src/index.js';

const url = process.env.TASKQ_REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = uniqueName('taskq-events-test');
const brokerUrl = `${url}?prefix=${prefix}`;
const TASKS = fileURLToPath(new URL('./support/tasks.mjs', import.meta.url));
const BIN = fileURLToPath(new URL('./cli/bin.js', import.meta.resolve('@taskq/core')));
const secretKey = 'redis-events-test';

/** `taskq cluster` in its own process: the "worker host"; this test process plays the web server. */
let cluster: ChildProcess;
let output = '';
let q: Taskq;

beforeAll(async () => {
  cluster = spawn(process.execPath, [BIN, 'cluster', '--workers', '1'], {
    env: { ...process.env, TASKQ_BROKER_URL: brokerUrl, TASKQ_SECRET_KEY: secretKey, TASKQ_TASKS: TASKS },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  cluster.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await waitFor(() => /cluster default started/.test(output), { timeoutMs: 30_000, message: output });
  q = new Taskq({ broker: brokerUrl, secretKey, logLevel: 'silent' });
});

afterAll(async () => {
  await q?.close();
  if (cluster && cluster.exitCode === null) {
    cluster.kill('SIGTERM');
    await new Promise((resolve) => cluster.once('exit', resolve));
  }
  const redis = new Redis(url);
  const keys = await redis.keys(`{${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

describe('events across processes over Redis pub/sub', () => {
  it('q.on(taskFinished | taskFailed) hears what a cluster in another process finished', async () => {
    const finished: TaskFinishedEvent[] = [];
    const failed: TaskFinishedEvent[] = [];
    q.on('taskFinished', (event) => finished.push(event));
    q.on('taskFailed', (event) => failed.push(event));
    await q.eventsReady();
    const ok = await q.enqueue('add', [40, 2], { taskName: 'sum', group: 'g1' });
    const bad = await q.enqueue('fail', ['kaput'], { taskName: 'broken', maxAttempts: 1 });
    await waitFor(() => finished.length >= 2, { timeoutMs: 30_000, message: 'two taskFinished events' });
    expect(finished.find((e) => e.id === ok)).toEqual({
      id: ok,
      name: 'sum',
      func: 'add',
      group: 'g1',
      cluster: 'default',
      success: true,
      attempt: 1,
      final: true,
    });
    expect(failed).toEqual([expect.objectContaining({ id: bad, name: 'broken', success: false, final: true })]);
  });

  it('result(id, { wait }) wakes on the event instead of polling the store', async () => {
    const runtime = await q.runtime();
    let reads = 0;
    const get = runtime.store.get.bind(runtime.store);
    runtime.store.get = (idOrName: string) => {
      reads += 1;
      return get(idOrName);
    };
    try {
      const id = await q.enqueue('sleep', [1500]);
      expect(await q.result(id, { wait: 30_000 })).toBe(1500);
      // One read before, one after the event, and at most the one-a-second safety re-checks in between;
      // polling (5 ms backing off to 100 ms) reads the store about twenty times for a 1.5 s task.
      expect(reads).toBeLessThanOrEqual(4);
    } finally {
      runtime.store.get = get;
    }
  });

  it('publishes one message per saved batch, and a broker delivers to every subscriber', async () => {
    const a = new RedisBroker({ url, prefix: uniqueName(prefix), queue: 'q', retrySeconds: 30 });
    const b = new RedisBroker({ url, prefix: a.prefix, queue: 'other', retrySeconds: 30 });
    try {
      const heard: TaskFinishedEvent[][] = [];
      const stop = await b.subscribeFinished((events) => heard.push(events));
      const event = {
        id: 'x',
        name: 'n',
        func: 'f',
        group: null,
        cluster: 'q',
        success: true,
        attempt: 1,
        final: true,
      };
      await a.publishFinished([event, { ...event, id: 'y' }]);
      await waitFor(() => heard.length === 1, { message: 'the batch' });
      expect(heard[0]!.map((e) => e.id)).toEqual(['x', 'y']);
      await stop();
    } finally {
      await a.close();
      await b.close();
    }
  });
});
