import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { makeRecord, uniqueName } from '@taskq/conformance';
import { createBroker, createStore } from '@taskq/core';
import { RedisBroker, RedisStore, brokerFactory, parseRedisUrl, storeFactory } from '../src/index.js';
import { runScript } from '../src/scripts.js';
import { freePort, RedisServer } from './support/redis-server.js';

const url = process.env.TASKQ_REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = uniqueName('taskq-redis-test');
const open: Array<{ close(): Promise<void> }> = [];

function track<T extends { close(): Promise<void> }>(value: T): T {
  open.push(value);
  return value;
}

afterEach(async () => {
  for (const item of open.splice(0)) await item.close();
});

afterAll(async () => {
  const redis = new Redis(url);
  const keys = await redis.keys(`{${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

describe('claims', () => {
  it('a claim resent after its reply was lost returns the same deliveries instead of leasing a second batch', async () => {
    const broker = track(new RedisBroker({ url, prefix, queue: 'resent', retrySeconds: 30 }));
    await broker.enqueueMany(['a', 'b', 'c', 'd'].map((payload) => ({ payload })));
    const { ready, msgs, leases, deliveries, delayed, pready, prio, seq, claims, claimExpiry } = broker.keys;
    const keys = [ready, msgs, leases, deliveries, delayed, pready, prio, seq, claims, claimExpiry];
    // What ioredis does after a reconnect: the same command, same arguments, sent again.
    const [first] = await runScript<[unknown[], number]>(broker.redis, 'claim', keys, [2, 30_000, 'lost-reply']);
    const [again] = await runScript<[unknown[], number]>(broker.redis, 'claim', keys, [2, 30_000, 'lost-reply']);
    expect(first).toHaveLength(6);
    expect(again).toEqual(first);
    expect(await broker.lockSize()).toBe(2);
    expect(await broker.queueSize()).toBe(2);
    // A new claim (a new token) takes the next ones.
    const next = await broker.dequeue({ max: 2 });
    expect(next.map((d) => d.payload)).toEqual(['c', 'd']);
    await broker.deleteQueue();
    expect(await broker.redis.keys(`{${prefix}:resent}*`)).toEqual([]);
  });
});

describe('key layout', () => {
  it('keeps every key of a queue under one hash tag', async () => {
    const broker = track(new RedisBroker({ url, prefix, queue: 'layout', retrySeconds: 30 }));
    await broker.enqueue('now');
    await broker.enqueue('later', { delayMs: 60_000 });
    await broker.dequeue();
    await broker.enqueue('waiting');
    const keys = (await broker.redis.keys(`{${prefix}:layout}*`)).sort();
    expect(keys).toEqual(
      ['claim-expiry', 'claims', 'delayed', 'deliveries', 'leases', 'msgs', 'ready'].map(
        (name) => `{${prefix}:layout}:${name}`,
      ),
    );
    expect(await broker.redis.type(broker.keys.ready)).toBe('list');
    expect(await broker.redis.type(broker.keys.leases)).toBe('zset');
    expect(await broker.redis.hlen(broker.keys.msgs)).toBe(3);
    expect(await broker.queueSize()).toBe(2);
    expect(await broker.lockSize()).toBe(1);
    await broker.deleteQueue();
    expect(await broker.redis.keys(`{${prefix}:layout}*`)).toEqual([]);
  });

  it('keeps results of a namespace under one hash tag, and stats under the prefix', async () => {
    const store = track(new RedisStore({ url, prefix, namespace: 'ns1' }));
    await store.saveMany([makeRecord({ group: 'g' })]);
    const keys = await store.redis.keys(`*${prefix}*`);
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) expect(key.startsWith(`{${prefix}:results:ns1}:`)).toBe(true);
    await store.clear();
    expect(await store.redis.keys(`{${prefix}:results:ns1}*`)).toEqual([]);
  });

  it('takes the prefix from the URL', async () => {
    expect(parseRedisUrl('redis://127.0.0.1:6379/2?prefix=app1')).toEqual({
      url: 'redis://127.0.0.1:6379/2',
      prefix: 'app1',
    });
    const broker = track(await brokerFactory.create(`${url}?prefix=${prefix}`, { queue: 'q', retrySeconds: 5 }));
    expect((broker as RedisBroker).prefix).toBe(prefix);
  });

  it('resolves redis:// URLs through core', async () => {
    const broker = track(await createBroker(`${url}?prefix=${prefix}`, { queue: 'core', retrySeconds: 5 }));
    // core imports the built package, this test the sources: compare by name.
    expect(broker.constructor.name).toBe('RedisBroker');
    expect((await broker.info()).server).toMatch(/^redis \d+\./);
    const store = await createStore(`${url}?prefix=${prefix}`, { namespace: 'core' });
    expect(store?.constructor.name).toBe('RedisStore');
    track(store!);
    expect(storeFactory.schemes).toContain('rediss');
  });

  it('reports an unreachable server with TASKQ_BROKER_UNAVAILABLE', async () => {
    const port = await freePort();
    const broker = track(
      new RedisBroker({ url: `redis://127.0.0.1:${port}`, queue: 'q', retrySeconds: 5, pingTimeoutMs: 300 }),
    );
    await expect(broker.ping()).rejects.toMatchObject({ code: 'TASKQ_BROKER_UNAVAILABLE' });
  });
});

