import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { Taskq, type BulkItem, type KeyedLimit } from '@taskq/core';
import { BROKERS, REDIS } from './support/brokers.js';
import { ClusterProcesses, eventually } from './support/cluster-processes.js';

// Issue 17's proof: 3 cluster processes share a queue; 5,000 tasks over 10 keys — one flood key, five light keys
// with a concurrency limit, four keys with a rate limit. Every task records its start and stop (in a Redis list,
// outside the broker under test). Asserted: no key ever had more tasks running than its concurrency; no window
// of perMs ever held more than max deliveries of a rate-limited key (the broker's window is on its own clock at
// the claim; the clusters see each delivery a few ms later, so a window may look up to DELIVERY_JITTER_MS
// narrower); the light keys all finished while the flood ran. How long tasks then waited for a free thread is
// printed: their starts lag their deliveries by that much (on this 2-core machine, under 3 clusters' load).
const secret = randomBytes(16).toString('hex');
const redis = new Redis(REDIS);
const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  await redis.quit();
}, 120_000);

interface Span {
  key: string;
  delivered: number;
  start: number;
  stop: number;
}

const FLOOD: KeyedLimit = { key: 'flood', concurrency: 5 };
const LIGHT = ['light1', 'light2', 'light3', 'light4', 'light5'].map((key) => ({ key, concurrency: 3 }));
const RATED = ['rated1', 'rated2', 'rated3', 'rated4'].map((key) => ({
  key,
  concurrency: 4,
  rate: { max: 50, perMs: 500 },
}));
/** A delivery reaches its cluster a little after the broker's claim: how much narrower a window may look here. */
const DELIVERY_JITTER_MS = 100;

function maxOverlap(spans: Span[]): number {
  const edges = spans.flatMap((s) => [
    [s.start, 1],
    [s.stop, -1],
  ]);
  edges.sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
  let running = 0;
  let most = 0;
  for (const [, delta] of edges) most = Math.max(most, (running += delta!));
  return most;
}

for (const harness of BROKERS.filter((b) => b.name === 'redis' || b.name === 'postgres')) {
  describe(`keyed limits on ${harness.name} (${harness.server})`, () => {
    it('3 clusters, 5,000 tasks over 10 keys: concurrency and rate never exceeded, light keys not starved', async () => {
      const broker = await harness.start();
      cleanups.push(() => broker.stop());
      const listKey = `taskq-limits-${randomBytes(4).toString('hex')}`;
      cleanups.push(async () => void (await redis.del(listKey)));
      const client = new Taskq({
        name: 'crash',
        secretKey: secret,
        broker: broker.brokerUrl,
        store: broker.storeUrl,
        logLevel: 'warn',
      });
      cleanups.push(() => client.close());
      const processes = new ClusterProcesses(broker.brokerUrl, secret, {
        ...broker.env,
        TASKQ_RETRY: '30',
        TASKQ_STORE_URL: broker.storeUrl,
      });
      cleanups.push(() => processes.stopAll());

      const items: BulkItem[] = [];
      const add = (limit: KeyedLimit, count: number, ms: number) => {
        for (let i = 0; i < count; i++)
          items.push({ task: 'span', args: [limit.key, ms, listKey], options: { limit } });
      };
      add(FLOOD, 3500, 5);
      for (const limit of LIGHT) add(limit, 200, 5);
      for (const limit of RATED) add(limit, 125, 1);
      expect(items).toHaveLength(5000);
      // The flood is enqueued first: a FIFO queue would run all of it before any light task.
      await client.enqueueMany(items);
      await Promise.all([processes.start(), processes.start(), processes.start()]);
      await eventually(async () => (await redis.llen(listKey)) === 5000, 'all 5,000 tasks ran', 240_000);

      const spans = (await redis.lrange(listKey, 0, -1)).map((line) => JSON.parse(line) as Span);
      const byKey = new Map<string, Span[]>();
      for (const s of spans) byKey.set(s.key, [...(byKey.get(s.key) ?? []), s]);
      for (const limit of [FLOOD, ...LIGHT, ...RATED]) {
        const mine = byKey.get(limit.key) ?? [];
        expect(maxOverlap(mine), `${limit.key} concurrency`).toBeLessThanOrEqual(limit.concurrency);
      }
      for (const limit of RATED) {
        const delivered = (byKey.get(limit.key) ?? []).map((s) => s.delivered).sort((a, b) => a - b);
        const { max, perMs } = limit.rate;
        for (let i = max; i < delivered.length; i++) {
          expect(delivered[i]! - delivered[i - max]!, `${limit.key} window at delivery ${i}`).toBeGreaterThanOrEqual(
            perMs - DELIVERY_JITTER_MS,
          );
        }
      }
      const lags = spans.map((s) => s.start - s.delivered).sort((a, b) => a - b);
      console.log(
        `${harness.name}: delivery → start lag p50 ${lags[lags.length >> 1]} ms, max ${lags.at(-1)} ms (threads busy)`,
      );
      const floodStops = (byKey.get('flood') ?? []).map((s) => s.stop).sort((a, b) => a - b);
      const floodHalfway = floodStops[Math.floor(floodStops.length / 2)]!;
      for (const { key } of LIGHT) {
        const lastStop = Math.max(...(byKey.get(key) ?? []).map((s) => s.stop));
        expect(lastStop, `${key} finished before the flood was half done`).toBeLessThan(floodHalfway);
      }
    }, 300_000);
  });
}
