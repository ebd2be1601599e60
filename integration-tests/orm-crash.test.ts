import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { Taskq } from '@taskq/core';

// kill -9 of a cluster process on PostgreSQL while it works through 2,000 tasks loses none.
const PG = process.env.TASKQ_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `taskq_crash_${process.pid}_${randomBytes(3).toString('hex')}`;
const url = `${PG}?schema=${schema}`;
const secret = randomBytes(16).toString('hex');
const CLUSTER = fileURLToPath(new URL('./support/orm-crash-cluster.mjs', import.meta.url));
const TOTAL = 2000;

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
    const timer = setTimeout(() => reject(new Error('the cluster process did not start within 30 s')), 30_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('ready')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the cluster process exited (${code ?? signal}) before it was ready`));
    });
  });
}

function stop(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

async function eventually(check: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

afterAll(async () => {
  await Promise.all([...children].map((c) => stop(c, 'SIGKILL')));
  await client.close();
  const db = new pg.Client({ connectionString: PG });
  await db.connect();
  await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await db.end();
}, 60_000);

describe('SQL broker on PostgreSQL: a cluster killed with SIGKILL', () => {
  it(`loses none of ${TOTAL} tasks: each ends with exactly one saved result`, async () => {
    const ids = await client.enqueueMany(Array.from({ length: TOTAL }, (_, i) => ({ task: 'work', args: [i] })));
    expect(new Set(ids).size).toBe(TOTAL);
    const runtime = await client.runtime();
    const saved = async () => (await runtime.store.list({ limit: 1 })).total;

    const first = await startCluster();
    await eventually(async () => (await saved()) >= TOTAL / 4, 'a quarter of the results', 60_000);
    await stop(first, 'SIGKILL');
    // it really died mid-run, holding leased tasks that only lease expiry can give back
    expect(await saved()).toBeLessThan(TOTAL);
    expect(await runtime.broker.lockSize()).toBeGreaterThan(0);

    const second = await startCluster();
    await eventually(async () => (await saved()) >= TOTAL, 'every result', 120_000);
    await eventually(
      async () => (await runtime.broker.queueSize()) + (await runtime.broker.lockSize()) === 0,
      'an empty queue',
      30_000,
    );
    await stop(second, 'SIGTERM');

    // one row per task id (the primary key), every one a success with the right value
    const { records, total } = await runtime.store.list({ limit: TOTAL * 2 });
    expect(total).toBe(TOTAL);
    expect(new Set(records.map((r) => r.id))).toEqual(new Set(ids));
    expect(records.every((r) => r.success)).toBe(true);
    const byId = new Map(records.map((r) => [r.id, r]));
    ids.forEach((id, i) => expect(JSON.parse(byId.get(id)!.result!)).toBe(i));
  }, 240_000);
});
