import type { BrokerFactory, StoreFactory } from '@taskq/core';
import { RedisBroker } from './redis-broker.js';
import { RedisStore } from './redis-store.js';

/** `broker: 'redis://host:6379/0?prefix=taskq'` resolves here. */
export const brokerFactory: BrokerFactory = {
  schemes: ['redis', 'rediss'],
  create: (url, options) => new RedisBroker({ ...options, url }),
};

/** `store: 'redis://…'`: results in Redis (Django Q's cached results, with TTL). */
export const storeFactory: StoreFactory = {
  schemes: ['redis', 'rediss'],
  create: (url, options) => new RedisStore({ url, namespace: options.namespace }),
};
