import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { Taskq, createSchedule, getSchedule, scheduleStoreOf } from '@taskq/core';

// A scheduler process SIGKILLed inside the transaction that claims a schedule's slot and enqueues its task (after
// the INSERT, before COMMIT), on PostgreSQL, MariaDB and SQLite: the slot is neither lost (claimed without its
// task, what the separate claim + enqueue allowed) nor doubled; the next scheduler enqueues it, and it runs once.
const PG = process.env.TASKQ_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const MYSQL = process.env.TASKQ_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
const run = `${process.pid.toString(36)}${randomBytes(3).toString('hex')}`;
const dir = mkdtempSync(join(tmpdir(), 'taskq-sched-crash-'));
const secret = randomBytes(16).toString('hex');

const DATABASES = [
  { name: 'sqlite', url: `sqlite:${join(dir, 'taskq.sqlite')}` },
  { name: 'postgres', url: `${PG}?schema=taskq_sc_${run}` },
  { name: 'mariadb', url: `${MYSQL}?prefix=tqsc${run}_` },
];

writeFileSync(join(dir, 'tasks.mjs'), 'export const add = (a, b) => a + b;\n');
// One scheduler cluster. With KILL_IN_TRANSACTION=1 its broker SIGKILLs the process right after the INSERT of a
// scheduled task inside the claim's transaction: the moment a crash used to lose the slot.
writeFileSync(
  join(dir, 'scheduler.mjs'),
  `import { Cluster, Taskq, createSchedulerPart } from ${JSON.stringify(import.meta.resolve('@taskq/core'))};
const url = process.env.TASKQ_URL;
const q = new Taskq({ name: 'schedcrash', secretKey: process.env.TASKQ_SECRET, broker: url, store: url,
  tasks: [${JSON.stringify(join(dir, 'tasks.mjs'))}], workers: 1, logLevel: 'warn' });
const runtime = await q.runtime();
if (process.env.KILL_IN_TRANSACTION === '1') {
  const broker = await runtime.brokerFor(runtime.config.cluster);
  const die = (what) => {
    process.stdout.write(what + '\\n');
    process.kill(process.pid, 'SIGKILL');
    return new Promise(() => {});
  };
  // inside the claim's transaction: after the INSERT, before COMMIT; on a separate claim + enqueue (the path
  // without a shared transaction): after the committed claim, before the enqueue
  const enqueue = broker.enqueue.bind(broker);
  broker.enqueue = async (payload, options) => {
    if (options?.transaction === undefined) return die('claimed');
    await enqueue(payload, options);
    return die('inserted');
  };
  broker.enqueueMany = async () => die('claimed');
}
const cluster = new Cluster(runtime, { handleSignals: false });
cluster.addPart(createSchedulerPart(runtime));
await cluster.start();
process.stdout.write('ready\\n');
process.once('SIGTERM', async () => {
  await cluster.stop({ deadlineMs: 5000 });
  await q.close();
  process.exit(0);
});
`,
);

function startScheduler(url: string, kill: boolean) {
  const child = spawn(process.execPath, [join(dir, 'scheduler.mjs')], {
    env: { ...process.env, TASKQ_URL: url, TASKQ_SECRET: secret, KILL_IN_TRANSACTION: kill ? '1' : '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) =>
    child.once('exit', (code, signal) => resolve(signal ?? code)),
  );
  return { child, exited, output: () => out };
}

async function eventually(check: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  const client = new pg.Client({ connectionString: PG });
  await client
    .connect()
    .then(() => client.query(`drop schema if exists taskq_sc_${run} cascade`))
    .catch(() => {});
  await client.end().catch(() => {});
  const connection = await mysql.createConnection({ uri: MYSQL }).catch(() => null);
  if (connection) {
    const [rows] = await connection.query(
      'select table_name as name from information_schema.tables where table_schema = database() and table_name like ?',
      [`tqsc${run}_%`],
    );
    const names = (rows as { name: string }[]).map((r) => `\`${r.name}\``);
    if (names.length > 0) await connection.query(`drop table if exists ${names.join(', ')}`);
    await connection.end();
  }
}, 60_000);

describe('a scheduler killed between claiming a slot and committing its task', () => {
  for (const database of DATABASES) {
    it(`loses nothing and doubles nothing on ${database.name}`, async () => {
      const q = new Taskq({ name: 'schedcrash', secretKey: secret, broker: database.url, store: database.url });
      try {
        const runtime = await q.runtime();
        const store = scheduleStoreOf(runtime.store);
        const schedule = await createSchedule(store, {
          func: 'add',
          args: [40, 2],
          type: 'Minutes',
          minutes: 60,
          repeats: 1,
          name: `crash-${database.name}`,
          nextRun: new Date(Date.now() - 1000),
        });

        const doomed = startScheduler(database.url, true);
        expect(await doomed.exited).toBe('SIGKILL');
        expect(doomed.output()).toContain('inserted'); // it took the one-transaction path
        // the claim and the task's row went with the uncommitted transaction
        const after = await getSchedule(store, schedule.id);
        expect(after?.nextRun.getTime()).toBe(schedule.nextRun.getTime());
        expect(after?.repeats).toBe(1);
        expect(after?.lastTaskId).toBeNull();
        expect(await runtime.broker.queueSize()).toBe(0);

        const next = startScheduler(database.url, false);
        try {
          // the scheduled task's group is the schedule's name
          await eventually(
            async () => (await runtime.store.countGroup(`crash-${database.name}`)) >= 1,
            'the slot enqueued and run',
            60_000,
          );
          const [record] = await runtime.store.getGroup(`crash-${database.name}`);
          expect(record?.success).toBe(true);
          expect(runtime.serializer.deserialize(record!.result!)).toBe(42);
        } finally {
          next.child.kill('SIGTERM');
          await next.exited;
        }
        expect(await runtime.store.countGroup(`crash-${database.name}`)).toBe(1);
        expect(await runtime.broker.queueSize()).toBe(0);
      } finally {
        await q.close();
      }
    }, 120_000);
  }
});
