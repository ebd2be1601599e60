import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from '@taskq/conformance';
import { Taskq, eventChannelOf, type TaskFinishedEvent } from '@taskq/core';
import { postgres, sqlite, type TestDatabase } from './support/databases.js';

const TASKS = fileURLToPath(new URL('./support/tasks.mjs', import.meta.url));
const BIN = fileURLToPath(new URL('./cli/bin.js', import.meta.resolve('@taskq/core')));
const secretKey = 'orm-events-test';

/** `taskq cluster` in its own process (the worker host); the test process plays the web server. */
async function startCluster(url: string): Promise<{ child: ChildProcess; stop: () => Promise<void> }> {
  let output = '';
  const child = spawn(process.execPath, [BIN, 'cluster', '--workers', '1'], {
    env: { ...process.env, TASKQ_BROKER_URL: url, TASKQ_SECRET_KEY: secretKey, TASKQ_TASKS: TASKS },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await waitFor(() => /cluster default started/.test(output) || child.exitCode !== null, { timeoutMs: 60_000 });
  if (child.exitCode !== null) throw new Error(`the cluster exited: ${output}`);
  return {
    child,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}

const databases: TestDatabase[] = [];
afterAll(async () => {
  for (const db of databases) await db.cleanup();
});

async function crossProcess(db: TestDatabase, prefix: string) {
  const url = db.url(prefix);
  const cluster = await startCluster(url);
  const q = new Taskq({ broker: url, secretKey, logLevel: 'silent' });
  try {
    const finished: TaskFinishedEvent[] = [];
    const failed: TaskFinishedEvent[] = [];
    q.on('taskFinished', (event) => finished.push(event));
    q.on('taskFailed', (event) => failed.push(event));
    await q.eventsReady();
    const ok = await q.enqueue('add', [40, 2], { taskName: 'sum' });
    const bad = await q.enqueue('fail', ['kaput'], { taskName: 'broken', maxAttempts: 1 });
    await waitFor(() => finished.length >= 2, { timeoutMs: 30_000, message: 'two taskFinished events' });
    expect(finished.find((e) => e.id === ok)).toMatchObject({ name: 'sum', func: 'add', success: true, final: true });
    expect(failed).toEqual([expect.objectContaining({ id: bad, name: 'broken', success: false, final: true })]);
    return { q, cluster };
  } catch (error) {
    await q.close();
    await cluster.stop();
    throw error;
  }
}

describe('events across processes on PostgreSQL (LISTEN/NOTIFY)', { timeout: 120_000 }, () => {
  it('q.on(taskFinished | taskFailed) hears a cluster in another process; result(wait) wakes on NOTIFY', async () => {
    const db = await postgres();
    databases.push(db);
    const { q, cluster } = await crossProcess(db, 'ev_');
    try {
      const runtime = await q.runtime();
      expect(eventChannelOf(runtime.broker)).not.toBeNull();
      let reads = 0;
      const get = runtime.store.get.bind(runtime.store);
      runtime.store.get = (idOrName: string) => {
        reads += 1;
        return get(idOrName);
      };
      const id = await q.enqueue('sleep', [1500]);
      expect(await q.result(id, { wait: 30_000 })).toBe(1500);
      // Before, after the NOTIFY, and at most the one-a-second safety re-checks; polling would read ~20 times.
      expect(reads).toBeLessThanOrEqual(4);
    } finally {
      await q.close();
      await cluster.stop();
    }
  });
});

describe('events across processes on SQLite (no channel: the client polls the store)', { timeout: 120_000 }, () => {
  it('q.on(taskFinished | taskFailed) hears a cluster in another process', async () => {
    const db = await sqlite();
    databases.push(db);
    const { q, cluster } = await crossProcess(db, 'ev_');
    try {
      expect(eventChannelOf((await q.runtime()).broker)).toBeNull();
    } finally {
      await q.close();
      await cluster.stop();
    }
  });
});
