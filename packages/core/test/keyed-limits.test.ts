import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBroker, type BrokerCapabilities, type ClusterHandle, type Taskq } from '@taskq/core';
import { eventually, linesOf, makeClient, tempFile } from './helpers.js';

const clients: Taskq[] = [];
const clusters: ClusterHandle[] = [];
afterEach(async () => {
  for (const c of clusters.splice(0)) await c.stop({ deadlineMs: 2000 });
  for (const c of clients.splice(0)) await c.close();
});

function client(options: Parameters<typeof makeClient>[0] = {}): Taskq {
  const q = makeClient({ workers: 2, concurrency: 10, bulk: 20, ...options });
  clients.push(q);
  return q;
}

async function start(q: Taskq): Promise<ClusterHandle> {
  const cluster = await q.cluster({ handleSignals: false }).start();
  clusters.push(cluster);
  return cluster;
}

interface Span {
  key: string;
  delivered: number;
  start: number;
  stop: number;
}

const spansOf = (file: string): Span[] => linesOf(file).map((line) => JSON.parse(line) as Span);

/** The most spans of one key that overlapped at any instant. */
function maxOverlap(spans: Span[], key: string): number {
  const edges = spans
    .filter((s) => s.key === key)
    .flatMap((s) => [
      [s.start, 1],
      [s.stop, -1],
    ])
    .sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
  let running = 0;
  let most = 0;
  for (const [, delta] of edges) most = Math.max(most, (running += delta!));
  return most;
}

describe('keyed limits through a cluster', () => {
  it('at most `concurrency` tasks of a key run at once; a light key is not starved by a flood', async () => {
    const q = client();
    const file = tempFile();
    await q.enqueueMany(
      Array.from({ length: 40 }, () => ({
        task: 'interval',
        args: [file, 'flood', 40],
        options: { limit: { key: 'flood', concurrency: 2 } },
      })),
    );
    const light = await q.enqueueMany(
      [1, 2, 3].map(() => ({
        task: 'interval',
        args: [file, 'light', 10],
        options: { limit: { key: 'light', concurrency: 2 } },
      })),
    );
    await start(q);
    for (const id of light) await q.fetch(id, { wait: 10_000 });
    // The light key finished while most of the flood still waits (2 at a time × 40 ms each).
    expect(spansOf(file).filter((s) => s.key === 'flood').length).toBeLessThan(30);
    await eventually(() => spansOf(file).length === 43, 'every task ran');
    expect(maxOverlap(spansOf(file), 'flood')).toBeLessThanOrEqual(2);
    expect(maxOverlap(spansOf(file), 'light')).toBeLessThanOrEqual(2);
  });

  it('a rate: no window of perMs holds more than max deliveries; tasks over it wait, none fail', async () => {
    const q = client({ limits: { interval: { rate: { max: 4, perMs: 500 } } } });
    const file = tempFile();
    const ids = await q.enqueueMany(Array.from({ length: 12 }, () => ({ task: 'interval', args: [file, 'r', 1] })));
    await start(q);
    for (const id of ids) expect((await q.fetch(id, { wait: 15_000 }))?.success).toBe(true);
    // The window is enforced when the broker delivers; the cluster stamps `deliveredAt` right after (a busy event
    // loop can add a little). Starts can lag further, by the wait for a free thread, so they are not what is checked.
    const delivered = spansOf(file)
      .map((s) => s.delivered)
      .sort((a, b) => a - b);
    for (let i = 4; i < delivered.length; i++) {
      expect(delivered[i]! - delivered[i - 4]!).toBeGreaterThanOrEqual(500 - 50);
    }
  });

  it("'*' limits the whole queue; a task's own limit wins over the config", async () => {
    const q = client({ limits: { '*': { concurrency: 1 } } });
    const file = tempFile();
    const ids = await q.enqueueMany(
      Array.from({ length: 6 }, (_, i) => ({
        task: 'interval',
        args: [file, i < 3 ? 'queue' : 'own', 30],
        options: i < 3 ? {} : { limit: { key: 'own', concurrency: 3 } },
      })),
    );
    await start(q);
    for (const id of ids) await q.fetch(id, { wait: 10_000 });
    expect(maxOverlap(spansOf(file), 'queue')).toBe(1);
  });

  it('a broker without the capability refuses a limit (TASKQ_UNSUPPORTED) instead of ignoring it', async () => {
    class PlainBroker extends MemoryBroker {
      override readonly capabilities: BrokerCapabilities = {
        ...new MemoryBroker({ queue: 'x', retrySeconds: 1 }).capabilities,
        keyedLimits: false,
      };
    }
    const q = client({ broker: new PlainBroker({ queue: 'plain', retrySeconds: 60 }), secretKey: 'x'.repeat(32) });
    await expect(q.enqueue('noop', [], { limit: { key: 'k', concurrency: 1 } })).rejects.toMatchObject({
      code: 'TASKQ_UNSUPPORTED',
    });
    await expect(q.enqueue('noop', [], { limit: { key: 'k' } as never })).rejects.toMatchObject({
      code: 'TASKQ_INVALID_ARGUMENT',
    });
  });

  it('`limits` in the config with such a broker refuses to start, saying why', async () => {
    class PlainBroker extends MemoryBroker {
      override readonly capabilities: BrokerCapabilities = {
        ...new MemoryBroker({ queue: 'x', retrySeconds: 1 }).capabilities,
        keyedLimits: false,
      };
    }
    const q = client({
      broker: new PlainBroker({ queue: 'plain2', retrySeconds: 60 }),
      secretKey: 'x'.repeat(32),
      limits: { '*': { concurrency: 2 } },
    });
    await expect(q.runtime()).rejects.toMatchObject({
      code: 'TASKQ_UNSUPPORTED',
      message: expect.stringMatching(/`limits` option needs a broker that enforces keyed limits/),
    });
  });
});
