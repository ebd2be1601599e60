import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { rejectionCode, uniqueName, waitFor } from '@taskq/conformance';
import { createBroker } from '@taskq/core';
import { DisqueCluster } from '@taskq/test-servers/disque';
import { brokerFactory, DisqueBroker, parseDisqueUrl, resolveOptions } from '../src/index.js';

let pair: DisqueCluster;
const open: Array<{ close(): Promise<void> | void }> = [];

function track<T extends { close(): Promise<void> | void }>(value: T): T {
  open.push(value);
  return value;
}

function broker(options: Partial<ConstructorParameters<typeof DisqueBroker>[0]> = {}): DisqueBroker {
  return track(new DisqueBroker({ url: pair.url, queue: uniqueName('disque'), retrySeconds: 30, ...options }));
}

/** A plain ioredis connection to one node, to look at what the broker did. */
function inspect(node = 0): Redis {
  const redis = new Redis({ port: pair.nodes[node]!.port, host: '127.0.0.1', protocol: 2, disableClientInfo: true });
  open.push({ close: () => redis.disconnect() });
  return redis;
}

async function show(redis: Redis, receipt: string): Promise<Record<string, unknown>> {
  const flat = (await redis.call('SHOW', receipt.slice(0, receipt.lastIndexOf(':')))) as unknown[];
  const out: Record<string, unknown> = {};
  for (let i = 0; i < flat.length; i += 2) out[String(flat[i])] = flat[i + 1];
  return out;
}

beforeAll(async () => {
  pair = await DisqueCluster.start({ nodes: 2 });
});

afterEach(async () => {
  for (const item of open.splice(0).reverse()) await item.close();
  // A test may leave a node stopped: the next one starts with both up.
  for (const node of pair.nodes) await node.start();
});

afterAll(async () => {
  await pair.stop();
});

describe('URL and options', () => {
  it('reads nodes, password and options from the URL', () => {
    expect(parseDisqueUrl('disque://10.0.0.1:7711,10.0.0.2,[::1]:7800').nodes).toEqual([
      { host: '10.0.0.1', port: 7711 },
      { host: '10.0.0.2', port: 7711 },
      { host: '::1', port: 7800 },
    ]);
    expect(parseDisqueUrl('disque://').nodes).toEqual([{ host: '127.0.0.1', port: 7711 }]);
    const resolved = resolveOptions({ url: 'disque://:s%40cret@h1:1,h2:2?fastack=1&replicate=1&ttl=600&timeout=100' });
    expect(resolved).toMatchObject({
      password: 's@cret',
      fastAck: true,
      replicate: 1,
      ttlSeconds: 600,
      addTimeoutMs: 100,
      discover: true,
    });
    expect(resolveOptions({ url: 'disque://h?fastack=1', fastAck: false }).fastAck).toBe(false);
    expect(resolveOptions({})).toMatchObject({ ttlSeconds: 86_400, addTimeoutMs: 5000, fastAck: false });
  });

  it('rejects bad URLs and options with TASKQ_CONFIG_INVALID naming the fix', () => {
    const codeOf = (fn: () => unknown) => {
      try {
        fn();
      } catch (error) {
        return [(error as { code?: string }).code, (error as Error).message];
      }
      return ['no error'];
    };
    expect(codeOf(() => parseDisqueUrl('redis://h:1'))).toEqual([
      'TASKQ_CONFIG_INVALID',
      expect.stringContaining('disque://host:7711'),
    ]);
    expect(codeOf(() => parseDisqueUrl('disque://h:99999'))[0]).toBe('TASKQ_CONFIG_INVALID');
    expect(codeOf(() => resolveOptions({ url: 'disque://h?retry=5' }))).toEqual([
      'TASKQ_CONFIG_INVALID',
      expect.stringContaining('Unknown Disque URL option "retry"'),
    ]);
    expect(codeOf(() => resolveOptions({ url: 'disque://h?fastack=maybe' }))[0]).toBe('TASKQ_CONFIG_INVALID');
    expect(codeOf(() => resolveOptions({ replicate: 0 }))[0]).toBe('TASKQ_CONFIG_INVALID');
    expect(codeOf(() => new DisqueBroker({ url: 'disque://h', queue: 'q', retrySeconds: 60, ttlSeconds: 60 }))).toEqual(
      ['TASKQ_CONFIG_INVALID', expect.stringContaining('raise ttlSeconds')],
    );
  });

  it('resolves disque:// URLs through core', async () => {
    const created = track(await createBroker(pair.url, { queue: uniqueName('core'), retrySeconds: 5 }));
    expect(created.constructor.name).toBe('DisqueBroker');
    expect((await created.info()).server).toBe('disque 1.0-rc1');
    expect(brokerFactory.schemes).toEqual(['disque']);
  });
});

