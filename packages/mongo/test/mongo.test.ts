import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';
import { afterAll, describe, expect, it } from 'vitest';
import { Taskq, createBroker, createStore, newTaskId } from '@taskq/core';
import { makeFailure, makeRecord, rejectionCode, sampleSchedule, uniqueName, waitFor } from '@taskq/conformance';
import { MongoBroker, MongoStore, parseMongoUrl } from '../src/index.js';
import { runCli } from './support/cli.js';
import { freshDatabase, startMongo } from './support/mongo-server.js';

// MongoDB-specific behaviour, through the real driver against the wire-protocol test server.
const TASKS = fileURLToPath(new URL('./support/tasks.mjs', import.meta.url));
const mongo = await startMongo();
const raw = new MongoClient(mongo.url);
const closers: Array<() => Promise<unknown>> = [];

afterAll(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  await raw.close();
  await mongo.stop();
});

function broker(
  database: string,
  queue = uniqueName('q'),
  extra: Partial<ConstructorParameters<typeof MongoBroker>[0]> = {},
) {
  const b = new MongoBroker({ queue, retrySeconds: 30, url: `${mongo.url}/${database}`, ...extra });
  closers.push(() => b.close());
  return b;
}

function store(database: string, extra: Partial<ConstructorParameters<typeof MongoStore>[0]> = {}) {
  const s = new MongoStore({ url: `${mongo.url}/${database}`, ...extra });
  closers.push(() => s.close());
  return s;
}

describe('URL and options', () => {
  it('takes the database from the path and prefix from the query, and passes the rest to the driver', () => {
    expect(parseMongoUrl('mongodb://a:1,b:2/app?replicaSet=rs0&prefix=jobs&w=majority')).toEqual({
      url: 'mongodb://a:1,b:2/app?replicaSet=rs0&w=majority',
      database: 'app',
      prefix: 'jobs',
    });
    expect(parseMongoUrl('mongodb+srv://u:p%40ss@cluster0.example.net/')).toEqual({
      url: 'mongodb+srv://u:p%40ss@cluster0.example.net/',
      database: undefined,
      prefix: undefined,
    });
  });

  it('rejects bad input with TASKQ_CONFIG_INVALID and a message naming the fix', () => {
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (error) {
        return [(error as { code?: string }).code, (error as Error).message];
      }
      return ['no error'];
    };
    expect(code(() => new MongoStore({ url: 'redis://x' }))).toEqual([
      'TASKQ_CONFIG_INVALID',
      expect.stringContaining('mongodb://host:27017/database'),
    ]);
    expect(code(() => new MongoStore({ url: `${mongo.url}/bad.name` }))[0]).toBe('TASKQ_CONFIG_INVALID');
    expect(code(() => new MongoStore({ url: `${mongo.url}/db?prefix=a.b` }))[1]).toMatch(/prefix "a\.b" is invalid/);
    expect(code(() => new MongoStore({ url: 'mongodb://host/db?ssl=maybe' }))[0]).toBe('TASKQ_CONFIG_INVALID');
    expect(code(() => new MongoBroker({ queue: 'q', retrySeconds: 5, url: mongo.url, pollMaxMs: -1 }))[1]).toMatch(
      /pollMaxMs must be a positive number/,
    );
  });
});

