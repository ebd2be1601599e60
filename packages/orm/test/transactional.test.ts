import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect, type ControlledTransaction } from 'kysely';
import mysqlCallback from 'mysql2';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MemoryBroker, Taskq, createSchedulerPart, type Broker } from '@taskq/core';
import { rejectionCode, sampleSchedule, sleep, uniqueName, waitFor } from '@taskq/conformance';
import { SqlBroker, SqlStore, parseUrl } from '../src/index.js';
import { allDatabases, type TestDatabase } from './support/databases.js';
// @ts-expect-error -- a plain ESM module shared with the crash child
import { HANDLE_KINDS, openHandle } from './support/tx-handles.mjs';

type Handle = {
  begin(): Promise<unknown>;
  commit(): Promise<unknown>;
  rollback(): Promise<unknown>;
  close(): Promise<unknown>;
};
const open = openHandle as (kind: string, target: string) => Promise<Handle>;
const kindsOf = HANDLE_KINDS as Record<TestDatabase['name'], string[]>;

const TASKS = fileURLToPath(new URL('./support/tasks.mjs', import.meta.url));
const CRASH = fileURLToPath(new URL('./support/tx-crash.mjs', import.meta.url));
const BIN = fileURLToPath(new URL('./cli/bin.js', import.meta.resolve('@taskq/core')));
const secretKey = 'orm-transactional-test';

const databases = await allDatabases();
afterAll(async () => {
  for (const database of databases) await database.cleanup();
});