describe('jobs as Disque sees them', () => {
  it('adds jobs with RETRY = retry (rounded up), the TTL, and DELAY in whole seconds rounded up', async () => {
    const b = broker({ retrySeconds: 2.5, ttlSeconds: 3600 });
    const redis = inspect();
    const id = await b.enqueue('now');
    expect(id).toMatch(/^D-[0-9a-f]{8}-.{24}-[0-9a-f]{4}$/);
    const [delivery] = await b.dequeue();
    expect(delivery!.receipt).toBe(`${id}:1`);
    const job = await show(redis, delivery!.receipt);
    expect(job).toMatchObject({ queue: b.queue, retry: 3, state: 'active', repl: 2 });
    expect(Number(job.ttl)).toBeGreaterThan(3590);
    const later = await b.enqueue('later', { delayMs: 1200 });
    expect(await show(redis, `${later}:0`)).toMatchObject({ delay: 2, state: 'active' });
    expect(await b.queueSize()).toBe(0); // QLEN leaves delayed jobs out
    expect(await b.lockSize()).toBe(1); // the delivered job, not the delayed one
  });

  it('gives a fetched job a full retry period even if it waited in the queue (WORKING after GETJOB)', async () => {
    const b = broker({ retrySeconds: 2 });
    const redis = inspect();
    const id = await b.enqueue('waited');
    // Disque counts RETRY from the queueing: wait until the queued job's clock has nearly run out.
    await waitFor(async () => Number((await show(redis, `${id}:0`))['next-requeue-within']) < 500, {
      timeoutMs: 5000,
      message: 'retry clock nearly out',
    });
    const [delivery] = await b.dequeue();
    expect(delivery?.payload).toBe('waited');
    expect(Number((await show(redis, delivery!.receipt))['next-requeue-within'])).toBeGreaterThan(1000);
  });

  it('nack puts a delivery back at once and counts it', async () => {
    const b = broker({ retrySeconds: 60 });
    await b.enqueue('nacked');
    const [first] = await b.dequeue();
    await b.nack([first!.receipt]);
    expect(await b.queueSize()).toBe(1);
    const [second] = await b.dequeue();
    expect(second).toMatchObject({ payload: 'nacked', deliveries: 2 });
    expect(second!.receipt).toBe(`${first!.receipt.split(':')[0]}:2`);
    await b.acknowledge(second!.receipt);
    expect(await b.lockSize()).toBe(0);
  });

  it('acknowledges with FASTACK when asked; malformed receipts are TASKQ_INVALID_ARGUMENT', async () => {
    const b = broker({ fastAck: true });
    const redis = inspect(1);
    await b.enqueueMany([{ payload: 'f1' }, { payload: 'f2' }]);
    const got = await b.dequeue({ max: 2 });
    expect(got).toHaveLength(2);
    await b.acknowledgeMany(got.map((d) => d.receipt));
    for (const d of got) expect(await redis.call('SHOW', d.receipt.split(':')[0]!)).toBeNull();
    expect(await rejectionCode(b.acknowledge('nonsense'))).toBe('TASKQ_INVALID_ARGUMENT');
  });

  it('listQueued shows queued jobs by job id', async () => {
    const b = broker();
    const ids = await b.enqueueMany([{ payload: 'l1' }, { payload: 'l2' }]);
    expect(await b.listQueued()).toEqual([
      { id: ids[0], payload: 'l1', lockedUntil: null, runAt: null },
      { id: ids[1], payload: 'l2', lockedUntil: null, runAt: null },
    ]);
  });

  it('purgeQueue deletes the queue jobs in every state and leaves other queues alone', async () => {
    const b = broker();
    const other = broker();
    await b.enqueueMany([{ payload: 'queued' }, { payload: 'delivered' }]);
    await b.enqueue('delayed', { delayMs: 60_000 });
    await other.enqueue('keep');
    await b.dequeue();
    await b.purgeQueue();
    const [, left] = (await inspect().call('JSCAN', 0, 'BUSYLOOP', 'QUEUE', b.queue)) as [string, string[]];
    expect(left).toEqual([]);
    expect(await other.queueSize()).toBe(1);
  });
});

