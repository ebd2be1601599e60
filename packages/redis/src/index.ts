import type { BrokerFactory, StoreFactory } from '@taskq/core';
import { RedisBroker } from './redis-broker.js';
import { RedisStore } from './redis-store.js';

export { RedisBroker, redisBrokerCapabilities, type RedisBrokerOptions } from './redis-broker.js';
export { RedisStore, type RedisStoreOptions } from './redis-store.js';
export { brokerKeys, scheduleTag, statKeys, storeTag, queueTag, type BrokerKeys } from './keys.js';
export { defaultRedisOptions, parseRedisUrl, type RedisConnectionOptions } from './options.js';

/** `broker: 'redis://host:6379/0?prefix=taskq'` resolves here. */
export const brokerFactory: BrokerFactory = {
  schemes: ['redis', 'rediss'],
  create: (url, options) => new RedisBroker({ ...options, url }),
};

/** `store: 'redis://…'`: results (Django Q's cached results, with TTL) and schedules in Redis. */
export const storeFactory: StoreFactory = {
  schemes: ['redis', 'rediss'],
  create: (url, options) => new RedisStore({ url, namespace: options.namespace }),
};
