import { afterEach, describe, expect, it, type TestContext } from 'vitest';
import {
  eventChannelOf,
  type Broker,
  type BrokerCapabilities,
  type BrokerFactoryOptions,
  type Delivery,
  type EventsCapability,
  type TaskFinishedEvent,
} from '@taskq/core';
import { makeStat } from './fixtures.js';
import { runKeyedLimitsSuite } from './keyed-limits-suite.js';
import { rejectionCode, sleep, uniqueName, waitFor } from './wait.js';

export interface BrokerSuiteOptions {
  /** Shown in the suite's title, e.g. "RedisBroker". */
  name: string;
  /**
   * Returns a connected broker for `queue` with visibility timeout `retrySeconds`.
   * Two calls with the same queue must reach the same queue (two consumers).
   */
  create: (options: BrokerFactoryOptions) => Promise<Broker>;
  /**
   * The adapter's capabilities. When given, capability tests are skipped at
   * collection time; when omitted, they are read from each created broker.
   */
  capabilities?: BrokerCapabilities;
  /** Restarts the server the brokers talk to, when the test environment can. */
  restart?: () => Promise<void>;
  /** Upper bound for the largest-payload test when the broker declares no limit. Default 1 MiB. */
  largePayloadBytes?: number;
  /**
   * For brokers with the capability `transactionalEnqueue`: opens a transaction on the broker's own database and
   * returns the handle to pass as `transaction`, with its commit and rollback. Required when the capability is
   * declared (its cases fail without it, they never pass silently).
   */
  transaction?: () => Promise<BrokerSuiteTransaction>;
}

/** An open transaction of the adapter's database, as the application would hold it. */
export interface BrokerSuiteTransaction {
  /** What the application passes as `enqueue(payload, { transaction })`. */
  handle: unknown;
  commit(): Promise<void>;
  rollback(): Promise<void>;
  /** Releases the connection, if the factory opened one. */
  close?(): Promise<void>;
}

type Capability = keyof BrokerCapabilities;

/**
 * The broker conformance suite (SPEC section 4). Django Q's test_brokers.py
 * script is its floor; capabilities are the only reason a test is skipped.
 */