describe('broker', () => {
  // needs the local test server (it stops it); with TASKQ_MONGO_URL there is nothing this test may stop
  it.skipIf(!mongo.server)(
    'ping really contacts the server: it fails with TASKQ_BROKER_UNAVAILABLE while the server is down',
    async () => {
      const b = broker(freshDatabase('ping'), undefined, { pingTimeoutMs: 500 });
      const before = mongo.server!.commands;
      await b.ping();
      expect(mongo.server!.commands).toBeGreaterThan(before);
      await mongo.server!.stop();
      try {
        expect(await rejectionCode(b.ping())).toBe('TASKQ_BROKER_UNAVAILABLE');
      } finally {
        await mongo.server!.start();
      }
      await waitFor(
        () =>
          b.ping().then(
            () => true,
            () => false,
          ),
        { timeoutMs: 20_000, message: 'ping after restart' },
      );
    },
    30_000,
  );

  it('a call with the server gone rejects with TASKQ_BROKER_UNAVAILABLE, the driver error as cause', async () => {
    const b = new MongoBroker({
      queue: 'q',
      retrySeconds: 5,
      url: 'mongodb://127.0.0.1:1/none?serverSelectionTimeoutMS=300',
    });
    closers.push(() => b.close());
    const error = await b.enqueue('x').catch((e: unknown) => e as { code: string; cause: Error });
    expect(error.code).toBe('TASKQ_BROKER_UNAVAILABLE');
    expect(error.cause.name).toBe('MongoServerSelectionError');
    const s = new MongoStore({ url: 'mongodb://127.0.0.1:1/none?serverSelectionTimeoutMS=300' });
    closers.push(() => s.close());
    expect(await rejectionCode(s.list())).toBe('TASKQ_STORE_UNAVAILABLE');
  });

  it('creates its indexes once, idempotently, and keeps messages as readable documents', async () => {
    const database = freshDatabase('layout');
    const b = broker(database, 'layout');
    await b.enqueue('hello', { priority: 3, delayMs: 60_000 });
    // a broker with a client of its own sends createIndexes again: the server treats it as a no-op
    await broker(database, 'layout', { clientOptions: {} }).enqueue('again');
    const queue = raw.db(database).collection('taskq_queue');
    expect((await queue.indexes()).map((i) => i.name)).toEqual(['_id_', 'claim', 'queue_lockUntil']);
    const doc = await queue.findOne({ payload: 'hello' });
    expect(doc).toMatchObject({ queue: 'layout', payload: 'hello', priority: 3, deliveries: 0 });
    expect(doc!.runAt).toBeInstanceOf(Date);
    expect(doc!.lockUntil).toEqual(doc!.runAt);
    expect(doc!.runAt.getTime() - doc!.createdAt.getTime()).toBe(60_000);
  });

  it('a claim leases the message: lockUntil moves to now + retry and deliveries counts it', async () => {
    const database = freshDatabase('lease');
    const b = broker(database, 'lease', { retrySeconds: 7 });
    await b.enqueue('leased');
    const started = Date.now();
    const [delivery] = await b.dequeue();
    const doc = await raw.db(database).collection('taskq_queue').findOne({});
    expect(doc!.deliveries).toBe(1);
    expect(delivery!.receipt).toBe(`${doc!._id}:1`);
    expect(doc!.lockUntil.getTime()).toBeGreaterThanOrEqual(started + 7000);
    expect(await b.queueSize()).toBe(0);
    expect(await b.lockSize()).toBe(1);
    const [listed] = await b.listQueued();
    expect(listed).toMatchObject({ id: doc!._id, payload: 'leased', lockedUntil: doc!.lockUntil, runAt: null });
  });

  it('claims the message due longest first: a lapsed lease counts from when it lapsed', async () => {
    const b = broker(freshDatabase('order'), undefined, { retrySeconds: 1 });
    await b.enqueue('A');
    const [a] = await b.dequeue();
    expect(a?.payload).toBe('A');
    await b.enqueue('B'); // due before A's lease lapses
    await waitFor(async () => (await b.queueSize()) === 2, { message: "A's lease lapsed" });
    await b.enqueue('C'); // due after it lapsed
    const got = await b.dequeue({ max: 3 });
    expect(got.map((d) => [d.payload, d.deliveries])).toEqual([
      ['B', 1],
      ['A', 2],
      ['C', 1],
    ]);
  });

  it('an acknowledge with an old receipt still removes the message (the work is done)', async () => {
    const b = broker(freshDatabase('ack'), undefined, { retrySeconds: 1 });
    await b.enqueue('slow');
    const [first] = await b.dequeue();
    const [second] = await b.dequeue({ waitMs: 5000 });
    expect(second?.deliveries).toBe(2);
    await b.acknowledge(first!.receipt);
    expect(await b.queueSize()).toBe(0);
    expect(await b.lockSize()).toBe(0);
  });

  it('brokers on separate clients (separate clusters) never claim one message twice', async () => {
    const database = freshDatabase('clusters');
    // clientOptions given: each broker opens its own client and connection pool
    const consumers = [1, 2, 3].map(() => broker(database, 'shared', { clientOptions: { maxPoolSize: 4 } }));
    await consumers[0]!.enqueueMany(Array.from({ length: 300 }, (_, i) => ({ payload: `m${i}` })));
    const seen: string[] = [];
    await Promise.all(
      consumers.map(async (c) => {
        for (;;) {
          const got = await c.dequeue({ max: 25 });
          if (got.length === 0) return;
          seen.push(...got.map((d) => d.payload));
        }
      }),
    );
    expect(seen).toHaveLength(300);
    expect(new Set(seen).size).toBe(300);
  });

  it('a broker and a store on one URL share one client; a client you pass in is never closed', async () => {
    const database = freshDatabase('share');
    const b = broker(database);
    const s = store(database);
    expect(b.connection.client).toBe(s.connection.client);
    await b.close();
    await s.saveMany([makeRecord()]);
    expect((await s.list()).total).toBe(1);

    const own = new MongoClient(mongo.url);
    closers.push(() => own.close());
    const mine = new MongoStore({ client: own, url: `${mongo.url}/${database}` });
    await mine.ping();
    await mine.close();
    expect(await own.db(database).collection('taskq_results').countDocuments()).toBe(1);
  });
});

