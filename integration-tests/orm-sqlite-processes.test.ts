import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { Taskq } from '@taskq/core';

// The embedded default: one SQLite file shared by an enqueuing process and two cluster processes.
const dir = mkdtempSync(join(tmpdir(), 'taskq-sqlite-'));
const url = `sqlite:${join(dir, 'taskq.sqlite')}`;
const secret = randomBytes(16).toString('hex');
const CLUSTER = fileURLToPath(new URL('./support/orm-crash-cluster.mjs', import.meta.url));
const TOTAL = 500;

const children = new Set<ChildProcess>();
const client = new Taskq({ name: 'crash', secretKey: secret, broker: url, store: url, logLevel: 'warn' });

function startCluster(): Promise<ChildProcess> {
  const child = spawn(process.execPath, [CLUSTER], {
    env: { ...process.env, TASKQ_URL: url, TASKQ_SECRET: secret },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('a cluster process did not start within 30 s')), 30_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('ready')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`a cluster process exited (${code ?? signal}) before it was ready`));
    });
  });
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

afterAll(async () => {
  await Promise.all([...children].map(stop));
  await client.close();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe('SQL broker on one SQLite file across processes', () => {
  it(`two cluster processes run ${TOTAL} tasks enqueued by a third, each exactly once saved`, async () => {
    const clusters = await Promise.all([startCluster(), startCluster()]);
    const ids = await client.enqueueMany(Array.from({ length: TOTAL }, (_, i) => ({ task: 'workWhere', args: [i] })));
    const results = (await Promise.all(ids.map((id) => client.result(id, { wait: 60_000 })))) as [number, number][];
    expect(results.map(([index]) => index)).toEqual(ids.map((_, i) => i));
    // both cluster processes took tasks from the shared file
    expect(new Set(results.map(([, pid]) => pid))).toEqual(new Set(clusters.map((c) => c.pid)));
    const runtime = await client.runtime();
    const { records, total } = await runtime.store.list({ limit: TOTAL * 2 });
    expect(total).toBe(TOTAL);
    expect(records.every((r) => r.success && r.attemptCount === 1)).toBe(true);
    await Promise.all(clusters.map(stop));
    expect(await runtime.broker.queueSize()).toBe(0);
  }, 120_000);
});
