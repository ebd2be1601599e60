import { execFile } from 'node:child_process';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, PostgresDialect } from 'kysely';
import { createPool as createMysqlPool } from 'mysql2';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { isTaskqError } from '@taskq/core';
import { makeRecord, rejectionCode, uniqueName, waitFor } from '@taskq/conformance';
import {
  SqlBroker,
  SqlStore,
  brokerFactory,
  migrate,
  parseUrl,
  storeFactory,
  type MigrateResult,
} from '../src/index.js';
import { MIGRATIONS } from '../src/migrations/index.js';
import { allDatabases, MYSQL_URL, PG_URL, type TestDatabase } from './support/databases.js';

const run = promisify(execFile);
const databases = await allDatabases();

afterAll(async () => {
  for (const database of databases) await database.cleanup();
});

describe('parseUrl', () => {
  it('reads SQLite files, in-memory databases and taskq query parameters', () => {
    expect(parseUrl('sqlite:./taskq.sqlite')).toEqual({ dialect: 'sqlite', target: './taskq.sqlite' });
    expect(parseUrl('sqlite:///var/lib/q.db?prefix=app_')).toEqual({
      dialect: 'sqlite',
      target: '/var/lib/q.db',
      tablePrefix: 'app_',
    });
    expect(parseUrl('sqlite::memory:').target).toBe(':memory:');
  });

  it('passes server URLs on without taskq parameters; mariadb: is mysql:', () => {
    expect(parseUrl('postgresql://u:p@h:5432/db?schema=jobs&sslmode=disable')).toEqual({
      dialect: 'postgres',
      target: 'postgres://u:p@h:5432/db?sslmode=disable',
      schema: 'jobs',
    });
    expect(parseUrl('mariadb://root@h:3306/db?prefix=x_')).toEqual({
      dialect: 'mysql',
      target: 'mysql://root@h:3306/db',
      tablePrefix: 'x_',
    });
  });

  it('rejects other schemes and unsafe prefixes with TASKQ_CONFIG_INVALID', async () => {
    expect(() => parseUrl('redis://h')).toThrow(expect.objectContaining({ code: 'TASKQ_CONFIG_INVALID' }));
    expect(() => new SqlBroker({ connection: 'sqlite::memory:?prefix=a;drop', queue: 'q', retrySeconds: 1 })).toThrow(
      expect.objectContaining({ code: 'TASKQ_CONFIG_INVALID' }),
    );
  });
});

describe('factories', () => {
  it('serve every SQL scheme', () => {
    expect([...brokerFactory.schemes].sort()).toEqual(['mariadb', 'mysql', 'postgres', 'postgresql', 'sqlite']);
    expect(storeFactory.schemes).toEqual(brokerFactory.schemes);
  });
});

