export { RedisBroker, redisBrokerCapabilities, type RedisBrokerOptions } from './redis-broker.js';
export { RedisStore, type RedisStoreOptions } from './redis-store.js';
export { brokerFactory, storeFactory } from './factories.js';
export { brokerKeys, statKeys, storeTag, queueTag, type BrokerKeys } from './keys.js';
export { defaultRedisOptions, parseRedisUrl, type RedisConnectionOptions } from './options.js';
