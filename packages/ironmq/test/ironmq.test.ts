import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { rejectionCode, uniqueName, waitFor } from '@taskq/conformance';
import { Taskq, createBroker, isTaskqError } from '@taskq/core';
import { IronMqServer } from '@taskq/test-servers/ironmq';
import {
  DEFAULT_HOST,
  IronMqBroker,
  IronMqHttpError,
  asciiJson,
  brokerFactory,
  parseIronMqUrl,
  resolveIronMqOptions,
} from '../src/index.js';
import { LocalIronMq } from './support/local-ironmq.js';

let local: LocalIronMq;

beforeAll(async () => {
  local = await LocalIronMq.start();
});

afterEach(async () => {
  await local.closeBrokers();
});

afterAll(async () => {
  await local.stop();
});

/** The message as the server holds it (undefined once deleted). */
function stored(broker: IronMqBroker, receipt: string) {
  return local.server.queues.get(broker.ironQueue)?.messages.get(receipt.split(':')[0]!);
}

describe('URL, options and IRON_* variables', () => {
  it('reads token, host, port, project and queue from ironmq://TOKEN@HOST:PORT/PROJECT/QUEUE', () => {
    expect(parseIronMqUrl('ironmq://tok3n@mq.example.com:8080/proj/jobs?protocol=http')).toEqual({
      token: 'tok3n',
      host: 'mq.example.com',
      port: 8080,
      projectId: 'proj',
      queueName: 'jobs',
      protocol: 'http',
    });
    const settings = resolveIronMqOptions({ url: 'ironmq://t@mq.example.com/p', env: {} });
    expect(settings).toMatchObject({ origin: 'https://mq.example.com:443', projectId: 'p', queueName: undefined });
  });

  it('falls back to IRON_TOKEN, IRON_PROJECT_ID, IRON_HOST, IRON_PORT, IRON_PROTOCOL as the official clients do', () => {
    const env = { IRON_TOKEN: 'et', IRON_PROJECT_ID: 'ep', IRON_HOST: 'eh', IRON_PORT: '8443', IRON_PROTOCOL: 'http' };
    expect(resolveIronMqOptions({ url: 'ironmq://', env })).toMatchObject({
      token: 'et',
      projectId: 'ep',
      origin: 'http://eh:8443',
    });
    // The URL wins over the environment, explicit options over both.
    expect(resolveIronMqOptions({ url: 'ironmq://ut@uh/up', env })).toMatchObject({
      token: 'ut',
      projectId: 'up',
      host: 'uh',
    });
    expect(resolveIronMqOptions({ url: 'ironmq://ut@uh/up', token: 'ot', env }).token).toBe('ot');
    expect(resolveIronMqOptions({ env: { IRON_TOKEN: 't', IRON_PROJECT_ID: 'p' } }).host).toBe(DEFAULT_HOST);
  });

  it('bad configuration is TASKQ_CONFIG_INVALID with a message that names the fix', () => {
    const cases: Array<[Parameters<typeof resolveIronMqOptions>[0], RegExp]> = [
      [{ url: 'ironmq://host/p', env: {} }, /IRON_TOKEN/],
      [{ url: 'ironmq://t@host', env: {} }, /IRON_PROJECT_ID/],
      [{ url: 'ironmq://t@host/p?protocol=ftp', env: {} }, /https .*or http/],
      [{ url: 'ironmq://t@host/p?tls=1', env: {} }, /protocol=http\|https/],
      [{ url: 'ironmq://t@host/p/q/extra', env: {} }, /PROJECT_ID\/QUEUE/],
      [{ url: 'ironmq://user:pw@host/p', env: {} }, /token alone/],
      [{ url: 'redis://t@host/p', env: {} }, /ironmq:\/\//],
      [{ url: 'ironmq://t@host/p', maxPayloadBytes: 0, env: {} }, /maxPayloadBytes/],
    ];
    for (const [options, message] of cases) {
      let caught: unknown;
      try {
        resolveIronMqOptions(options);
      } catch (error) {
        caught = error;
      }
      expect(isTaskqError(caught, 'TASKQ_CONFIG_INVALID'), String(options.url)).toBe(true);
      expect((caught as Error).message).toMatch(message);
    }
  });

  it('broker: "ironmq://…" resolves to this package through @taskq/core', async () => {
    expect(brokerFactory.schemes).toEqual(['ironmq']);
    const broker = await createBroker(local.server.url(), { queue: uniqueName('factory'), retrySeconds: 30 });
    try {
      // core imports the built package (dist), so compare by name rather than by class identity.
      expect(broker.constructor.name).toBe('IronMqBroker');
      await broker.enqueue('via factory');
      expect((await broker.dequeue())[0]?.payload).toBe('via factory');
    } finally {
      await broker.deleteQueue();
      await broker.close();
    }
  });

  it('a queue named in the URL is the IronMQ queue; otherwise the taskq queue name is', async () => {
    const named = local.broker({ url: local.server.url('fixed-name') });
    expect(named.ironQueue).toBe('fixed-name');
    await named.enqueue('x');
    expect(local.server.queues.get('fixed-name')?.messages.size).toBe(1);
    await named.deleteQueue();
    const plain = local.broker({ queue: 'plain-queue' });
    expect(plain.ironQueue).toBe('plain-queue');
  });
});

describe('errors', () => {
  it('a wrong token is TASKQ_CONFIG_INVALID (401 from IronMQ kept as cause)', async () => {
    const url = local.server.url().replace(local.server.token, 'wrong-token');
    const broker = local.broker({ url });
    let caught: unknown;
    await broker.ping().catch((error: unknown) => (caught = error));
    expect(isTaskqError(caught, 'TASKQ_CONFIG_INVALID')).toBe(true);
    expect((caught as Error).message).toMatch(/token/);
    const cause = (caught as { cause?: unknown }).cause;
    expect(cause).toBeInstanceOf(IronMqHttpError);
    expect((cause as IronMqHttpError).status).toBe(401);
    expect(await rejectionCode(broker.enqueue('x'))).toBe('TASKQ_CONFIG_INVALID');
    expect(await rejectionCode(broker.dequeue())).toBe('TASKQ_CONFIG_INVALID');
  });

  it('an unknown project is TASKQ_CONFIG_INVALID naming the project id', async () => {
    const url = local.server.url().replace(`/${local.server.projectId}`, '/no-such-project');
    const broker = local.broker({ url });
    const error = await broker.ping().catch((e: unknown) => e as Error);
    expect(isTaskqError(error, 'TASKQ_CONFIG_INVALID')).toBe(true);
    expect(error?.message).toMatch(/project/);
  });

  it('a server that does not answer is TASKQ_BROKER_UNAVAILABLE with the network error as cause', async () => {
    const gone = await IronMqServer.start();
    const url = gone.url();
    await gone.stop();
    const broker = local.broker({ url });
    const error = await broker.ping().catch((e: unknown) => e as Error);
    expect(isTaskqError(error, 'TASKQ_BROKER_UNAVAILABLE')).toBe(true);
    expect(error?.message).toMatch(/ECONNREFUSED/);
    expect((error as { cause?: unknown }).cause).toBeDefined();
  });

  it('a server that accepts and never answers: the call times out (callTimeoutMs) and its connection is closed', async () => {
    const all = new Set<Socket>();
    /** Connections that carried a request and are still open. */
    const busy = new Set<Socket>();
    const silent = createServer((socket) => {
      all.add(socket);
      socket.on('data', () => busy.add(socket));
      socket.on('close', () => {
        all.delete(socket);
        busy.delete(socket);
      });
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    try {
      const url = `ironmq://t@127.0.0.1:${port}/p?protocol=http`;
      const explicit = local.broker({ url, requestTimeoutMs: 300 });
      const timedOut = await explicit.ping().catch((e: unknown) => e as Error);
      expect(isTaskqError(timedOut, 'TASKQ_BROKER_UNAVAILABLE')).toBe(true);
      expect(timedOut?.message).toMatch(/timed out/);
      const bounded = local.broker({ url, callTimeoutMs: 300 });
      expect(await rejectionCode(bounded.queueSize())).toBe('TASKQ_BROKER_UNAVAILABLE');
      // The HTTP requests were aborted too, not left hanging on the server.
      await waitFor(() => busy.size === 0, { message: 'the connections that carried a request closed' });
    } finally {
      for (const socket of all) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('a lease under the documented 30 s minimum is refused by a strict server with advice to raise retry', async () => {
    const strict = await IronMqServer.start();
    try {
      const broker = local.broker({ url: strict.url(), retrySeconds: 5 });
      await broker.enqueue('x');
      const error = await broker.dequeue().then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(isTaskqError(error, 'TASKQ_INVALID_ARGUMENT')).toBe(true);
      expect(error?.message).toMatch(/`retry` to 30 or more/);
      const ok = local.broker({ url: strict.url(), queue: broker.queue, retrySeconds: 30 });
      expect((await ok.dequeue())[0]?.payload).toBe('x');
    } finally {
      await local.closeBrokers();
      await strict.stop();
    }
  });

  it('a message over the server limit is TASKQ_PAYLOAD_TOO_LARGE, before sending when over maxPayloadBytes', async () => {
    const small = local.broker();
    expect(small.capabilities.maxPayloadBytes).toBe(65_536);
    expect(await rejectionCode(small.enqueue('x'.repeat(65_537)))).toBe('TASKQ_PAYLOAD_TOO_LARGE');
    // A broker configured for a bigger plan than the server allows: the server's 413 maps to the same code.
    const big = local.broker({ maxPayloadBytes: 262_144 });
    expect(await rejectionCode(big.enqueue('x'.repeat(100_000)))).toBe('TASKQ_PAYLOAD_TOO_LARGE');
  });
});

describe('receipts and reservations', () => {
  it('the receipt from dequeue still acknowledges after extend (touch gave the message a new reservation id)', async () => {
    const broker = local.broker({ retrySeconds: 2 });
    await broker.enqueue('long task');
    const [delivery] = await broker.dequeue();
    const before = stored(broker, delivery!.receipt)?.reservationId;
    await broker.extend(delivery!.receipt, 30);
    const after = stored(broker, delivery!.receipt)?.reservationId;
    expect(after).toBeDefined();
    expect(after).not.toBe(before);
    await broker.extend(delivery!.receipt, 30); // twice: the broker follows the chain of reservation ids
    await broker.acknowledge(delivery!.receipt);
    expect(stored(broker, delivery!.receipt)).toBeUndefined();
    expect(await broker.lockSize()).toBe(0);
  });

  it('acknowledging after the reservation lapsed and another consumer got the message is harmless', async () => {
    const queue = uniqueName('lapsed');
    const slow = local.broker({ queue, retrySeconds: 1 });
    const other = local.broker({ queue, retrySeconds: 30 });
    await slow.enqueue('contested');
    const [first] = await slow.dequeue();
    const [second] = await other.dequeue({ waitMs: 5000 });
    expect(second?.payload).toBe('contested');
    expect(second?.deliveries).toBe(2);
    await expect(slow.acknowledge(first!.receipt)).resolves.toBeUndefined(); // 403 from IronMQ, swallowed
    await expect(slow.extend(first!.receipt, 30)).resolves.toBeUndefined();
    expect(stored(other, second!.receipt)).toBeDefined(); // still the other consumer's
    await other.acknowledge(second!.receipt);
    expect(stored(other, second!.receipt)).toBeUndefined();
  });

  it('acknowledgeMany deletes in batches of 100 and still deletes the live ones when one is stale', async () => {
    const queue = uniqueName('bulk-ack');
    const broker = local.broker({ queue, retrySeconds: 30 });
    await broker.enqueueMany(Array.from({ length: 5 }, (_, i) => ({ payload: `m${i}` })));
    const deliveries = await broker.dequeue({ max: 5 });
    expect(deliveries).toHaveLength(5);
    // One of them is released behind the broker's back, so its reservation is stale.
    const victim = deliveries[0]!;
    const [id, reservationId] = victim.receipt.split(':');
    await broker.client.releaseMessage(broker.ironQueue, id!, reservationId!, 60);
    await broker.acknowledgeMany(deliveries.map((d) => d.receipt));
    const left = [...(local.server.queues.get(queue)?.messages.keys() ?? [])];
    expect(left).toEqual([id]); // only the released one remains (it was not ours to delete any more)
    expect(await broker.lockSize()).toBe(0);
  });

  it('posts 100 per call, reserves up to 100 per call', async () => {
    const broker = local.broker();
    const posts = local.requests('POST', `/${broker.ironQueue}/messages`);
    const ids = await broker.enqueueMany(Array.from({ length: 250 }, (_, i) => ({ payload: `p${i}` })));
    expect(ids).toHaveLength(250);
    expect(new Set(ids).size).toBe(250);
    expect(local.requests('POST', `/${broker.ironQueue}/messages`) - posts).toBe(3);
    const got = await broker.dequeue({ max: 250 });
    expect(got).toHaveLength(100);
    expect(got.map((d) => d.payload)).toEqual(Array.from({ length: 100 }, (_, i) => `p${i}`));
    expect(await broker.lockSize()).toBe(100);
    expect(await broker.queueSize()).toBe(150);
    const deletes = local.requests('DELETE', `/${broker.ironQueue}/messages`);
    await broker.acknowledgeMany(got.map((d) => d.receipt));
    expect(local.requests('DELETE', `/${broker.ironQueue}/messages`) - deletes).toBe(1);
  });

  it('release puts a delivery back at once, or after its delay, for a fast retry', async () => {
    const broker = local.broker();
    await broker.enqueue('retry me');
    const [first] = await broker.dequeue();
    await broker.release(first!.receipt);
    const [second] = await broker.dequeue();
    expect(second).toMatchObject({ payload: 'retry me', deliveries: 2 });
    await broker.release(second!.receipt, 1);
    expect(await broker.dequeue()).toEqual([]);
    const [third] = await broker.dequeue({ waitMs: 5000 });
    expect(third).toMatchObject({ payload: 'retry me', deliveries: 3 });
    await expect(broker.release(second!.receipt)).resolves.toBeUndefined(); // stale: harmless
    expect(await rejectionCode(broker.release(third!.receipt, 700_000))).toBe('TASKQ_INVALID_ARGUMENT');
  });

  it('lockSize counts this broker’s live reservations and forgets lapsed ones', async () => {
    const broker = local.broker({ retrySeconds: 1 });
    await broker.enqueueMany([{ payload: 'a' }, { payload: 'b' }]);
    expect(await broker.dequeue({ max: 2 })).toHaveLength(2);
    expect(await broker.lockSize()).toBe(2);
    await waitFor(async () => (await broker.lockSize()) === 0, { message: 'leases lapsed' });
    expect(await broker.queueSize()).toBe(2);
  });
});

describe('queues, delays and long polls', () => {
  it('a dequeue on a queue that does not exist yet creates it and long-polls until a post wakes it', async () => {
    const queue = uniqueName('fresh');
    const consumer = local.broker({ queue });
    const producer = local.broker({ queue });
    const pending = consumer.dequeue({ waitMs: 20_000 });
    await waitFor(() => local.server.queues.get(queue)?.waiting === 1, { message: 'a waiting reserve' });
    await producer.enqueue('wake');
    expect((await pending).map((d) => d.payload)).toEqual(['wake']);
  });

  it('delayMs is rounded up to whole seconds (IronMQ delays in seconds), so nothing arrives early', async () => {
    const broker = local.broker();
    await broker.enqueue('in 1 ms', { delayMs: 1 });
    const message = [...(local.server.queues.get(broker.ironQueue)?.messages.values() ?? [])][0];
    expect(message!.visibleAt - Date.now()).toBeGreaterThan(0);
    expect(await broker.dequeue()).toEqual([]);
    expect((await broker.dequeue({ waitMs: 5000 }))[0]?.payload).toBe('in 1 ms');
    expect(await rejectionCode(broker.enqueue('too late', { delayMs: 700_000_000 }))).toBe('TASKQ_INVALID_ARGUMENT');
  });

  it('close ends a long poll, and the server hands the next message to a live consumer', async () => {
    const queue = uniqueName('closing');
    const closing = local.broker({ queue });
    const live = local.broker({ queue });
    const pending = closing.dequeue({ waitMs: 20_000 });
    await waitFor(() => local.server.queues.get(queue)?.waiting === 1, { message: 'a waiting reserve' });
    await closing.close();
    expect(await pending).toEqual([]);
    await waitFor(() => local.server.queues.get(queue)?.waiting === 0, { message: 'the server saw the hang-up' });
    await live.enqueue('after close');
    expect((await live.dequeue())[0]?.payload).toBe('after close');
  });

  it('listQueued shows waiting messages from peek; info names the server and queues', async () => {
    const broker = local.broker();
    await broker.enqueueMany([{ payload: 'l1' }, { payload: 'l2' }, { payload: 'l3' }]);
    await broker.dequeue();
    expect((await broker.listQueued()).map((m) => m.payload)).toEqual(['l2', 'l3']);
    expect(await broker.listQueued({ offset: 200 })).toEqual([]);
    expect(await broker.info()).toMatchObject({
      server: `ironmq v3 ${local.server.origin}`,
      queue: broker.queue,
      ironQueue: broker.ironQueue,
      projectId: local.server.projectId,
    });
  });

  it('sends ASCII-only JSON (non-ASCII as \\u escapes) that decodes to the same text', () => {
    const text = 'héllo ✓ 🎉';
    const json = asciiJson({ body: text });
    expect(/^[\x20-\x7e]*$/.test(json)).toBe(true);
    expect((JSON.parse(json) as { body: string }).body).toBe(text);
  });
});

describe('a cluster on IronMQ', () => {
  it('a task running three times longer than retry runs once: touched while it runs, acknowledged with its receipt', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'taskq-ironmq-'));
    const log = join(dir, 'executions.txt');
    const name = uniqueName('cluster');
    const q = new Taskq({
      name,
      secretKey: 'a-test-secret-key-that-is-long-enough',
      broker: local.server.url(),
      tasks: [fileURLToPath(new URL('./support/tasks.mjs', import.meta.url))],
      workers: 1,
      concurrency: 4,
      retry: 2,
      scheduler: false,
      logLevel: 'warn',
    });
    const cluster = await q.cluster({ handleSignals: false }).start();
    try {
      const touches = local.requests('POST', '/touch');
      const ids = await q.enqueueMany([0, 1, 2, 3].map((i) => ({ task: 'slow', args: [i, log, 6000] })));
      const results = await Promise.all(ids.map((id) => q.result<number>(id, { wait: 30_000 })));
      expect(results).toEqual([0, 1, 2, 3]);
      // Each task started once: no other delivery of it while it ran past its 2 s reservations.
      expect(readFileSync(log, 'utf8').trim().split('\n').sort()).toEqual(['0', '1', '2', '3']);
      expect(local.requests('POST', '/touch') - touches).toBeGreaterThanOrEqual(4);
      for (const id of ids) expect((await q.fetch(id))?.attemptCount).toBe(1);
      // The acknowledgements used the reservation ids the touches returned: the messages are gone.
      await waitFor(() => (local.server.queues.get(name)?.messages.size ?? 0) === 0, {
        message: 'every message deleted',
      });
    } finally {
      await cluster.stop({ deadlineMs: 5000 });
      await q.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
