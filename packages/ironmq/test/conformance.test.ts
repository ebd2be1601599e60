import { afterAll } from 'vitest';
import { runBrokerSuite } from '@taskq/conformance';
import { IronMqServer } from '@taskq/test-servers/ironmq';
import { IronMqBroker, ironMqBrokerCapabilities } from '../src/index.js';

// The broker suite over real HTTP against the local IronMQ v3 server (@taskq/test-servers/ironmq).
// The suite uses 1 s leases; the server's documented 30 s minimum reservation is lowered for it.
const server = await IronMqServer.start({ minTimeoutSeconds: 1 });

runBrokerSuite({
  name: 'IronMqBroker (local IronMQ v3 server)',
  capabilities: ironMqBrokerCapabilities,
  create: async (options) => new IronMqBroker({ ...options, url: server.url() }),
  // Connections drop, queues and messages stay: the broker must carry on over new connections.
  restart: () => server.restart(),
});

afterAll(async () => {
  await server.stop();
});