describe('several nodes', () => {
  it('learns the other nodes from HELLO', async () => {
    const b = broker({ url: `disque://${pair.nodes[0]!.address}` });
    await b.ping();
    await waitFor(() => b.nodes.all.length === 2, { message: 'node 2 discovered' });
    expect(b.nodes.all.map((n) => `${n.host}:${n.port}`)).toEqual(pair.nodes.map((n) => n.address));
  });

  it('keeps working when the node it talks to is stopped, through HELLO-discovered nodes too', async () => {
    const b = broker({ url: `disque://${pair.nodes[0]!.address}`, replicate: 1 });
    const queue = b.queue;
    await b.enqueue('before');
    await waitFor(() => b.nodes.all.length === 2, { message: 'node 2 discovered' });
    expect(b.currentNode).toBe(pair.nodes[0]!.address);
    const waiting = b.dequeue({ waitMs: 10_000 }); // blocked on node 1 when it dies
    const [first] = await waiting;
    expect(first?.payload).toBe('before');
    const blocked = b.dequeue({ waitMs: 10_000 });
    await pair.nodes[0]!.stop();
    await b.enqueue('after');
    expect(b.currentNode).toBe(pair.nodes[1]!.address);
    expect((await blocked).map((d) => d.payload)).toEqual(['after']);
    await b.acknowledge(first!.receipt);
    const producer = broker({ url: `disque://${pair.nodes[1]!.address}`, queue, replicate: 1 });
    expect(await producer.lockSize()).toBe(1);
  });

  it('reports TASKQ_BROKER_UNAVAILABLE when no node answers, and recovers when one is back', async () => {
    const b = broker({ connectTimeoutMs: 500 });
    await b.ping();
    for (const node of pair.nodes) await node.stop();
    expect(await rejectionCode(b.ping())).toBe('TASKQ_BROKER_UNAVAILABLE');
    expect(await rejectionCode(b.enqueue('x'))).toBe('TASKQ_BROKER_UNAVAILABLE');
    expect(await rejectionCode(b.dequeue({ waitMs: 100 }))).toBe('TASKQ_BROKER_UNAVAILABLE');
    await pair.nodes[1]!.start();
    await b.ping();
    // One node of two: Disque's default REPLICATE (2) cannot be met.
    const error = await b.enqueue('x').catch((e: unknown) => e as { code: string; message: string });
    expect(error).toMatchObject({ code: 'TASKQ_BROKER_UNAVAILABLE', message: expect.stringContaining('NOREPL') });
  });

  it('an abort ends a blocking wait at once and the next dequeue works', async () => {
    const b = broker();
    const controller = new AbortController();
    const pending = b.dequeue({ waitMs: 30_000, signal: controller.signal });
    await waitFor(async () => String(await inspect().call('INFO', 'clients')).includes('blocked_clients:1'), {
      message: 'GETJOB blocked',
    });
    controller.abort();
    expect(await pending).toEqual([]);
    await b.enqueue('next');
    expect((await b.dequeue({ waitMs: 5000 })).map((d) => d.payload)).toEqual(['next']);
  });
});
