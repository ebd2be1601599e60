import type { BrokerFactory, StoreFactory } from '@taskq/core';
import { MongoBroker } from './mongo-broker.js';
import { MONGO_SCHEMES } from './options.js';
import { MongoStore } from './mongo-store.js';

export { MongoBroker, mongoBrokerCapabilities, type MongoBrokerOptions, type QueueDoc } from './mongo-broker.js';
export { MongoStore, mongoStoreCapabilities, type MongoStoreOptions, type ResultDoc } from './mongo-store.js';
export type { ScheduleDoc } from './schedules.js';
export { MongoConnection, INDEXES, type CollectionName } from './connection.js';
export {
  DEFAULT_DATABASE,
  DEFAULT_PREFIX,
  DEFAULT_URL,
  MONGO_SCHEMES,
  parseMongoUrl,
  type MongoConnectionOptions,
} from './options.js';

/** `broker: 'mongodb://host:27017/taskq?prefix=taskq'` (or `mongodb+srv://…`) resolves here. */
export const brokerFactory: BrokerFactory = {
  schemes: MONGO_SCHEMES,
  create: (url, options) => new MongoBroker({ ...options, url }),
};

/** `store: 'mongodb://…'`: results, stats and schedules in MongoDB; a broker on the same URL shares the client. */
export const storeFactory: StoreFactory = {
  schemes: MONGO_SCHEMES,
  create: (url) => new MongoStore({ url }),
};