/** A server that accepts TCP connections and never says a word (a hung database host). */
async function silentServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => sockets.add(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('a database host that accepts connections and never answers', () => {
  it('fails the broker with TASKQ_BROKER_UNAVAILABLE after connectTimeoutMs, on PostgreSQL and MySQL', async () => {
    const silent = await silentServer();
    try {
      for (const scheme of ['postgres', 'mysql']) {
        const connection = `${scheme}://root@127.0.0.1:${silent.port}/test`;
        const opening = SqlBroker.open({ connection, queue: 'q', retrySeconds: 1, connectTimeoutMs: 300 });
        expect(await rejectionCode(opening)).toBe('TASKQ_BROKER_UNAVAILABLE');
      }
    } finally {
      await silent.close();
    }
  });

  it('makes `taskq cluster` exit with code 5 and say why, instead of hanging silently', async () => {
    const silent = await silentServer();
    try {
      const bin = fileURLToPath(new URL('../../core/dist/cli/bin.js', import.meta.url));
      const result = await run(process.execPath, [bin, 'cluster'], {
        env: {
          ...process.env,
          TASKQ_BROKER_URL: `postgres://postgres@127.0.0.1:${silent.port}/test`,
          TASKQ_SECRET_KEY: 'silent-host',
          TASKQ_BROKER_TIMEOUT: '2',
        },
        timeout: 60_000,
      }).then(
        () => ({ code: 0, stderr: '' }),
        (error: { code?: number; stderr?: string }) => ({ code: error.code, stderr: error.stderr ?? '' }),
      );
      expect(result.code).toBe(5);
      expect(result.stderr).toMatch(/TASKQ_BROKER_UNAVAILABLE|reach/i);
    } finally {
      await silent.close();
    }
  });
});

describe('unreachable database', () => {
  it('rejects with TASKQ_BROKER_UNAVAILABLE / TASKQ_STORE_UNAVAILABLE', async () => {
    const url = 'postgres://postgres@127.0.0.1:1/test';
    expect(await rejectionCode(Promise.resolve(brokerFactory.create(url, { queue: 'q', retrySeconds: 1 })))).toBe(
      'TASKQ_BROKER_UNAVAILABLE',
    );
    expect(await rejectionCode(Promise.resolve(storeFactory.create(url, { namespace: 'n' })))).toBe(
      'TASKQ_STORE_UNAVAILABLE',
    );
    expect(
      await rejectionCode(
        Promise.resolve(brokerFactory.create('mysql://root@127.0.0.1:1/test', { queue: 'q', retrySeconds: 1 })),
      ),
    ).toBe('TASKQ_BROKER_UNAVAILABLE');
  });
});

for (const database of databases) {
  describe.skipIf(!database.enabled)(`${database.name}`, () => {
    it('migrations run twice are a no-op; the version is recorded', async () => {
      const url = database.url('mig_');
      const first = await migrate(url);
      expect(first.applied).toEqual(MIGRATIONS.map((m) => m.version));
      const second = await migrate(url);
      expect(second).toEqual({ applied: [], version: first.version });
    });

    it('migrations started at once by two independent pools apply each version once', async () => {
      const url = database.url('race_');
      let results: MigrateResult[];
      if (database.name === 'sqlite') {
        // better-sqlite3 blocks its thread while it waits for a lock, so the second connection must be another process
        const script = fileURLToPath(new URL('./support/sqlite-migrate.mjs', import.meta.url));
        const outputs = await Promise.all([1, 2].map(() => run(process.execPath, [script, url], { timeout: 60_000 })));
        results = outputs.map((o) => JSON.parse(o.stdout) as MigrateResult);
      } else {
        const [a, b] = [ownPool(database, url), ownPool(database, url)];
        try {
          results = await Promise.all([migrate(a.source, a.options), migrate(b.source, b.options)]);
        } finally {
          await a.close();
          await b.close();
        }
      }
      expect(results.flatMap((r) => r.applied)).toEqual(MIGRATIONS.map((m) => m.version));
    });

    it('a broker and a store on one URL share one pool', async () => {
      const url = database.url('share_');
      const broker = await SqlBroker.open({ connection: url, queue: uniqueName('share'), retrySeconds: 5 });
      const store = await SqlStore.open({ connection: url });
      try {
        expect(store.connection.entry).toBe(broker.connection.entry);
        await broker.close();
        // the store keeps working after the broker let go of the shared pool
        await store.saveMany([makeRecord()]);
        expect((await store.list()).total).toBe(1);
      } finally {
        await broker.close();
        await store.close();
      }
    });

    it("works on the app's own pool or Kysely instance, and leaves it open", async () => {
      const url = database.url('own_');
      const own = ownPool(database, url);
      const broker = await SqlBroker.open({ connection: own.source, ...own.options, queue: 'own', retrySeconds: 5 });
      try {
        await broker.enqueue('mine');
        const [delivery] = await broker.dequeue({ waitMs: 2000 });
        expect(delivery?.payload).toBe('mine');
        await broker.acknowledge(delivery!.receipt);
        await broker.close();
        await own.check();
      } finally {
        await broker.close();
        await own.close();
      }
    });

    it('bulk dequeue takes due messages by priority, then FIFO', async () => {
      const broker = await SqlBroker.open({
        connection: database.url('order_'),
        queue: uniqueName('o'),
        retrySeconds: 30,
      });
      try {
        await broker.enqueueMany([
          { payload: 'a' },
          { payload: 'b', options: { priority: 5 } },
          { payload: 'c' },
          { payload: 'later', options: { delayMs: 60_000 } },
          { payload: 'd', options: { priority: 5 } },
        ]);
        const got = await broker.dequeue({ max: 10 });
        expect(got.map((d) => d.payload)).toEqual(['b', 'd', 'a', 'c']);
        expect(await broker.lockSize()).toBe(4);
        expect(await broker.queueSize()).toBe(1);
        const listed = await broker.listQueued();
        const later = listed.find((m) => m.payload === 'later');
        expect(later?.lockedUntil).toBeNull();
        expect(later?.runAt?.getTime()).toBeGreaterThan(Date.now());
        expect(listed.filter((m) => m.lockedUntil).length).toBe(4);
        await broker.purgeQueue();
      } finally {
        await broker.close();
      }
    });

    it('enqueueMany of more rows than one INSERT takes keeps every payload and id', async () => {
      const broker = await SqlBroker.open({
        connection: database.url('bulk_'),
        queue: uniqueName('b'),
        retrySeconds: 30,
      });
      try {
        const payloads = Array.from({ length: 2500 }, (_, i) => `p${i}`);
        const ids = await broker.enqueueMany(payloads.map((payload) => ({ payload })));
        expect(new Set(ids).size).toBe(payloads.length);
        const got: string[] = [];
        for (;;) {
          const batch = await broker.dequeue({ max: 1000 });
          if (batch.length === 0) break;
          got.push(...batch.map((d) => d.payload));
          await broker.acknowledgeMany(batch.map((d) => d.receipt));
        }
        expect(got).toEqual(payloads);
        expect(await broker.queueSize()).toBe(0);
      } finally {
        await broker.close();
      }
    });

    it('keeps the save rule and prune per name on the database', async () => {
      const store = await SqlStore.open({ connection: database.url('prune_') });
      try {
        const records = Array.from({ length: 6 }, (_, i) =>
          makeRecord({ name: i % 2 ? 'odd' : 'even', stoppedAt: new Date(Date.UTC(2030, 0, 1, 0, 0, i)) }),
        );
        await store.saveMany(records);
        expect(await store.prune({ keep: 1, per: 'name' })).toBe(4);
        expect((await store.list()).records.map((r) => r.name).sort()).toEqual(['even', 'odd']);
      } finally {
        await store.close();
      }
    });

    it('an expired cached failure is saved again as a first attempt', async () => {
      const store = await SqlStore.open({ connection: database.url('expiry_') });
      try {
        const failure = makeRecord({ success: false, result: null });
        expect(await store.saveMany([failure], { ttlSeconds: 0.001 })).toEqual([1]);
        await waitFor(async () => (await store.get(failure.id)) === null, { message: 'expired' });
        // one record alone (single-statement path) and twice in a batch (transaction path)
        expect(await store.saveMany([failure])).toEqual([1]);
        await store.saveMany([failure], { ttlSeconds: 0.001 });
        await waitFor(async () => (await store.get(failure.id)) === null, { message: 'expired again' });
        expect(await store.saveMany([failure, failure])).toEqual([1, 2]);
        expect((await store.get(failure.id))?.attemptCount).toBe(2);
      } finally {
        await store.close();
      }
    });

    it('job control is atomic across independent connections: one claim wins, adds count 1…N', async () => {
      const url = database.url('ctl_');
      const key = `dedup:${uniqueName('k')}`;
      const setKey = `fanin:${uniqueName('s')}`;
      let claims: (string | null)[];
      let sizes: number[];
      if (database.name === 'sqlite') {
        // better-sqlite3 blocks its thread while it waits for the lock, so the other writer must be another process
        await migrate(url);
        const script = fileURLToPath(new URL('./support/sqlite-control.mjs', import.meta.url));
        const outputs = await Promise.all(
          ['a', 'b'].map((label) =>
            run(process.execPath, [script, url, key, setKey, label, '10'], { timeout: 60_000 }),
          ),
        );
        const results = outputs.map((o) => JSON.parse(o.stdout) as { claims: (string | null)[]; sizes: number[] });
        claims = results.flatMap((r) => r.claims);
        sizes = results.flatMap((r) => r.sizes);
      } else {
        const [a, b] = [ownPool(database, url), ownPool(database, url)];
        const stores = await Promise.all(
          [a, b].map((own) => SqlStore.open({ connection: own.source, ...own.options })),
        );
        try {
          const calls = Array.from({ length: 20 }, (_, i) => stores[i % 2]!);
          claims = await Promise.all(calls.map((s, i) => s.claimValue(key, `claimant-${i}`, null)));
          sizes = await Promise.all(calls.map((s, i) => s.addMember(setKey, `member-${i}`, 60_000)));
        } finally {
          for (const s of stores) await s.close();
          await a.close();
          await b.close();
        }
      }
      expect(claims.filter((c) => c === null)).toHaveLength(1);
      const store = await SqlStore.open({ connection: url });
      try {
        const winner = (await store.getValues([key])).get(key);
        expect(claims.filter((c) => c !== null && c !== winner)).toEqual([]);
        expect([...sizes].sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      } finally {
        await store.close();
      }
    });

    it('control keys and values compare exactly; LIKE wildcards in a namespace are literal', async () => {
      const store = await SqlStore.open({ connection: database.url('exact_') });
      try {
        const id = uniqueName('x');
        await store.setValue(`n_1:${id}`, 'underscore', null);
        await store.setValue(`nx1:${id}`, 'x', null);
        await store.setValue(`N_1:${id}`, 'upper case', null);
        expect([...(await store.listValues('n_1:')).entries()]).toEqual([[`n_1:${id}`, 'underscore']]);
        await store.setValue(`k:${id}`, 'v', null);
        await store.setValue(`k:${id} `, 'v ', null);
        expect(await store.getValues([`k:${id}`, `k:${id} `])).toEqual(
          new Map([
            [`k:${id}`, 'v'],
            [`k:${id} `, 'v '],
          ]),
        );
        expect(await store.deleteValue(`k:${id}`, 'v ')).toBe(false);
        expect(await store.deleteValue(`k:${id}`, 'v')).toBe(true);
        expect(await store.getValues([`k:${id}`, `k:${id} `])).toEqual(new Map([[`k:${id} `, 'v ']]));
        expect(await store.addMember(`set:${id}`, 'm', null)).toBe(1);
        expect(await store.addMember(`set:${id}`, 'm ', null)).toBe(2);
        expect(await store.addMember(`set:${id}`, 'M', null)).toBe(3);
      } finally {
        await store.close();
      }
    });

    it('expired control values and sets are deleted from their tables by a later write', async () => {
      const url = database.url('purge_');
      const first = await SqlStore.open({ connection: url });
      const id = uniqueName('p');
      const { q, tables } = first.connection;
      const rows = async () => [
        ...(await q.selectFrom(tables.name('control')).select('key').where('key', '=', `v:${id}`).execute()),
        ...(await q.selectFrom(tables.name('control_sets')).select('key').where('key', '=', `s:${id}`).execute()),
        ...(await q
          .selectFrom(tables.name('control_members'))
          .select('member')
          .where('set_key', '=', `s:${id}`)
          .execute()),
      ];
      try {
        await first.setValue(`v:${id}`, 'short', 50);
        await first.addMember(`s:${id}`, 'm', 50);
        expect(await rows()).toHaveLength(3);
        await waitFor(async () => (await first.getValues([`v:${id}`])).size === 0, { message: 'value expired' });
        // each store deletes at most once a minute: a new one writes, and deletes what expired
        const second = await SqlStore.open({ connection: url });
        try {
          await second.setValue(`other:${id}`, 'x', null);
          expect(await rows()).toEqual([]);
        } finally {
          await second.close();
        }
      } finally {
        await first.close();
      }
    });

    if (database.name === 'postgres') {
      it('LISTEN/NOTIFY wakes a waiting dequeue on another connection pool', async () => {
        const url = database.url('notify_');
        const queue = uniqueName('n');
        const pool = new pg.Pool({ connectionString: PG_URL });
        const { schema, tablePrefix } = parseUrl(url);
        // a polling interval far longer than the wait: only a notification can deliver in time
        const consumer = await SqlBroker.open({
          connection: pool,
          schema,
          tablePrefix,
          queue,
          retrySeconds: 30,
          pollMinMs: 120_000,
          pollMaxMs: 120_000,
        });
        const producer = await SqlBroker.open({ connection: url, queue, retrySeconds: 30 });
        try {
          expect((await consumer.info()).wake).toBe('listen/notify');
          const waiting = consumer.dequeue({ waitMs: 30_000 });
          await new Promise((resolve) => setTimeout(resolve, 300));
          await producer.enqueue('ding');
          expect((await waiting).map((d) => d.payload)).toEqual(['ding']);
        } finally {
          await consumer.close();
          await producer.close();
          await pool.end();
        }
      });
    }

    if (database.name === 'postgres') {
      it('reconnects its LISTEN connection after the server drops it', async () => {
        const url = database.url('relisten_');
        const queue = uniqueName('r');
        const pool = new pg.Pool({ connectionString: PG_URL });
        const { schema, tablePrefix } = parseUrl(url);
        const options = { schema, tablePrefix, queue, retrySeconds: 30, pollMinMs: 50, pollMaxMs: 120_000 };
        const consumer = await SqlBroker.open({ connection: pool, ...options });
        const producer = await SqlBroker.open({ connection: url, queue, retrySeconds: 30 });
        const listening = async () => (await consumer.info()).listening === true;
        try {
          await consumer.dequeue({ waitMs: 50 });
          expect(await listening()).toBe(true);
          const channel = `${schema}_${tablePrefix}queue_wake`;
          await pool.query(
            'select pg_terminate_backend(pid) from pg_stat_activity where query = $1 and pid <> pg_backend_pid()',
            [`LISTEN "${channel}"`],
          );
          await waitFor(async () => !(await listening()), { message: 'the listener noticed' });
          // waiting dequeues reconnect it
          await waitFor(async () => (await consumer.dequeue({ waitMs: 100 })).length === 0 && (await listening()), {
            timeoutMs: 10_000,
            message: 'listening again',
          });
          const waiting = consumer.dequeue({ waitMs: 30_000 });
          await new Promise((resolve) => setTimeout(resolve, 300));
          await producer.enqueue('after reconnect');
          expect((await waiting).map((d) => d.payload)).toEqual(['after reconnect']);
        } finally {
          await consumer.close();
          await producer.close();
          await pool.end();
        }
      });
    }

    if (database.name === 'sqlite') {
      it('two processes on one SQLite file share the queue without double delivery', async () => {
        const url = database.url('procs_');
        const queue = uniqueName('p');
        const producer = await SqlBroker.open({ connection: url, queue, retrySeconds: 60 });
        const total = 600;
        await producer.enqueueMany(Array.from({ length: total }, (_, i) => ({ payload: `job-${i}` })));
        const script = fileURLToPath(new URL('./support/sqlite-consumer.mjs', import.meta.url));
        try {
          const outputs = await Promise.all(
            [1, 2].map(() => run(process.execPath, [script, url, queue, String(total)], { timeout: 60_000 })),
          );
          const [a, b] = outputs.map((o) => JSON.parse(o.stdout) as string[]);
          const all = [...a!, ...b!];
          expect(all.length).toBe(total);
          expect(new Set(all).size).toBe(total);
          expect(await producer.queueSize()).toBe(0);
          expect(await producer.lockSize()).toBe(0);
        } finally {
          await producer.close();
        }
      });

      it('sqlite::memory: keeps broker and store in one in-process database', async () => {
        const broker = await SqlBroker.open({ connection: 'sqlite::memory:', queue: 'mem', retrySeconds: 5 });
        const store = await SqlStore.open({ connection: 'sqlite::memory:' });
        try {
          expect(store.connection.entry).toBe(broker.connection.entry);
          await broker.enqueue('m');
          expect(await broker.queueSize()).toBe(1);
        } finally {
          await broker.close();
          await store.close();
        }
      });
    }

    if (database.name !== 'postgres') {
      it('rejects the PostgreSQL-only schema option', () => {
        let error: unknown;
        try {
          new SqlStore({ connection: database.url('x_'), schema: 'nope' }).close();
        } catch (caught) {
          error = caught;
        }
        expect(isTaskqError(error, 'TASKQ_CONFIG_INVALID')).toBe(true);
      });
    }
  });
}

/** A pool the test (the "app") owns, the way a user would pass one in. */
function ownPool(database: TestDatabase, url: string) {
  const { target, schema, tablePrefix } = parseUrl(url);
  const options = { schema, tablePrefix };
  if (database.name === 'postgres') {
    const pool = new pg.Pool({ connectionString: target });
    const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
    return {
      source: db,
      options,
      check: async () => void (await pool.query('select 1')),
      close: () => db.destroy(),
    };
  }
  if (database.name === 'mariadb') {
    const pool = createMysqlPool({ uri: MYSQL_URL });
    return {
      source: pool,
      options,
      check: () => new Promise<void>((resolve, reject) => pool.query('select 1', (e) => (e ? reject(e) : resolve()))),
      close: () => new Promise<void>((resolve) => pool.end(() => resolve())),
    };
  }
  const db = new BetterSqlite3(target, { timeout: 5000 });
  return {
    source: db,
    options,
    check: async () => void db.prepare('select 1').get(),
    close: async () => void db.close(),
  };
}