/** `taskq cluster` in its own process, on broker and store `url`. */
async function startCluster(url: string): Promise<{ stop: () => Promise<void> }> {
  let output = '';
  const child = spawn(process.execPath, [BIN, 'cluster', '--workers', '1'], {
    env: {
      ...process.env,
      TASKQ_BROKER_URL: url,
      TASKQ_STORE_URL: url,
      TASKQ_SECRET_KEY: secretKey,
      TASKQ_TASKS: TASKS,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await waitFor(() => /cluster default started/.test(output) || child.exitCode !== null, { timeoutMs: 60_000 });
  if (child.exitCode !== null) throw new Error(`the cluster exited: ${output}`);
  return {
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}

/** The crash child: it enqueues inside an open transaction, says the task id, and is SIGKILLed before COMMIT. */
async function crashBeforeCommit(kind: string, target: string, url: string): Promise<string> {
  const child: ChildProcess = spawn(process.execPath, [CRASH, kind, target, url, secretKey], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  await waitFor(() => stdout.includes('\n') || child.exitCode !== null, { timeoutMs: 30_000, message: 'the task id' });
  if (child.exitCode !== null) throw new Error(`the crash child exited early: ${stderr}`);
  child.kill('SIGKILL');
  await exited;
  return (JSON.parse(stdout.trim()) as { id: string }).id;
}

/** The driver's own target of a taskq test URL: the SQLite file, or the server URL without taskq's parameters. */
const targetOf = (url: string) => parseUrl(url).target;

for (const database of databases) {
  describe.skipIf(!database.enabled)(`transactional enqueue on ${database.name}`, { timeout: 120_000 }, () => {
    const url = database.url('tx_');
    const target = targetOf(url);
    let q: Taskq;
    let cluster: { stop: () => Promise<void> } | undefined;

    beforeAll(async () => {
      q = new Taskq({ broker: url, store: url, secretKey, logLevel: 'silent' });
      // open and migrate first: on SQLite taskq's connection must not wait for a test transaction's lock
      await q.queueSize();
      cluster = await startCluster(url);
    });

    afterAll(async () => {
      await cluster?.stop();
      await q?.close();
    });

    /** A task enqueued (and committed) after `id` has run; since FIFO and one worker, `id` would have too. */
    async function nothingRan(id: string): Promise<void> {
      const sentinel = await q.enqueue('add', [0, 0]);
      expect(await q.result(sentinel, { wait: 30_000 })).toBe(0);
      expect(await q.result(id)).toBeUndefined();
      expect(await q.queueSize()).toBe(0);
    }

    for (const kind of kindsOf[database.name]) {
      describe(kind, () => {
        it('commit: the tasks exist only from COMMIT on, and the cluster runs them', async () => {
          const handle = await open(kind, target);
          try {
            const transaction = await handle.begin();
            const one = await q.enqueue('add', [40, 2], { transaction });
            const [two, three] = await q.enqueueMany([
              { task: 'add', args: [1, 1], options: { transaction } },
              { task: 'add', args: [2, 2], options: { transaction } },
            ]);
            // other connections see nothing yet (WAL readers on SQLite)
            expect(await q.queueSize()).toBe(0);
            await handle.commit();
            expect(await q.result(one, { wait: 30_000 })).toBe(42);
            expect(await q.result(two!, { wait: 30_000 })).toBe(2);
            expect(await q.result(three!, { wait: 30_000 })).toBe(4);
          } finally {
            await handle.close();
          }
        });

        it('rollback: nothing exists and nothing runs', async () => {
          const handle = await open(kind, target);
          let id: string;
          try {
            const transaction = await handle.begin();
            id = await q.enqueue('add', [1, 2], { transaction });
            await q.enqueueMany([{ task: 'add', args: [3, 4], options: { transaction } }]);
            await handle.rollback();
          } finally {
            await handle.close();
          }
          await nothingRan(id);
        });

        it('a process killed (SIGKILL) before COMMIT leaves no task', async () => {
          const id = await crashBeforeCommit(kind, target, url);
          await nothingRan(id);
        });
      });
    }
  });
}

/** The application's handles of every dialect, for the wrong-kind cases. */
describe('handles the broker refuses', () => {
  const pgDb = databases.find((d) => d.name === 'postgres')!;
  const myDb = databases.find((d) => d.name === 'mariadb')!;
  const liteDb = databases.find((d) => d.name === 'sqlite')!;

  async function refusal(broker: Broker, transaction: unknown, accepted: RegExp): Promise<void> {
    const before = await broker.queueSize();
    const error = await broker.enqueue('x', { transaction }).then(
      () => null,
      (e: unknown) => e as { code?: string; message: string },
    );
    expect(error?.code).toBe('TASKQ_INVALID_ARGUMENT');
    expect(error?.message).toMatch(accepted);
    expect(await broker.queueSize()).toBe(before);
  }

  it.skipIf(!pgDb.enabled || !myDb.enabled)(
    'another dialect’s handle, a pool, or a connection with no open transaction: TASKQ_INVALID_ARGUMENT naming what is accepted',
    async () => {
      const onPg = await SqlBroker.open({ connection: pgDb.url('refuse_'), queue: uniqueName('r'), retrySeconds: 5 });
      const onMy = await SqlBroker.open({ connection: myDb.url('refuse_'), queue: uniqueName('r'), retrySeconds: 5 });
      const client = new pg.Client({ connectionString: targetOf(pgDb.url()) });
      await client.connect();
      const myConnection = await mysql.createConnection({ uri: targetOf(myDb.url()) });
      const pool = new pg.Pool({ connectionString: targetOf(pgDb.url()) });
      const lite = new BetterSqlite3(':memory:');
      try {
        const pgAccepted = /takes as `transaction`: a Kysely Transaction .*a pg Client\/PoolClient inside BEGIN/;
        const myAccepted = /takes as `transaction`: a Kysely Transaction .*a mysql2 Connection\/PoolConnection/;
        await client.query('BEGIN');
        await refusal(onMy, client, myAccepted);
        await refusal(onMy, client, /a pg Client of PostgreSQL, but the broker's database is MySQL\/MariaDB/);
        await client.query('ROLLBACK');
        await refusal(onPg, myConnection, pgAccepted);
        await refusal(onPg, lite, pgAccepted);
        await refusal(onPg, pool, /connection pool/);
        await refusal(onPg, {}, /none of the handles/);
        // the right kind, but no BEGIN: the statement would commit on its own
        await refusal(onPg, client, /not inside an open transaction/);
        await refusal(onMy, myConnection, /not inside an open transaction/);
      } finally {
        await client.end();
        await myConnection.end();
        await pool.end();
        lite.close();
        await onPg.deleteQueue();
        await onMy.deleteQueue();
        await onPg.close();
        await onMy.close();
      }
    },
  );

  it('SQLite: another file, or db.transaction(fn) (it commits before an awaited enqueue runs), is refused', async () => {
    const url = liteDb.url('refuse_');
    const broker = await SqlBroker.open({ connection: url, queue: uniqueName('r'), retrySeconds: 5 });
    const other = new BetterSqlite3(':memory:');
    const same = new BetterSqlite3(targetOf(url));
    try {
      other.exec('BEGIN');
      await refusal(broker, other, /an in-memory database, not the broker's file/);
      let pending: Promise<unknown> = Promise.resolve();
      same.transaction(() => {
        pending = broker.enqueue('x', { transaction: same });
      })();
      expect(await rejectionCode(pending)).toBe('TASKQ_INVALID_ARGUMENT');
      await refusal(broker, same, /db\.transaction\(fn\) cannot hold one across an `await`/);
      expect(await broker.queueSize()).toBe(0);
    } finally {
      other.close();
      same.close();
      await broker.close();
    }
  });
});

/**
 * In-process wake-up: the row appears at COMMIT, which only PostgreSQL's NOTIFY announces. A consumer of this
 * process asleep on a long poll interval must still get the task promptly after the commit.
 */
describe('a committed task is delivered promptly to a consumer in the same process', () => {
  for (const database of databases) {
    it.skipIf(!database.enabled)(
      database.name,
      async () => {
        const queue = uniqueName('prompt');
        // SQLite in one process: the broker on a Kysely instance and the transaction of that instance (Kysely
        // queues the consumer's claim behind the transaction instead of blocking the thread on the file lock)
        const sqliteDb =
          database.name === 'sqlite'
            ? new Kysely<unknown>({
                dialect: new SqliteDialect({ database: new BetterSqlite3(targetOf(database.url('prompt_'))) }),
              })
            : undefined;
        const connection = sqliteDb ?? database.url('prompt_');
        const options = { queue, retrySeconds: 30, pollMinMs: 50, pollMaxMs: 30_000 };
        const prefix = database.name === 'sqlite' ? { tablePrefix: 'prompt_' } : {};
        const consumer = await SqlBroker.open({ connection, ...prefix, ...options });
        const producer = await SqlBroker.open({ connection, ...prefix, ...options });
        let trx: ControlledTransaction<unknown> | undefined;
        const handle =
          database.name === 'sqlite'
            ? {
                begin: async () => (trx = await sqliteDb!.startTransaction().execute()),
                commit: () => trx!.commit().execute(),
                close: async () => {},
              }
            : await open(kindsOf[database.name][1]!, targetOf(database.url()));
        try {
          const delivered = consumer.dequeue({ max: 1, waitMs: 60_000 });
          // empty polls double the interval (50, 100, … 1600 ms): by now it sleeps 3.2 s at a time
          await sleep(3300);
          const transaction = await handle.begin();
          await producer.enqueue('prompt', { transaction });
          await sleep(300); // the transaction stays open: a look at the enqueue's wake-up finds nothing
          await handle.commit();
          const committedAt = Date.now();
          const [delivery] = await delivered;
          expect(delivery?.payload).toBe('prompt');
          expect(Date.now() - committedAt).toBeLessThan(1500);
        } finally {
          await handle.close();
          await consumer.deleteQueue();
          await consumer.close();
          await producer.close();
          await sqliteDb?.destroy();
        }
      },
      60_000,
    );
  }
});

describe('the scheduler on a SQL store and broker of one database', () => {
  for (const database of databases) {
    describe.skipIf(!database.enabled)(database.name, () => {
      async function setUp(prefix: string) {
        const url = database.url(prefix);
        const cluster = uniqueName('sched');
        const q = new Taskq({ broker: url, store: url, secretKey, logLevel: 'silent', cluster });
        const runtime = await q.runtime();
        const store = runtime.store as SqlStore;
        const broker = (await runtime.brokerFor(cluster)) as SqlBroker;
        await broker.purgeQueue();
        const atomic = vi.spyOn(store, 'claimScheduleAndEnqueue');
        const separate = vi.spyOn(store, 'claimSchedule');
        const part = createSchedulerPart(runtime);
        const schedule = await store.createSchedule(sampleSchedule({ nextRun: new Date(Date.now() - 1000) }));
        return { q, store, broker, atomic, separate, scheduler: part.scheduler, schedule };
      }

      it('claims the slot and enqueues its task in one transaction', async () => {
        const { q, store, atomic, separate, scheduler, schedule } = await setUp('sched1_');
        try {
          expect(await scheduler.runDue()).toMatchObject({ enqueued: 1, errors: 0 });
          expect(atomic).toHaveBeenCalledTimes(1);
          await expect(atomic.mock.results[0]!.value).resolves.toBe(true);
          expect(separate).not.toHaveBeenCalled();
          expect(await q.queueSize()).toBe(1);
          const after = await store.getSchedule(schedule.id);
          expect(after!.nextRun.getTime()).toBeGreaterThan(Date.now());
          expect(after!.lastTaskId).not.toBeNull();
        } finally {
          await q.close();
        }
      });

      it('an enqueue that fails after its INSERT rolls the claim back: the slot stays due and the next pass enqueues it once', async () => {
        const { q, store, broker, atomic, scheduler, schedule } = await setUp('sched2_');
        try {
          const enqueue = broker.enqueue.bind(broker);
          vi.spyOn(broker, 'enqueue').mockImplementationOnce(async (payload, options) => {
            await enqueue(payload, options); // the row is written inside the transaction …
            throw new Error('killed before COMMIT'); // … and the process dies before the commit
          });
          await expect(scheduler.runDue()).rejects.toThrow('killed before COMMIT');
          expect(await q.queueSize()).toBe(0);
          const still = await store.getSchedule(schedule.id);
          expect(still!.nextRun.getTime()).toBe(schedule.nextRun.getTime());
          expect(still!.lastTaskId).toBeNull();
          expect(await scheduler.runDue()).toMatchObject({ enqueued: 1, errors: 0 });
          expect(atomic).toHaveBeenCalledTimes(2);
          expect(await q.queueSize()).toBe(1);
          expect((await store.getSchedule(schedule.id))!.nextRun.getTime()).toBeGreaterThan(Date.now());
        } finally {
          await q.close();
        }
      });

      it('another broker, or a SqlBroker on another pool, gets null and nothing is claimed', async () => {
        const url = database.url('sched3_');
        const store = await SqlStore.open({ connection: url });
        const memory = new MemoryBroker({ queue: 'm', retrySeconds: 5 });
        // the same database through another pool of the app's: taskq cannot tell, so it does not join them
        const parsed = parseUrl(url);
        const source =
          database.name === 'sqlite'
            ? new BetterSqlite3(parsed.target)
            : database.name === 'postgres'
              ? new pg.Pool({ connectionString: parsed.target })
              : mysqlCallback.createPool({ uri: parsed.target });
        const elsewhere = await SqlBroker.open({
          connection: source,
          ...(parsed.schema !== undefined ? { schema: parsed.schema } : {}),
          ...(parsed.tablePrefix !== undefined ? { tablePrefix: parsed.tablePrefix } : {}),
          queue: uniqueName('elsewhere'),
          retrySeconds: 5,
        });
        try {
          const schedule = await store.createSchedule(sampleSchedule({ nextRun: new Date(Date.now() - 1000) }));
          const outcome = {
            nextRun: new Date(Date.now() + 3_600_000),
            repeats: -1,
            lastTaskId: 'x'.repeat(32),
            lastRunAt: new Date(),
          };
          for (const broker of [memory, elsewhere]) {
            await expect(
              store.claimScheduleAndEnqueue(schedule.id, schedule.nextRun, outcome, {
                broker,
                payload: 'p',
                options: {},
              }),
            ).resolves.toBeNull();
          }
          expect((await store.getSchedule(schedule.id))!.nextRun.getTime()).toBe(schedule.nextRun.getTime());
          expect(await elsewhere.queueSize()).toBe(0);
        } finally {
          await memory.close();
          await elsewhere.close();
          await store.close();
          if (source instanceof BetterSqlite3) source.close();
          else
            await new Promise<void>(
              (resolve) => void (source as { end(cb: () => void): unknown }).end(() => resolve()),
            );
        }
      });
    });
  }
});
