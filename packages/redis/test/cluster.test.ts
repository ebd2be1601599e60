import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Cluster } from 'ioredis';
import { makeRecord, runBrokerSuite, runResultStoreSuite, runScheduleStoreSuite, uniqueName } from '@taskq/conformance';
import { ErrorCodes, createBroker, createStore } from '@taskq/core';
import { RedisBroker, RedisStore, isCluster, parseRedisUrl, redisBrokerCapabilities } from '../src/index.js';
import { guard } from '../src/errors.js';
import { RedisClusterServer } from './support/redis-cluster.js';

// The conformance suites against a real Redis Cluster (3 masters, 3 replicas) that this file starts on spare
// loopback ports. Queues and result namespaces get unique names, so their hash tags land on all three masters.
const cluster = await RedisClusterServer.start();
const prefix = uniqueName('taskq-cluster');
const open: Array<{ close(): Promise<void> }> = [];

afterEach(async () => {
  for (const item of open.splice(0)) await item.close();
});

afterAll(async () => {
  await cluster.stop();
});

runBrokerSuite({
  name: 'RedisBroker on a Redis Cluster',
  capabilities: redisBrokerCapabilities,
  create: async (options) => new RedisBroker({ ...options, url: cluster.url(prefix) }),
});

runResultStoreSuite({
  name: 'RedisStore on a Redis Cluster',
  capabilities: { stats: true, ttl: true, control: true },
  create: async () => new RedisStore({ url: cluster.url(prefix), namespace: uniqueName('ns') }),
});

// A fresh prefix per test: the suite needs an empty schedule store (the cluster is thrown away afterwards).
runScheduleStoreSuite({
  name: 'RedisStore on a Redis Cluster',
  create: async () => {
    const store = new RedisStore({ url: cluster.url(uniqueName(prefix)), namespace: 'ns' });
    return { store, cleanup: () => store.close() };
  },
});

describe('Redis Cluster connection', () => {
  it('parses redis+cluster:// URLs (seed nodes, credentials, prefix) and refuses a database number', () => {
    const parsed = parseRedisUrl('rediss+cluster://user:p%40ss@10.0.0.1:7000,10.0.0.2:7001,[::1]:7002?prefix=app');
    expect(parsed.prefix).toBe('app');
    expect(parsed.cluster).toEqual({
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
        { host: '::1', port: 7002 },
      ],
      tls: true,
      username: 'user',
      password: 'p@ss',
    });
    expect(parseRedisUrl('redis://127.0.0.1:7000?cluster=1&prefix=x').cluster?.nodes).toEqual([
      { host: '127.0.0.1', port: 7000 },
    ]);
    expect(parseRedisUrl('redis://127.0.0.1:6379?cluster=0').cluster).toBeUndefined();
    expect(() => parseRedisUrl('redis+cluster://127.0.0.1:7000/2')).toThrow(
      expect.objectContaining({ code: 'TASKQ_CONFIG_INVALID' }),
    );
  });

  it('resolves through core with redis://…?cluster=1 and takes a Cluster client the caller keeps', async () => {
    const [first] = cluster.nodes;
    const url = `redis://127.0.0.1:${first!.port}?cluster=1&prefix=${prefix}`;
    const broker = await createBroker(url, { queue: uniqueName('core'), retrySeconds: 30 });
    open.push(broker);
    expect(isCluster((broker as RedisBroker).redis)).toBe(true);
    expect((await broker.info()).server).toMatch(/^redis 7.* cluster$/);
    const store = await createStore(url, { namespace: uniqueName('core') });
    open.push(store!);
    await store!.saveMany([makeRecord({ name: 'via-core' })]);
    expect((await store!.get('via-core'))?.name).toBe('via-core');

    const client = new Cluster([{ host: '127.0.0.1', port: first!.port }]);
    const own = new RedisBroker({ client, prefix, queue: uniqueName('own'), retrySeconds: 30 });
    await own.enqueue('x');
    expect((await own.dequeue()).map((d) => d.payload)).toEqual(['x']);
    await own.close();
    expect(await client.ping()).toBe('PONG'); // close() left the caller's client open
    client.disconnect();
  });

  it('keeps every key of a queue, a result namespace, schedules and control values on one slot each', async () => {
    const queue = uniqueName('slots');
    const broker = new RedisBroker({ url: cluster.url(prefix), queue, retrySeconds: 30 });
    const store = new RedisStore({ url: cluster.url(prefix), namespace: queue });
    open.push(broker, store);
    await broker.enqueue('now');
    await broker.enqueue('later', { delayMs: 60_000 });
    await broker.enqueue('high', { priority: 5 });
    await broker.dequeue();
    await store.saveMany([makeRecord({ group: 'g' }), makeRecord({ success: false })]);
    await store.claimValue('dedup:a', '1', 60_000);
    await store.addMember('fanin:a', 'm', null);
    const node = cluster.running()[0]!;
    for (const tag of [`{${prefix}:${queue}}`, `{${prefix}:results:${queue}}`, `{${prefix}:control}`]) {
      expect(Number(await cluster.command(node.port, 'CLUSTER', 'KEYSLOT', tag))).toBeGreaterThanOrEqual(0);
    }
    // clear() runs on the namespace's own master (a client-side KEYS would read a random node).
    await store.clear();
    expect(await store.list({ limit: 10 })).toMatchObject({ total: 0 });
    await broker.purgeQueue();
    expect(await broker.queueSize()).toBe(0);
  });
});

