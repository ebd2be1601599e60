import { afterAll } from 'vitest';
import { runBrokerSuite } from '@taskq/conformance';
import { DisqueCluster } from '@taskq/test-servers/disque';
import { DisqueBroker, disqueBrokerCapabilities } from '../src/index.js';

// The broker suite against the local Disque server (packages/test-servers/src/disque, a RESP server
// written from Disque 1.0-rc1's documentation; no Disque server is installable here), through ioredis
// over real sockets.
const single = await DisqueCluster.start({ nodes: 1 });

runBrokerSuite({
  name: 'DisqueBroker (one node, restarted)',
  capabilities: disqueBrokerCapabilities,
  create: async (options) => new DisqueBroker({ ...options, url: single.url }),
  restart: async () => {
    await single.nodes[0]!.stop();
    await single.nodes[0]!.start();
  },
});

// Two nodes: brokers created one after the other list the nodes in opposite orders, so producers and
// consumers of one queue talk to different nodes.
const pair = await DisqueCluster.start({ nodes: 2 });
let created = 0;

runBrokerSuite({
  name: 'DisqueBroker (two nodes)',
  capabilities: disqueBrokerCapabilities,
  create: async (options) => {
    const nodes = pair.nodes.map((node) => node.address);
    if (created++ % 2 === 1) nodes.reverse();
    return new DisqueBroker({ ...options, url: `disque://${nodes.join(',')}` });
  },
});

afterAll(async () => {
  await single.stop();
  await pair.stop();
});