describe('store', () => {
  it('keeps results as readable documents with real dates, an error object and the expiry', async () => {
    const database = freshDatabase('results');
    const s = store(database, { prefix: 'app' });
    const failure = makeFailure({ group: 'g' });
    await s.saveMany([failure], { ttlSeconds: 60 });
    const doc = await raw
      .db(database)
      .collection('app_results')
      .findOne({ _id: failure.id as never });
    expect(doc).toMatchObject({
      name: failure.name,
      success: false,
      group: 'g',
      attemptCount: 1,
      error: failure.error,
    });
    expect(doc!.stoppedAt).toEqual(failure.stoppedAt);
    expect(doc!.expiresAt.getTime()).toBeGreaterThan(Date.now());
    const names = (await raw.db(database).collection('app_results').indexes()).map((i) => i.name);
    expect(names).toContain('expiresAt_ttl');
  });

  it('concurrent saves of one failed task from separate clients count every attempt once', async () => {
    const database = freshDatabase('attempts');
    const stores = [1, 2, 3, 4].map(() => store(database, { clientOptions: {} }));
    const id = newTaskId();
    const counts = await Promise.all(stores.map((s) => s.saveMany([makeFailure({ id })])));
    expect(counts.flat().sort()).toEqual([1, 2, 3, 4]);
    expect((await stores[0]!.get(id))?.attemptCount).toBe(4);
  });

  it('schedules: exactly one of several clusters (separate clients) claims a slot', async () => {
    const database = freshDatabase('claims');
    const stores = [1, 2, 3, 4, 5].map(() => store(database, { clientOptions: {} }));
    const s = sampleSchedule({ name: 'every-minute', nextRun: new Date(Date.now() - 1000) });
    await stores[0]!.createSchedule(s);
    for (let round = 0; round < 5; round++) {
      const current = (await stores[0]!.getSchedule(s.id))!;
      const won = await Promise.all(
        stores.map((st) =>
          st.claimSchedule(s.id, current.nextRun, {
            nextRun: new Date(current.nextRun.getTime() + 60_000),
            repeats: -1,
            lastTaskId: newTaskId(),
            lastRunAt: new Date(),
          }),
        ),
      );
      expect(won.filter(Boolean)).toHaveLength(1);
    }
    const indexes = await raw.db(database).collection('taskq_schedules').indexes();
    expect(indexes.find((i) => i.name === 'name_unique')).toMatchObject({ unique: true });
  });

  it('job control: values and sets are readable documents under the prefix, apart, with TTL indexes', async () => {
    const database = freshDatabase('control');
    const s = store(database, { prefix: 'app' });
    const db = raw.db(database);
    expect(await s.claimValue('fanin:g1', '{"of":2}', 60_000)).toBeNull();
    expect(await s.addMember('fanin:g1', 'task-a', null)).toBe(1);
    const value = await db.collection('app_control').findOne({ _id: 'fanin:g1' as never });
    expect(value).toMatchObject({ value: '{"of":2}', expiresAt: expect.any(Date) });
    expect(await db.collection('app_control_sets').findOne({ _id: 'fanin:g1' as never })).toEqual({
      _id: 'fanin:g1',
      members: ['task-a'],
      expiresAt: null,
    });
    for (const name of ['app_control', 'app_control_sets']) {
      const indexes = await db.collection(name).indexes();
      expect(indexes.find((i) => i.name === 'expiresAt_ttl')).toMatchObject({ expireAfterSeconds: 0 });
    }
    // a value past its expiry is absent for every call even while its document is still there
    await db
      .collection('app_control')
      .insertOne({ _id: 'dedup:old' as never, value: 'stale', expiresAt: new Date(Date.now() - 1000) });
    expect(await s.getValues(['dedup:old'])).toEqual(new Map());
    expect(await s.deleteValue('dedup:old', 'stale')).toBe(false);
    expect(await s.claimValue('dedup:old', 'fresh', null)).toBeNull();
    expect((await db.collection('app_control').findOne({ _id: 'dedup:old' as never }))?.value).toBe('fresh');
  });

  it('job control: of claims from separate clients exactly one wins; prefixes with regex characters list exactly', async () => {
    const database = freshDatabase('claimvalue');
    const stores = [1, 2, 3, 4].map(() => store(database, { clientOptions: {} }));
    const answers = await Promise.all(stores.map((st, i) => st.claimValue('dedup:x', `c${i}`, null)));
    expect(answers.filter((a) => a === null)).toHaveLength(1);
    const sizes = await Promise.all(stores.map((st, i) => st.addMember('fanin:x', `m${i}`, 60_000)));
    expect(sizes.sort()).toEqual([1, 2, 3, 4]);
    await stores[0]!.setValue('a.b:1', 'dot', null);
    await stores[0]!.setValue('aXb:1', 'not a dot', null);
    expect(await stores[0]!.listValues('a.b:')).toEqual(new Map([['a.b:1', 'dot']]));
  });

  it('meta is kept as JSON text, only when saved; an overwrite without meta drops it', async () => {
    const database = freshDatabase('meta');
    const s = store(database);
    const failure = makeFailure({
      meta: { progress: 0.5, logs: [{ at: 1, level: 'info', message: 'x', fields: { 'a.b': 1, $c: 2 } }] },
    });
    const plain = makeRecord();
    await s.saveMany([failure, plain]);
    const docs = raw.db(database).collection('taskq_results');
    expect(typeof (await docs.findOne({ _id: failure.id as never }))?.meta).toBe('string');
    expect(await docs.findOne({ _id: plain.id as never })).not.toHaveProperty('meta');
    expect((await s.get(failure.id))?.meta).toEqual(failure.meta);
    const { meta: _meta, ...retried } = failure;
    await s.saveMany([retried]);
    const again = await s.get(failure.id);
    expect(again?.attemptCount).toBe(2);
    expect(again).not.toHaveProperty('meta');
  });
});

