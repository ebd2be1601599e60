import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Taskq } from '@taskq/core';
import { ClusterProcesses } from './support/cluster-processes.js';

// The embedded default: one SQLite file shared by an enqueuing process and two cluster processes.
const dir = mkdtempSync(join(tmpdir(), 'taskq-sqlite-'));
const url = `sqlite:${join(dir, 'taskq.sqlite')}`;
const secret = randomBytes(16).toString('hex');
const TOTAL = 500;

const clusters = new ClusterProcesses(url, secret);
const client = new Taskq({ name: 'crash', secretKey: secret, broker: url, store: url, logLevel: 'warn' });

afterAll(async () => {
  await clusters.stopAll();
  await client.close();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe('SQL broker on one SQLite file across processes', () => {
  it(`two cluster processes run ${TOTAL} tasks enqueued by a third, each exactly once saved`, async () => {
    const processes = await Promise.all([clusters.start(), clusters.start()]);
    // 100 ms per task: one cluster alone needs ~2.5 s (it holds only a few dozen at a time), so the other, which
    // polls SQLite at most 1 s apart, is sure to find tasks left — with 5 ms tasks one cluster could drain the
    // file before the other's next poll, and the test below failed once on a clean CI run.
    const ids = await client.enqueueMany(
      Array.from({ length: TOTAL }, (_, i) => ({ task: 'workWhere', args: [i, 100] })),
    );
    const results = (await Promise.all(ids.map((id) => client.result(id, { wait: 60_000 })))) as [number, number][];
    expect(results.map(([index]) => index)).toEqual(ids.map((_, i) => i));
    // both cluster processes took tasks from the shared file
    expect(new Set(results.map(([, pid]) => pid))).toEqual(new Set(processes.map((c) => c.pid)));
    const runtime = await client.runtime();
    const { records, total } = await runtime.store.list({ limit: TOTAL * 2 });
    expect(total).toBe(TOTAL);
    expect(records.every((r) => r.success && r.attemptCount === 1)).toBe(true);
    await Promise.all(processes.map((child) => clusters.stop(child, 'SIGTERM')));
    expect(await runtime.broker.queueSize()).toBe(0);
  }, 120_000);
});
