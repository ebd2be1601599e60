import { afterAll } from 'vitest';
import { runBrokerSuite } from '@taskq/conformance';
import { sqsBrokerCapabilities, sqsFifoBrokerCapabilities } from '../src/index.js';
import { brokerOn, FauxqsServer } from './support/fauxqs.js';

// fauxqs 1.9.2 on 127.0.0.1 (a spare port), through the real SDK over HTTP.
const server = await FauxqsServer.start();

runBrokerSuite({
  name: 'SqsBroker (standard queue, fauxqs)',
  capabilities: sqsBrokerCapabilities,
  create: async (options) => brokerOn(server, options),
  // fauxqs keeps everything in memory: a restart is an empty endpoint, so queues are created again on use.
  restart: async () => {
    await server.stop();
    await server.start();
  },
});

runBrokerSuite({
  name: 'SqsBroker (FIFO queue, fauxqs)',
  capabilities: sqsFifoBrokerCapabilities,
  create: async (options) => brokerOn(server, { ...options, fifo: true }),
});

afterAll(async () => {
  await server.stop();
});
