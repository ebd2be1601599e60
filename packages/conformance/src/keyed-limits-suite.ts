import { afterEach, describe, expect, it } from 'vitest';
import type { Broker, BrokerFactoryOptions, Delivery, KeyedLimit } from '@taskq/core';
import { rejectionCode, uniqueName, waitFor } from './wait.js';

export interface KeyedLimitsSuiteOptions {
  name: string;
  create: (options: BrokerFactoryOptions) => Promise<Broker>;
  /** When given, the cases are skipped at collection time unless `keyedLimits` is true. */
  capabilities?: { keyedLimits?: boolean };
}

/**
 * Per-key concurrency and rate enforced at delivery (capability `keyedLimits`, see KeyedLimit in
 * @taskq/core's broker.ts). Run by {@link runBrokerSuite}; the capability is the only reason these are skipped.
 */
export function runKeyedLimitsSuite(options: KeyedLimitsSuiteOptions): void {
  const open: Broker[] = [];

  async function broker(queue = uniqueName('limits'), retrySeconds = 30): Promise<Broker> {
    const created = await options.create({ queue, retrySeconds });
    open.push(created);
    return created;
  }

  afterEach(async () => {
    for (const b of open.splice(0)) {
      await b.purgeQueue().catch(() => undefined);
      await b.close();
    }
  });

  function itLimited(title: string, fn: () => Promise<void>, timeout = 20_000) {
    const known = options.capabilities;
    it.skipIf(known !== undefined && known.keyedLimits !== true)(
      `${title} (needs capability keyedLimits)`,
      async (ctx) => {
        if (known === undefined && (await broker()).capabilities.keyedLimits !== true) ctx.skip();
        await fn();
      },
      timeout,
    );
  }

  const payloadOf = (d: Delivery) => d.payload;
  const enqueueAll = (b: Broker, payloads: string[], limit?: KeyedLimit) =>
    b.enqueueMany(payloads.map((payload) => (limit ? { payload, options: { limit } } : { payload })));

  describe(`${options.name}: keyed limits`, () => {
    itLimited(
      'concurrency: at most N of a key out at once, across consumers; an acknowledgement frees a slot',
      async () => {
        const b = await broker();
        const other = await broker(b.queue);
        const limit = { key: 'tenant-a', concurrency: 2 };
        await enqueueAll(b, ['a1', 'a2', 'a3', 'a4', 'a5'], limit);
        const first = await b.dequeue({ max: 10 });
        expect(first.map(payloadOf)).toEqual(['a1', 'a2']);
        expect(await other.dequeue({ max: 10 })).toEqual([]);
        await b.acknowledge(first[0]!.receipt);
        const next = await other.dequeue({ max: 10, waitMs: 2000 });
        expect(next.map(payloadOf)).toEqual(['a3']);
        await b.delete(first[1]!.receipt);
        await other.acknowledge(next[0]!.receipt);
        expect((await other.dequeue({ max: 10, waitMs: 2000 })).map(payloadOf)).toEqual(['a4', 'a5']);
      },
    );

    itLimited(
      'a key at its limit holds back only itself: messages without a key and other keys still come',
      async () => {
        const b = await broker();
        await enqueueAll(b, ['a1', 'a2', 'a3'], { key: 'busy', concurrency: 1 });
        await enqueueAll(b, ['b1'], { key: 'idle', concurrency: 1 });
        await enqueueAll(b, ['plain1', 'plain2']);
        const got = (await b.dequeue({ max: 10 })).map(payloadOf);
        expect(got.sort()).toEqual(['a1', 'b1', 'plain1', 'plain2']);
        expect(await b.queueSize()).toBe(2);
      },
    );

    itLimited(
      'rate: never more than max deliveries of a key in any window of perMs; the rest wait, none fail',
      async () => {
        const b = await broker();
        const perMs = 600;
        const payloads = Array.from({ length: 7 }, (_, i) => `r${i}`);
        await enqueueAll(b, payloads, { key: 'api', rate: { max: 3, perMs } });
        const times: number[] = [];
        const got: string[] = [];
        await waitFor(
          async () => {
            for (const d of await b.dequeue({ max: 10, waitMs: 200 })) {
              times.push(Date.now());
              got.push(d.payload);
              await b.acknowledge(d.receipt);
            }
            return got.length === payloads.length;
          },
          { timeoutMs: 10_000, message: 'all rate-limited messages delivered' },
        );
        expect(got.sort()).toEqual(payloads);
        // Stamped by the consumer once each dequeue returns: a busy event loop can delay a stamp and make a window look
        // up to ~100 ms narrower than the broker's; a limit that lets 2 × max through shows windows far shorter.
        for (let i = 3; i < times.length; i++) expect(times[i]! - times[i - 3]!).toBeGreaterThanOrEqual(perMs - 100);
      },
    );

    itLimited('fairness: a flood of one key does not starve another key', async () => {
      const b = await broker();
      await enqueueAll(
        b,
        Array.from({ length: 200 }, (_, i) => `flood${i}`),
        { key: 'flood', concurrency: 100 },
      );
      await enqueueAll(b, ['light0', 'light1'], { key: 'light', concurrency: 100 });
      const first = (await b.dequeue({ max: 4 })).map(payloadOf);
      expect(first.filter((p) => p.startsWith('light'))).toHaveLength(2);
    });

    itLimited('a lease that expires frees the slot, and the message is delivered again', async () => {
      const b = await broker(uniqueName('limits'), 1);
      await enqueueAll(b, ['x1', 'x2'], { key: 'lease', concurrency: 1 });
      const first = await b.dequeue({ max: 10 });
      expect(first).toHaveLength(1);
      const again = await waitFor(
        async () => {
          const got = await b.dequeue({ max: 10, waitMs: 200 });
          return got.length > 0 ? got : null;
        },
        { timeoutMs: 8000, message: 'redelivery after the lease' },
      );
      expect(again).toHaveLength(1); // the expired delivery's slot was freed (either message may come first)
    });

    itLimited("the latest enqueue's limits are in force", async () => {
      const b = await broker();
      await enqueueAll(b, ['k1', 'k2', 'k3'], { key: 'grow', concurrency: 1 });
      expect(await b.dequeue({ max: 10 })).toHaveLength(1);
      await enqueueAll(b, ['k4'], { key: 'grow', concurrency: 3 });
      expect(await b.dequeue({ max: 10 })).toHaveLength(2);
    });

    itLimited('a malformed limit is a typed error', async () => {
      const b = await broker();
      expect(await rejectionCode(b.enqueue('p', { limit: { key: '', concurrency: 1 } }))).toBe(
        'TASKQ_INVALID_ARGUMENT',
      );
      expect(await rejectionCode(b.enqueue('p', { limit: { key: 'k', concurrency: 0 } }))).toBe(
        'TASKQ_INVALID_ARGUMENT',
      );
      expect(await rejectionCode(b.enqueue('p', { limit: { key: 'k' } }))).toBe('TASKQ_INVALID_ARGUMENT');
      expect(await rejectionCode(b.enqueue('p', { limit: { key: 'k', rate: { max: 1, perMs: 0 } } }))).toBe(
        'TASKQ_INVALID_ARGUMENT',
      );
      expect(await b.queueSize()).toBe(0);
    });
  });
}