describe('wait: WAIT for replicas after writes that matter', () => {
  it('acknowledged enqueues, acks and saves wait for one replica; asking for more than exist is a typed error', async () => {
    const queue = uniqueName('wait');
    const broker = new RedisBroker({
      url: cluster.url(prefix),
      queue,
      retrySeconds: 30,
      wait: { replicas: 1, timeoutMs: 2000 },
    });
    const store = new RedisStore({
      url: cluster.url(prefix),
      namespace: queue,
      wait: { replicas: 1, timeoutMs: 2000 },
    });
    open.push(broker, store);
    const ids = await broker.enqueueMany([{ payload: 'a' }, { payload: 'b' }]);
    expect(ids).toHaveLength(2);
    const deliveries = await broker.dequeue({ max: 2 });
    await broker.acknowledgeMany(deliveries.map((d) => d.receipt));
    expect(await broker.queueSize()).toBe(0);
    await store.saveMany([makeRecord({ name: 'waited' })]);
    expect((await store.get('waited'))?.name).toBe('waited');

    // Each master has one replica: waiting for two never succeeds, and says so after the timeout.
    const greedy = new RedisBroker({
      url: cluster.url(prefix),
      queue,
      retrySeconds: 30,
      wait: { replicas: 2, timeoutMs: 200 },
    });
    open.push(greedy);
    const started = Date.now();
    await expect(greedy.enqueue('c')).rejects.toMatchObject({
      code: 'TASKQ_BROKER_UNAVAILABLE',
      message: expect.stringMatching(/1 of 2 replicas within 200 ms/),
    });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(
      () => new RedisBroker({ url: cluster.url(prefix), queue, retrySeconds: 1, wait: { replicas: 0, timeoutMs: 1 } }),
    ).toThrow(expect.objectContaining({ code: 'TASKQ_CONFIG_INVALID' }));
  });
});

describe('cluster replies that mean "not now"', () => {
  const reply = (message: string) => Object.assign(new Error(message), { name: 'ReplyError' });

  it('CLUSTERDOWN, TRYAGAIN, READONLY, … are outages (typed, retried by the cluster); other replies pass through', async () => {
    for (const message of [
      'CLUSTERDOWN The cluster is down',
      'TRYAGAIN Multiple keys request during rehashing of slot',
      "READONLY You can't write against a read only replica.",
      'MASTERDOWN Link with MASTER is down',
      'LOADING Redis is loading the dataset in memory',
    ]) {
      await expect(
        guard(
          ErrorCodes.STORE_UNAVAILABLE,
          'store',
          () => false,
          () => Promise.reject(reply(message)),
        ),
      ).rejects.toMatchObject({ code: 'TASKQ_STORE_UNAVAILABLE' });
    }
    const bug = reply('ERR wrong number of arguments');
    await expect(
      guard(
        ErrorCodes.BROKER_UNAVAILABLE,
        'broker',
        () => false,
        () => Promise.reject(bug),
      ),
    ).rejects.toBe(bug);
  });
});
