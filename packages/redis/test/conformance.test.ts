import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { afterAll } from 'vitest';
import { Redis } from 'ioredis';
import { runBrokerSuite, runResultStoreSuite, uniqueName, waitFor } from '@taskq/conformance';
import { RedisBroker, RedisStore, redisBrokerCapabilities } from '../src/index.js';

const url = process.env.TASKQ_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** One prefix per run keeps this run's keys apart from other test runs on the same Redis. */
const prefix = uniqueName('taskq-conformance');

runBrokerSuite({
  name: 'RedisBroker',
  capabilities: redisBrokerCapabilities,
  create: async (options) => new RedisBroker({ ...options, url, prefix }),
});

runResultStoreSuite({
  name: 'RedisStore',
  capabilities: { stats: true, ttl: true },
  create: async () => new RedisStore({ url, prefix, namespace: uniqueName('ns') }),
});

// The broker suite once more against a redis-server this test owns, so it can restart it.
const port = await freePort();
let server = await startRedis(port);

runBrokerSuite({
  name: 'RedisBroker (own server, restarted)',
  capabilities: redisBrokerCapabilities,
  create: async (options) => new RedisBroker({ ...options, url: `redis://127.0.0.1:${port}` }),
  restart: async () => {
    await stopRedis(server);
    server = await startRedis(port);
  },
});

afterAll(async () => {
  await stopRedis(server);
  const redis = new Redis(url);
  const keys = await redis.keys(`{${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

async function startRedis(onPort: number): Promise<ChildProcess> {
  const args = ['--port', String(onPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  const child = spawn('redis-server', [...args, '--daemonize', 'no'], { stdio: 'ignore' });
  const probe = new Redis({ port: onPort, lazyConnect: true, retryStrategy: () => 50, maxRetriesPerRequest: 1 });
  probe.on('error', () => undefined);
  await waitFor(
    () =>
      probe.ping().then(
        () => true,
        () => false,
      ),
    { timeoutMs: 10_000, message: 'redis-server up' },
  );
  probe.disconnect();
  return child;
}

async function stopRedis(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}
