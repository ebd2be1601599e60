import type { BrokerFactory, StoreFactory } from '@taskq/core';
import { RedisBroker } from './redis-broker.js';
import { RedisStore } from './redis-store.js';

export { RedisBroker, redisBrokerCapabilities, type RedisBrokerOptions } from './redis-broker.js';
export { RedisStore, type RedisStoreOptions } from './redis-store.js';
export { brokerKeys, scheduleTag, statKeys, storeTag, queueTag, type BrokerKeys } from './keys.js';
export {
  defaultClusterOptions,
  defaultRedisOptions,
  isCluster,
  parseRedisUrl,
  type ParsedRedisUrl,
  type RedisClient,
  type RedisConnectionOptions,
  type WaitOptions,
} from './options.js';

/**
 * URL schemes of this package: one server (`redis`, `rediss`) or a Redis Cluster (`redis+cluster`,
 * `rediss+cluster`, seed nodes separated by commas).
 */
const SCHEMES = ['redis', 'rediss', 'redis+cluster', 'rediss+cluster'];

/** `broker: 'redis://host:6379/0?prefix=taskq'` (or `redis+cluster://h1:7000,h2:7001`) resolves here. */
export const brokerFactory: BrokerFactory = {
  schemes: SCHEMES,
  create: (url, options) => new RedisBroker({ ...options, url }),
};

/** `store: 'redis://…'`: results (Django Q's cached results, with TTL) and schedules in Redis. */
export const storeFactory: StoreFactory = {
  schemes: SCHEMES,
  create: (url, options) => new RedisStore({ url, namespace: options.namespace }),
};