describe('config alone swaps MongoDB in', () => {
  it('mongodb:// URLs resolve to MongoBroker and MongoStore through @taskq/core', async () => {
    const url = `${mongo.url}/${freshDatabase('factory')}`;
    const b = await createBroker(url, { queue: 'q', retrySeconds: 5 });
    const s = await createStore(url, { namespace: 'q' });
    closers.push(
      () => b.close(),
      () => s!.close(),
    );
    // the package as core imports it (its dist), so compare by name rather than class identity
    expect(b.constructor.name).toBe('MongoBroker');
    expect(s?.constructor.name).toBe('MongoStore');
    expect((await b.info()).server).toMatch(/^mongodb \d/);
    await s!.ping();
  });

  it('a cluster with broker and store on mongodb:// runs a task and saves its result', async () => {
    const url = `${mongo.url}/${freshDatabase('e2e')}`;
    const q = new Taskq({
      name: 'e2e',
      secretKey: 'k',
      broker: url,
      store: url,
      tasks: [TASKS],
      workers: 1,
      logLevel: 'warn',
    });
    closers.push(() => q.close());
    const cluster = q.cluster({ handleSignals: false });
    await cluster.start();
    try {
      const id = await q.enqueue('add', [2, 40]);
      expect(await q.result(id, { wait: 10_000 })).toBe(42);
      const stats = await (await q.runtime()).stats!.getStats();
      expect(stats.some((stat) => stat.name === 'e2e')).toBe(true);
    } finally {
      await cluster.stop();
    }
  }, 30_000);

  it('the taskq CLI works on TASKQ_BROKER_URL=mongodb://… (info, schedule add and list)', async () => {
    const env = {
      TASKQ_BROKER_URL: `${mongo.url}/${freshDatabase('cli')}`,
      TASKQ_SECRET_KEY: 'cli',
      TASKQ_TASKS: TASKS,
    };
    const info = await runCli(['info', '--json'], env);
    expect(info.stderr).toBe('');
    expect(JSON.parse(info.stdout).broker.server).toMatch(/^mongodb \d/);
    const added = await runCli(['schedule', 'add', 'add', '1', '2', '--schedule-name', 'cli-sched', '--json'], env);
    expect(added.code).toBe(0);
    const listed = await runCli(['schedule', 'list', '--json'], env);
    expect(JSON.stringify(JSON.parse(listed.stdout))).toContain('cli-sched');
  }, 60_000);
});
