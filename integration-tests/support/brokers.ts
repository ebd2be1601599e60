import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { DisqueCluster } from '@taskq/test-servers/disque';
import { IronMqServer } from '@taskq/test-servers/ironmq';
import { MongoTestServer } from '@taskq/test-servers/mongo';
import { FAUXQS_CREDENTIALS, FAUXQS_REGION, FauxqsServer } from '@taskq/test-servers/sqs';
import { RedisClusterServer } from '../../packages/redis/test/support/redis-cluster.js';
import { RedisServer } from '../../packages/redis/test/support/redis-server.js';

/**
 * Every broker the reliability matrix runs (matrix.test.ts): each harness starts what its broker needs and
 * says where the results go. A new broker package adds itself here (CONTRIBUTING.md, "Adding a broker").
 */
export interface BrokerHarness {
  name: string;
  /** What the tests run against, for the report. */
  server: string;
  /** Whether start() gives an `outage` control (the outage rows run only then). */
  outage?: boolean;
  start(): Promise<RunningBroker>;
}

export interface RunningBroker {
  brokerUrl: string;
  storeUrl: string;
  /** Extra environment the client and cluster processes need (credentials). */
  env?: Record<string, string>;
  /** Stops the broker's server and brings it back with its data: present where the test owns a durable server. */
  outage?: { down(): Promise<void>; up(): Promise<void> };
  stop(): Promise<void>;
}

export const REDIS = process.env.TASKQ_REDIS_URL ?? 'redis://127.0.0.1:6379';
const PG = process.env.TASKQ_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
const MYSQL = process.env.TASKQ_TEST_MYSQL ?? 'mysql://root@127.0.0.1:3306/test';

const unique = (what: string) => `taskq_matrix_${what}_${randomBytes(4).toString('hex')}`;

/** A Redis result store under a prefix of its own, deleted afterwards. */
function redisStore(): { url: string; drop: () => Promise<void> } {
  const prefix = unique('results');
  return {
    url: `${REDIS}?prefix=${prefix}`,
    drop: async () => {
      const redis = new Redis(REDIS);
      const keys = await redis.keys(`{${prefix}:*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    },
  };
}

export const BROKERS: BrokerHarness[] = [
  {
    name: 'redis',
    outage: true,
    server: 'a redis-server started by the test (AOF fsynced on every write, so a restart keeps what it acknowledged)',
    async start() {
      const server = await RedisServer.start({ persist: true });
      const url = `${server.url}?prefix=${unique('q')}`;
      return {
        brokerUrl: url,
        storeUrl: url,
        outage: { down: () => server.kill(), up: () => server.start() },
        stop: () => server.stop(),
      };
    },
  },
  {
    name: 'redis-cluster',
    server:
      'a Redis Cluster started by the test (6 redis-server --cluster-enabled yes, 3 masters + 3 replicas, no persistence); results in it too',
    async start() {
      const cluster = await RedisClusterServer.start();
      // Every node as a seed, in the URL form users write.
      const seeds = cluster.nodes.map((node) => `127.0.0.1:${node.port}`).join(',');
      const url = `redis+cluster://${seeds}?prefix=${unique('q')}`;
      return { brokerUrl: url, storeUrl: url, stop: () => cluster.stop() };
    },
  },
  {
    name: 'postgres',
    server: 'the machine PostgreSQL 15 (a schema per run)',
    async start() {
      const url = `${PG}?schema=${unique('pg')}`;
      return { brokerUrl: url, storeUrl: url, stop: async () => undefined };
    },
  },
  {
    name: 'mariadb',
    server: 'the machine MariaDB 10.11 (a table prefix per run)',
    async start() {
      const url = `${MYSQL}?prefix=${unique('my')}_`;
      return { brokerUrl: url, storeUrl: url, stop: async () => undefined };
    },
  },
  {
    name: 'sqlite',
    server: 'a SQLite file (better-sqlite3 12)',
    async start() {
      const dir = mkdtempSync(join(tmpdir(), 'taskq-matrix-'));
      const url = `sqlite:${join(dir, 'taskq.sqlite')}`;
      return { brokerUrl: url, storeUrl: url, stop: async () => rmSync(dir, { recursive: true, force: true }) };
    },
  },
  {
    name: 'sqs',
    server: 'fauxqs 1.9.2 (SQS emulator) on loopback; results in Redis',
    async start() {
      const server = await FauxqsServer.start();
      const store = redisStore();
      return {
        brokerUrl: `sqs://${FAUXQS_REGION}/${unique('sqs')}-?endpoint=${encodeURIComponent(server.endpoint)}`,
        storeUrl: store.url,
        env: {
          AWS_ACCESS_KEY_ID: FAUXQS_CREDENTIALS.accessKeyId,
          AWS_SECRET_ACCESS_KEY: FAUXQS_CREDENTIALS.secretAccessKey,
          AWS_EC2_METADATA_DISABLED: 'true',
          AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        },
        stop: async () => {
          await server.stop();
          await store.drop();
        },
      };
    },
  },
  {
    name: 'mongo',
    // No outage rows yet: in one clean CI run a restart of the stand-in left some tasks unfinished for 2 minutes
    // (the 10 s stop passed); not explained yet, so not claimed.
    server: 'the MongoDB wire-protocol test server (@taskq/test-servers/mongo) on loopback; results in it too',
    async start() {
      const server = await MongoTestServer.start();
      const url = `${server.url.replace(/\/$/, '')}/${unique('mongo')}`;
      return { brokerUrl: url, storeUrl: url, stop: () => server.stop() };
    },
  },
  {
    name: 'ironmq',
    server: 'the local IronMQ v3 server (@taskq/test-servers/ironmq) on loopback; results in Redis',
    async start() {
      // 2 s reservations so a killed cluster's tasks come back quickly (IronMQ's documented minimum is 30 s).
      const server = await IronMqServer.start({ minTimeoutSeconds: 1 });
      const store = redisStore();
      return {
        brokerUrl: server.url(),
        storeUrl: store.url,
        stop: async () => {
          await server.stop();
          await store.drop();
        },
      };
    },
  },
  {
    name: 'disque',
    server: 'the local Disque RESP server (@taskq/test-servers/disque), two nodes; results in Redis',
    async start() {
      const disque = await DisqueCluster.start({ nodes: 2 });
      const store = redisStore();
      return {
        brokerUrl: disque.url,
        storeUrl: store.url,
        stop: async () => {
          await disque.stop();
          await store.drop();
        },
      };
    },
  },
];