describe('blocking dequeue', () => {
  it('notices an expired lease while blocked', async () => {
    const broker = track(new RedisBroker({ url, prefix, queue: uniqueName('lapse'), retrySeconds: 1 }));
    await broker.enqueue('lapsed');
    const [first] = await broker.dequeue();
    expect(first?.deliveries).toBe(1);
    const started = Date.now();
    const [again] = await broker.dequeue({ waitMs: 10_000 });
    expect(again).toMatchObject({ payload: 'lapsed', deliveries: 2 });
    expect(Date.now() - started).toBeLessThan(5000);
    await broker.deleteQueue();
  });
});

describe('priorities', () => {
  it('orders by priority, FIFO within one, keeps it through a delay, and wakes blocked consumers', async () => {
    const queue = uniqueName('prio');
    const broker = track(new RedisBroker({ url, prefix, queue, retrySeconds: 30 }));
    const producer = track(new RedisBroker({ url, prefix, queue, retrySeconds: 30 }));
    const waiting = broker.dequeue({ max: 10, waitMs: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await producer.enqueue('woken', { priority: 5 });
    expect((await waiting).map((d) => d.payload)).toEqual(['woken']);

    await producer.enqueueMany([
      { payload: 'low', options: { priority: -1 } },
      { payload: 'plain-1' },
      { payload: 'high-1', options: { priority: 9 } },
      { payload: 'plain-2' },
      { payload: 'high-2', options: { priority: 9 } },
      { payload: 'mid', options: { priority: 3 } },
      { payload: 'delayed-top', options: { priority: 99, delayMs: 300 } },
    ]);
    expect(await broker.queueSize()).toBe(7);
    // listQueued shows the 7 waiting and the 1 leased message.
    expect(await broker.listQueued({ limit: 10 })).toHaveLength(8);
    const first = await broker.dequeue({ max: 10 });
    expect(first.map((d) => d.payload)).toEqual(['high-1', 'high-2', 'mid', 'plain-1', 'plain-2', 'low']);
    const [late] = await broker.dequeue({ max: 10, waitMs: 5000 });
    expect(late?.payload).toBe('delayed-top');
    await broker.deleteQueue();
    expect(await broker.redis.keys(`{${prefix}:${queue}}*`)).toEqual([]);
  });
});

describe('server restart', () => {
  let server: RedisServer | undefined;

  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  it('an idle consumer blocks in Redis instead of polling', async () => {
    server = await RedisServer.start();
    const broker = track(new RedisBroker({ url: server.url, queue: 'idle', retrySeconds: 30 }));
    await broker.ping();
    const admin = new Redis({ port: server.port });
    await admin.config('RESETSTAT');
    expect(await broker.dequeue({ waitMs: 3000 })).toEqual([]);
    const stats = await admin.info('commandstats');
    await admin.quit();
    const calls = (name: string) => Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
    // One claim per blocking wait of at most a second, not a loop of claims.
    expect(calls('evalsha') + calls('eval')).toBeLessThanOrEqual(5);
    expect(calls('blmove')).toBeGreaterThanOrEqual(1);
  });

  it('reconnects after a restart; calls made during the outage wait and then succeed', async () => {
    server = await RedisServer.start();
    const options = { url: server.url, queue: 'restart', retrySeconds: 30 };
    const broker = track(new RedisBroker(options));
    const store = track(new RedisStore({ url: options.url, namespace: 'restart' }));
    await broker.enqueue('before');
    expect((await broker.dequeue()).map((d) => d.payload)).toEqual(['before']);

    await server.kill();
    // A consumer blocked during the outage, and an enqueue issued while Redis is down.
    const waiting = broker.dequeue({ max: 10, waitMs: 20_000 });
    const enqueued = broker.enqueue('during');
    const saved = store.saveMany([makeRecord({ id: 'a'.repeat(32) })]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await server.start();

    expect(typeof (await enqueued)).toBe('string');
    expect((await waiting).map((d) => d.payload)).toEqual(['during']);
    expect(await saved).toEqual([1]);
    expect((await store.get('a'.repeat(32)))?.id).toBe('a'.repeat(32));
    await broker.ping();
    await store.ping();
  }, 60_000);
});
