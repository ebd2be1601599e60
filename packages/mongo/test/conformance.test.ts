import { afterAll } from 'vitest';
import { runBrokerSuite, runResultStoreSuite, runScheduleStoreSuite } from '@taskq/conformance';
import { MongoBroker, MongoStore, mongoBrokerCapabilities, mongoStoreCapabilities } from '../src/index.js';
import { freshDatabase, startMongo } from './support/mongo-server.js';

// Through the real mongodb 7 driver over a loopback socket, against the wire-protocol test server
// (or TASKQ_MONGO_URL when set).
const mongo = await startMongo();
const brokerDb = freshDatabase('broker');

afterAll(async () => {
  await mongo.stop();
});

runBrokerSuite({
  name: 'MongoBroker',
  capabilities: mongoBrokerCapabilities,
  create: async (options) => new MongoBroker({ ...options, url: `${mongo.url}/${brokerDb}` }),
  restart: mongo.restart,
  // the declared maximum (16 MiB less a margin) is what the suite sends
});

runResultStoreSuite({
  name: 'MongoStore',
  capabilities: mongoStoreCapabilities,
  create: async () => new MongoStore({ url: `${mongo.url}/${freshDatabase('store')}` }),
});

runScheduleStoreSuite({
  name: 'MongoStore',
  create: async () => {
    const store = new MongoStore({ url: `${mongo.url}/${freshDatabase('schedules')}` });
    return { store, cleanup: () => store.close() };
  },
});