export function runBrokerSuite(options: BrokerSuiteOptions): void {
  const open: Broker[] = [];
  const queues = new Set<string>();

  async function broker(queue?: string, retrySeconds = 1): Promise<Broker> {
    const name = queue ?? uniqueName('conformance');
    const created = await options.create({ queue: name, retrySeconds });
    open.push(created);
    queues.add(name);
    return created;
  }

  /** A test that needs a capability: skipped (with the reason in its name) when the broker lacks it. */
  function itWith(capability: Capability, title: string, fn: (ctx: TestContext) => Promise<void>, timeout?: number) {
    const known = options.capabilities;
    const skip = known !== undefined && !known[capability];
    it.skipIf(skip)(
      `${title} (needs capability ${capability})`,
      async (ctx) => {
        if (known === undefined) {
          const probe = await broker();
          if (!probe.capabilities[capability]) ctx.skip();
        }
        await fn(ctx);
      },
      timeout,
    );
  }

  async function drain(b: Broker, count: number, timeoutMs = 5000): Promise<Delivery[]> {
    const got: Delivery[] = [];
    await waitFor(
      async () => {
        got.push(...(await b.dequeue({ max: count - got.length, waitMs: 200 })));
        return got.length >= count;
      },
      { timeoutMs, message: `${count} deliveries` },
    );
    return got;
  }

  afterEach(async () => {
    for (const b of open.splice(0)) {
      if (!b.closed) {
        await b.deleteQueue().catch(() => undefined);
        await b.close();
      }
    }
    queues.clear();
  });

  describe(`${options.name}: broker conformance`, () => {
    describe('lifecycle (Django Q floor)', () => {
      it('pings and reports its server and queue', async () => {
        const b = await broker();
        await expect(b.ping()).resolves.toBeUndefined();
        const info = await b.info();
        expect(typeof info.server).toBe('string');
        expect(info.server.length).toBeGreaterThan(0);
        expect(info.queue).toBe(b.queue);
      });

      it('starts empty after deleteQueue', async () => {
        const b = await broker();
        await b.enqueue('left over');
        await b.deleteQueue();
        expect(await b.queueSize()).toBe(0);
        expect(await b.dequeue()).toEqual([]);
      });

      it('close is idempotent and every later call rejects with TASKQ_BROKER_CLOSED', async () => {
        const b = await broker();
        await b.enqueue('before close');
        await b.deleteQueue();
        await b.close();
        await b.close();
        expect(b.closed).toBe(true);
        const calls: Array<() => Promise<unknown>> = [
          () => b.enqueue('x'),
          () => b.enqueueMany([{ payload: 'x' }]),
          () => b.dequeue({ max: 1 }),
          () => b.acknowledge('r'),
          () => b.acknowledgeMany(['r']),
          () => b.fail('r'),
          () => b.delete('r'),
          () => b.extend('r', 5),
          () => b.queueSize(),
          () => b.lockSize(),
          () => b.purgeQueue(),
          () => b.deleteQueue(),
          () => b.ping(),
          () => b.info(),
          () => b.listQueued(),
          () => b.getStats(),
          () => b.deleteStat('k'),
        ];
        for (const call of calls) expect(await rejectionCode(call())).toBe('TASKQ_BROKER_CLOSED');
      });

      it('close wakes a blocked dequeue', async () => {
        const b = await broker();
        const pending = b.dequeue({ waitMs: 30_000 }).catch((error: unknown) => error);
        await sleep(100);
        const started = Date.now();
        await b.close();
        await pending;
        expect(Date.now() - started).toBeLessThan(10_000);
      });
    });

    describe('delivery (Django Q floor)', () => {
      it('round trip: enqueue, dequeue, acknowledge', async () => {
        const b = await broker();
        const id = await b.enqueue('test');
        expect(typeof id).toBe('string');
        expect(await b.queueSize()).toBe(1);
        const [delivery, ...rest] = await b.dequeue();
        expect(rest).toEqual([]);
        expect(delivery?.payload).toBe('test');
        expect(typeof delivery?.receipt).toBe('string');
        if (delivery?.deliveries !== undefined) expect(delivery.deliveries).toBe(1);
        await b.acknowledge(delivery!.receipt);
        expect(await b.queueSize()).toBe(0);
        expect(await b.lockSize()).toBe(0);
      });

      it('dequeue returns [] when the queue is empty', async () => {
        const b = await broker();
        expect(await b.dequeue({ max: 10 })).toEqual([]);
      });

      it('rejects an invalid max', async () => {
        const b = await broker();
        expect(await rejectionCode(b.dequeue({ max: 0 }))).toBe('TASKQ_INVALID_ARGUMENT');
      });

      itWith(
        'receipts',
        'redelivers a delivery that was not acknowledged within retrySeconds; an acknowledge is permanent',
        async () => {
          const b = await broker(undefined, 1);
          await b.enqueue('again');
          expect(await b.queueSize()).toBe(1);
          const [first] = await b.dequeue();
          expect(first?.payload).toBe('again');
          expect(await b.queueSize()).toBe(0);
          expect(await b.lockSize()).toBe(1);
          await waitFor(async () => (await b.queueSize()) === 1, { message: 'visible again' });
          const [second] = await drain(b, 1);
          expect(second?.payload).toBe('again');
          if (second?.deliveries !== undefined) expect(second.deliveries).toBe(2);
          expect(await b.queueSize()).toBe(0);
          await b.acknowledge(second!.receipt);
          // An acknowledged message stays gone after the retry window.
          expect(await b.dequeue({ waitMs: 1500 })).toEqual([]);
          expect(await b.queueSize()).toBe(0);
          expect(await b.lockSize()).toBe(0);
        },
        15_000,
      );

      it('delete drops a delivery for good', async () => {
        const b = await broker();
        await b.enqueue('to delete');
        const [delivery] = await b.dequeue();
        await b.delete(delivery!.receipt);
        expect(await b.dequeue({ waitMs: 1500 })).toEqual([]);
        expect(await b.queueSize()).toBe(0);
        expect(await b.lockSize()).toBe(0);
      });

      it('fail drops a delivery and does not throw', async () => {
        const b = await broker();
        await b.enqueue('undecodable');
        const [delivery] = await b.dequeue();
        await expect(b.fail(delivery!.receipt)).resolves.toBeUndefined();
        expect(await b.dequeue({ waitMs: 1500 })).toEqual([]);
        expect(await b.queueSize()).toBe(0);
      });

      it('acknowledging twice, or after the lease expired, is harmless', async () => {
        const b = await broker();
        await b.enqueue('twice');
        const [delivery] = await b.dequeue();
        await b.acknowledge(delivery!.receipt);
        await expect(b.acknowledge(delivery!.receipt)).resolves.toBeUndefined();
        await expect(b.acknowledgeMany([delivery!.receipt])).resolves.toBeUndefined();
        expect(await b.queueSize()).toBe(0);
      });

      it('purgeQueue and deleteQueue empty the queue', async () => {
        const b = await broker();
        await b.enqueue('one');
        await b.enqueue('two');
        await b.purgeQueue();
        expect(await b.queueSize()).toBe(0);
        expect(await b.dequeue({ max: 5 })).toEqual([]);
        await b.enqueue('three');
        await b.enqueue('four');
        await b.deleteQueue();
        expect(await b.queueSize()).toBe(0);
        expect(await b.dequeue({ max: 5 })).toEqual([]);
        // The queue is usable after deleteQueue.
        await b.enqueue('five');
        expect((await drain(b, 1))[0]?.payload).toBe('five');
      });

      it('enqueueMany delivers every payload once', async () => {
        const b = await broker(undefined, 30);
        const payloads = Array.from({ length: 50 }, (_, i) => `bulk-${i}`);
        const ids = await b.enqueueMany(payloads.map((payload) => ({ payload })));
        expect(ids).toHaveLength(50);
        expect(new Set(ids).size).toBe(50);
        expect(await b.enqueueMany([])).toEqual([]);
        const got = await drain(b, 50);
        expect(got.map((d) => d.payload).sort()).toEqual([...payloads].sort());
        await b.acknowledgeMany(got.map((d) => d.receipt));
        expect(await b.queueSize()).toBe(0);
        expect(await b.lockSize()).toBe(0);
      });

      it('delivers in FIFO order to a single consumer', async () => {
        const b = await broker(undefined, 30);
        for (let i = 0; i < 5; i++) await b.enqueue(`fifo-${i}`);
        const got = await drain(b, 5);
        expect(got.map((d) => d.payload)).toEqual(['fifo-0', 'fifo-1', 'fifo-2', 'fifo-3', 'fifo-4']);
      });
    });

    describe('bulk', () => {
      itWith('bulkDequeue', 'one dequeue returns up to max deliveries; lockSize counts them', async () => {
        const b = await broker(undefined, 30);
        for (let i = 0; i < 5; i++) await b.enqueue(`b${i}`);
        const first = await b.dequeue({ max: 5 });
        expect(first.length).toBeGreaterThan(1);
        const all = [...first, ...(first.length < 5 ? await drain(b, 5 - first.length) : [])];
        expect(all).toHaveLength(5);
        expect(new Set(all.map((d) => d.receipt)).size).toBe(5);
        expect(await b.lockSize()).toBe(5);
        expect(await b.queueSize()).toBe(0);
        for (const d of all) await b.acknowledge(d.receipt);
        expect(await b.lockSize()).toBe(0);
      });

      it('dequeue never returns more than max', async () => {
        const b = await broker(undefined, 30);
        await b.enqueueMany(Array.from({ length: 10 }, (_, i) => ({ payload: `m${i}` })));
        const got = await b.dequeue({ max: 3 });
        expect(got.length).toBeGreaterThanOrEqual(1);
        expect(got.length).toBeLessThanOrEqual(3);
      });
    });

    describe('isolation and concurrency', () => {
      it('queues are isolated from each other', async () => {
        const a = await broker();
        const b = await broker();
        await a.enqueue('for a');
        expect(await b.queueSize()).toBe(0);
        expect(await b.dequeue({ waitMs: 200 })).toEqual([]);
        await b.purgeQueue();
        await b.deleteQueue();
        expect(await a.queueSize()).toBe(1);
        expect((await a.dequeue())[0]?.payload).toBe('for a');
      });

      it('two brokers on one queue share it', async () => {
        const queue = uniqueName('shared');
        const producer = await broker(queue, 30);
        const consumer = await broker(queue, 30);
        await producer.enqueue('shared');
        expect((await drain(consumer, 1))[0]?.payload).toBe('shared');
      });

      it('never delivers a message twice to concurrent consumers inside the retry window', async () => {
        const queue = uniqueName('concurrent');
        const producer = await broker(queue, 30);
        const consumers = await Promise.all([1, 2, 3, 4].map(() => broker(queue, 30)));
        const total = 200;
        await producer.enqueueMany(Array.from({ length: total }, (_, i) => ({ payload: `c${i}` })));
        const seen: Delivery[] = [];
        const deadline = Date.now() + 15_000;
        await Promise.all(
          consumers.map(async (consumer) => {
            while (seen.length < total && Date.now() < deadline) {
              seen.push(...(await consumer.dequeue({ max: 7, waitMs: 100 })));
            }
          }),
        );
        expect(seen).toHaveLength(total);
        expect(new Set(seen.map((d) => d.payload)).size).toBe(total);
        expect(new Set(seen.map((d) => d.receipt)).size).toBe(total);
        // Nothing left to deliver while the leases hold.
        expect(await consumers[0]!.dequeue({ max: 10, waitMs: 300 })).toEqual([]);
      }, 30_000);
    });

    describe('leases', () => {
      itWith(
        'extendLease',
        'extend keeps a running delivery invisible past retrySeconds',
        async () => {
          const queue = uniqueName('extend');
          const b = await broker(queue, 1);
          const other = await broker(queue, 1);
          await b.enqueue('long task');
          const [delivery] = await b.dequeue();
          await b.extend(delivery!.receipt, 4);
          // Well past the 1 s retry window, nobody may receive it.
          expect(await other.dequeue({ waitMs: 2500 })).toEqual([]);
          expect(await b.lockSize()).toBe(1);
          // Once the extension lapses it is delivered again.
          const [again] = await drain(other, 1, 8000);
          expect(again?.payload).toBe('long task');
        },
        20_000,
      );

      itWith(
        'extendLease',
        'extend with a stale receipt does not lengthen the new delivery',
        async () => {
          const b = await broker(undefined, 1);
          await b.enqueue('stale');
          const [first] = await b.dequeue();
          const [second] = await drain(b, 1, 5000);
          expect(second?.payload).toBe('stale');
          await b.extend(first!.receipt, 30);
          const [third] = await drain(b, 1, 5000);
          expect(third?.payload).toBe('stale');
        },
        20_000,
      );
    });

    describe('blocking dequeue', () => {
      it('waits up to waitMs when nothing arrives', async () => {
        const b = await broker();
        const started = Date.now();
        expect(await b.dequeue({ waitMs: 400 })).toEqual([]);
        expect(Date.now() - started).toBeGreaterThanOrEqual(300);
      });

      it('wakes on enqueue instead of waiting out waitMs', async () => {
        const queue = uniqueName('wake');
        const consumer = await broker(queue, 30);
        const producer = await broker(queue, 30);
        const started = Date.now();
        const pending = consumer.dequeue({ max: 10, waitMs: 20_000 });
        await sleep(200);
        await producer.enqueue('wake up');
        const got = await pending;
        expect(got.map((d) => d.payload)).toEqual(['wake up']);
        expect(Date.now() - started).toBeLessThan(10_000);
      }, 30_000);

      it('an aborted signal ends the wait early', async () => {
        const b = await broker();
        const controller = new AbortController();
        const started = Date.now();
        const pending = b.dequeue({ waitMs: 20_000, signal: controller.signal });
        await sleep(100);
        controller.abort();
        expect(await pending).toEqual([]);
        expect(Date.now() - started).toBeLessThan(10_000);
      }, 30_000);
    });

    describe('payloads', () => {
      it('round-trips unicode and binary-safe text exactly', async () => {
        const b = await broker(undefined, 30);
        const random = Buffer.from(Array.from({ length: 256 }, (_, i) => i)).toString('base64');
        const payloads = [
          'héllo wörld ✓ 你好 🎉👩‍👩‍👧',
          'a\u0000b\u0001c\r\n\t"quote" \\ back',
          random,
          ' leading and trailing spaces ',
          '{"json":[1,2,{"x":null}]}',
        ];
        for (const payload of payloads) await b.enqueue(payload);
        const got = await drain(b, payloads.length);
        expect(got.map((d) => d.payload).sort()).toEqual([...payloads].sort());
      });

      it('accepts the largest payload it declares', async () => {
        const b = await broker(undefined, 30);
        const max = b.capabilities.maxPayloadBytes;
        const size = max === null ? (options.largePayloadBytes ?? 1024 * 1024) : max;
        const payload = 'x'.repeat(size - 3) + '✓';
        expect(Buffer.byteLength(payload)).toBe(size);
        await b.enqueue(payload);
        const [delivery] = await drain(b, 1);
        expect(delivery?.payload.length).toBe(payload.length);
        expect(delivery?.payload === payload).toBe(true);
      }, 30_000);

      itWith('maxPayloadBytes', 'rejects a payload over its limit with TASKQ_PAYLOAD_TOO_LARGE', async () => {
        const b = await broker();
        const max = b.capabilities.maxPayloadBytes!;
        expect(await rejectionCode(b.enqueue('y'.repeat(max + 1)))).toBe('TASKQ_PAYLOAD_TOO_LARGE');
        expect(await b.queueSize()).toBe(0);
      });
    });

    describe('optional features', () => {
      itWith(
        'delay',
        'a delayed message is not delivered before its time',
        async () => {
          const b = await broker(undefined, 30);
          const started = Date.now();
          await b.enqueue('later', { delayMs: 1200 });
          await b.enqueue('now');
          expect((await b.dequeue({ max: 5 })).map((d) => d.payload)).toEqual(['now']);
          const [later] = await drain(b, 1, 6000);
          expect(later?.payload).toBe('later');
          expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
        },
        15_000,
      );

      itWith('priority', 'a higher priority is delivered first', async () => {
        const b = await broker(undefined, 30);
        await b.enqueue('low', { priority: 1 });
        await b.enqueue('high', { priority: 10 });
        const got = await drain(b, 2);
        expect(got.map((d) => d.payload)).toEqual(['high', 'low']);
      });

      itWith('listQueued', 'listQueued shows waiting messages with paging', async () => {
        const b = await broker(undefined, 30);
        await b.enqueueMany([{ payload: 'l1' }, { payload: 'l2' }, { payload: 'l3' }]);
        const listed = await b.listQueued({ limit: 10 });
        expect(listed.map((m) => m.payload).sort()).toEqual(['l1', 'l2', 'l3']);
        expect(listed.every((m) => typeof m.id === 'string')).toBe(true);
        expect(await b.listQueued({ limit: 2 })).toHaveLength(2);
        expect(await b.listQueued({ limit: 10, offset: 2 })).toHaveLength(1);
      });

      itWith(
        'stats',
        'stats: set, read, delete and expire by TTL',
        async () => {
          const b = await broker();
          const id = uniqueName('cluster');
          const mine = () => b.getStats().then((all) => all.filter((s) => s.clusterId === id));
          expect(await mine()).toEqual([]);
          await b.setStat(`cluster:${id}`, makeStat(id, { processed: 1 }), 30);
          expect((await mine()).map((s) => s.processed)).toEqual([1]);
          await b.setStat(`cluster:${id}`, makeStat(id, { processed: 2, status: 'Working' }), 30);
          const [stat] = await mine();
          expect(stat).toMatchObject({ processed: 2, status: 'Working', clusterId: id });
          await b.deleteStat(`cluster:${id}`);
          expect(await mine()).toEqual([]);
          await b.setStat(`cluster:${id}`, makeStat(id), 1);
          expect(await mine()).toHaveLength(1);
          await waitFor(async () => (await mine()).length === 0, { timeoutMs: 5000, message: 'stat expired' });
        },
        15_000,
      );
    });

    describe('transactional enqueue (optional capability)', () => {
      /** The suite's transaction factory; a broker declaring the capability without one fails here. */
      async function transaction(): Promise<BrokerSuiteTransaction> {
        if (!options.transaction) {
          throw new Error('the broker declares transactionalEnqueue, but the suite was given no `transaction` factory');
        }
        return options.transaction();
      }

      itWith(
        'transactionalEnqueue',
        'messages enqueued inside a transaction are deliverable once it commits, and not before',
        async () => {
          const b = await broker(undefined, 30);
          const tx = await transaction();
          try {
            await b.enqueue('tx-one', { transaction: tx.handle });
            const ids = await b.enqueueMany([
              { payload: 'tx-two', options: { transaction: tx.handle } },
              { payload: 'tx-three', options: { transaction: tx.handle, priority: 1 } },
            ]);
            expect(ids).toHaveLength(2);
            if (b.capabilities.exactCounts) expect(await b.queueSize()).toBe(0);
            await tx.commit();
          } finally {
            await tx.close?.();
          }
          const got = await drain(b, 3);
          expect(got.map((d) => d.payload).sort()).toEqual(['tx-one', 'tx-three', 'tx-two']);
          await b.acknowledgeMany(got.map((d) => d.receipt));
        },
        15_000,
      );

      itWith(
        'transactionalEnqueue',
        'a rolled-back transaction leaves nothing to deliver',
        async () => {
          const b = await broker(undefined, 30);
          const tx = await transaction();
          try {
            await b.enqueue('rolled back', { transaction: tx.handle });
            await b.enqueueMany([{ payload: 'rolled back too', options: { transaction: tx.handle } }]);
            await tx.rollback();
          } finally {
            await tx.close?.();
          }
          expect(await b.queueSize()).toBe(0);
          expect(await b.dequeue({ max: 5, waitMs: 500 })).toEqual([]);
          // the queue still works outside a transaction
          await b.enqueue('after');
          expect((await drain(b, 1))[0]?.payload).toBe('after');
        },
        15_000,
      );

      itWith(
        'transactionalEnqueue',
        'a `transaction` that is no handle of its database is refused with TASKQ_INVALID_ARGUMENT, enqueueing nothing',
        async () => {
          const b = await broker();
          expect(await rejectionCode(b.enqueue('x', { transaction: { not: 'a transaction' } }))).toBe(
            'TASKQ_INVALID_ARGUMENT',
          );
          expect(await rejectionCode(b.enqueueMany([{ payload: 'y', options: { transaction: {} } }]))).toBe(
            'TASKQ_INVALID_ARGUMENT',
          );
          expect(await b.dequeue({ max: 5, waitMs: 300 })).toEqual([]);
        },
      );
    });

    describe('events (optional capability)', () => {
      const declared = (options.capabilities as EventsCapability | undefined)?.events;
      it.skipIf(options.capabilities !== undefined && declared !== true)(
        'a batch published by one broker reaches every subscriber on the same server, once (needs capability events)',
        async (ctx) => {
          const [a, b, c] = [await broker(), await broker(), await broker()];
          if (options.capabilities === undefined && !(a.capabilities as EventsCapability).events) ctx.skip();
          const [pub, subB, subC] = [a, b, c].map((x) => eventChannelOf(x));
          expect(pub && subB && subC, 'declares events but lacks publishFinished/subscribeFinished').toBeTruthy();
          const heardB: TaskFinishedEvent[][] = [];
          const heardC: TaskFinishedEvent[][] = [];
          const stopB = await subB!.subscribeFinished((events) => heardB.push(events));
          const stopC = await subC!.subscribeFinished((events) => heardC.push(events));
          const id = uniqueName('event');
          const event: TaskFinishedEvent = {
            id,
            name: 'n',
            func: 'f',
            group: null,
            cluster: a.queue,
            success: false,
            attempt: 2,
            final: true,
          };
          await pub!.publishFinished([event, { ...event, id: `${id}-2`, success: true }]);
          const mine = (heard: TaskFinishedEvent[][]) => heard.flat().filter((e) => e.id.startsWith(id));
          await waitFor(() => mine(heardB).length === 2 && mine(heardC).length === 2, { message: 'both subscribers' });
          expect(mine(heardB)).toEqual([event, { ...event, id: `${id}-2`, success: true }]);
          await stopB();
          await pub!.publishFinished([{ ...event, id: `${id}-3` }]);
          await waitFor(() => mine(heardC).length === 3, { message: 'the remaining subscriber' });
          expect(mine(heardB)).toHaveLength(2);
          await stopC();
        },
        15_000,
      );
    });

    // Only where the environment can restart the server (not a capability of the broker).
    if (options.restart)
      describe('server restart', () => {
        it('reconnects after the server restarts and carries on', async () => {
          const b = await broker(undefined, 30);
          await b.enqueue('before');
          await options.restart!();
          await waitFor(
            async () =>
              b.ping().then(
                () => true,
                () => false,
              ),
            { timeoutMs: 20_000, message: 'ping after restart' },
          );
          await b.purgeQueue();
          await b.enqueue('after');
          expect((await drain(b, 1, 10_000))[0]?.payload).toBe('after');
        }, 60_000);
      });
  });
  runKeyedLimitsSuite({
    name: options.name,
    create: options.create,
    ...(options.capabilities === undefined ? {} : { capabilities: options.capabilities }),
  });
}
