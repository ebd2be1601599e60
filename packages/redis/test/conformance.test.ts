import { afterAll } from 'vitest';
import { Redis } from 'ioredis';
import { runBrokerSuite, runResultStoreSuite, runScheduleStoreSuite, uniqueName } from '@taskq/conformance';
import { RedisBroker, RedisStore, redisBrokerCapabilities } from '../src/index.js';
import { RedisServer } from './support/redis-server.js';

const url = process.env.TASKQ_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** One prefix per run keeps this run's keys apart from other test runs on the same Redis. */
const prefix = uniqueName('taskq-conformance');

runBrokerSuite({
  name: 'RedisBroker',
  capabilities: redisBrokerCapabilities,
  create: async (options) => new RedisBroker({ ...options, url, prefix }),
});

runResultStoreSuite({
  name: 'RedisStore',
  capabilities: { stats: true, ttl: true, control: true },
  create: async () => new RedisStore({ url, prefix, namespace: uniqueName('ns') }),
});

// Every test gets its own prefix: the suite needs an empty schedule store.
runScheduleStoreSuite({
  name: 'RedisStore',
  create: async () => {
    const store = new RedisStore({ url, prefix: uniqueName(prefix), namespace: 'ns' });
    return {
      store,
      cleanup: async () => {
        const keys = await store.redis.keys(`{${store.prefix}:*`);
        if (keys.length > 0) await store.redis.del(...keys);
        await store.close();
      },
    };
  },
});

// The broker suite once more against a redis-server this test owns, so it can restart it.
const server = await RedisServer.start();

runBrokerSuite({
  name: 'RedisBroker (own server, restarted)',
  capabilities: redisBrokerCapabilities,
  create: async (options) => new RedisBroker({ ...options, url: server.url }),
  restart: async () => {
    await server.kill();
    await server.start();
  },
});

afterAll(async () => {
  await server.stop();
  const redis = new Redis(url);
  const keys = await redis.keys(`{${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});
