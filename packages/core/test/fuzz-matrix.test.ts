import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { HmacSigner, type ClusterHandle, type Taskq } from '@taskq/core';
import { eventually, linesOf, makeClient, tempFile } from './helpers.js';

// The reliability matrix's fuzz row (docs/reliability.md): 10,000 bad packages — random, truncated, signed with
// another key, signed for another cluster, and valid replays of finished tasks — go through the pusher of a live
// cluster. None runs, nothing crashes, each is counted, and ordinary tasks behind them all finish.
let client: Taskq | null = null;
let cluster: ClusterHandle | null = null;
afterEach(async () => {
  await cluster?.stop({ deadlineMs: 2000 });
  await client?.close();
  client = cluster = null;
});

const EACH = 2000;

describe('a flood of bad packages', () => {
  it('executes none of 10,000, counts every one, and lets the tasks behind them finish', async () => {
    const runs = tempFile();
    client = makeClient({ secretKey: 'fuzz', workers: 1, concurrency: 4, bulk: 250 });
    const runtime = await client.runtime();
    const { broker, config } = runtime;

    // Ten real tasks, run once; their packages are kept for replaying.
    const originals = await Promise.all(
      Array.from({ length: 10 }, (_, i) => client!.enqueue('countRun', [runs, `r${i}`])),
    );
    const packages = (await broker.listQueued({ limit: 10 })).map((m) => m.payload);
    cluster = await client.cluster({ handleSignals: false }).start();
    for (const id of originals) await client.result(id, { wait: 10_000 });

    const message = (i: number) =>
      JSON.stringify({
        id: randomBytes(16).toString('hex'),
        name: `f${i}`,
        func: 'countRun',
        args: [runs, `forged-${i}`],
        enqueuedAt: 1,
      });
    const otherKey = new HmacSigner({ secretKey: 'not-the-key', salt: config.name });
    const otherCluster = new HmacSigner({ secretKey: 'fuzz', salt: `${config.name}-elsewhere` });
    const flood: string[] = [];
    for (let i = 0; i < EACH; i++) {
      flood.push(randomBytes(1 + (i % 200)).toString(i % 2 ? 'base64' : 'latin1'));
      const valid = packages[i % packages.length]!;
      flood.push(valid.slice(0, 1 + (i % (valid.length - 1))));
      flood.push(otherKey.sign(message(i)));
      flood.push(otherCluster.sign(message(i)));
      flood.push(valid);
    }
    await broker.enqueueMany(flood.map((payload) => ({ payload })));
    const behind = await Promise.all(
      Array.from({ length: 50 }, (_, i) => client!.enqueue('countRun', [runs, `b${i}`])),
    );

    for (const [i, id] of behind.entries()) expect(await client.result(id, { wait: 60_000 })).toBe(`b${i}`);
    await eventually(
      () => (cluster?.stat()?.rejected ?? 0) + (cluster?.stat()?.replayed ?? 0) === 5 * EACH,
      'every bad package counted',
      60_000,
    );
    expect(cluster.stat()?.rejected).toBe(4 * EACH);
    expect(cluster.stat()?.replayed).toBe(EACH);
    // Nothing forged or replayed ran: only the ten originals and the fifty behind the flood.
    const lines = linesOf(runs);
    expect(lines.filter((line) => line.startsWith('forged'))).toEqual([]);
    expect(lines).toHaveLength(60);
    expect(await broker.queueSize()).toBe(0);
  });
});
