import { connect, type Socket } from 'node:net';
import { BSON } from 'bson';
import { MongoClient, MongoServerError, ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Query } from 'mingo';
import { MongoTestServer, OP_MSG, OP_QUERY, OP_REPLY, decodeReply, encodeOpMsg } from '../src/mongo/index.js';
import { compileMatcher } from '../src/mongo/matcher.js';

// The MongoDB wire-protocol test server, through the real mongodb 7 driver and as raw bytes. These are the
// semantics @taskq/mongo relies on: atomic findOneAndUpdate under concurrent clients, sort, $lte on dates,
// unique (and partial unique) indexes, TTL expiry, cursor batching, and a restart the driver recovers from.

let server: MongoTestServer;
let client: MongoClient;
let counter = 0;
const dbName = () => `t${process.pid}_${++counter}`;

beforeAll(async () => {
  server = await MongoTestServer.start({ ttlMonitorIntervalMs: 100 });
  client = new MongoClient(server.url, { serverSelectionTimeoutMS: 5000 });
});

afterAll(async () => {
  await client.close();
  await server.stop();
});

/** Sends raw bytes and resolves with the first complete reply message. */
function roundTrip(bytes: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(server.port, '127.0.0.1', () => socket.write(bytes));
    let got = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (got.length >= 4 && got.length >= got.readInt32LE(0)) {
        socket.destroy();
        resolve(got.subarray(0, got.readInt32LE(0)));
      }
    });
    socket.on('error', reject);
  });
}

describe('wire protocol', () => {
  it('answers a raw OP_MSG ping with an OP_MSG reply to the same request id', async () => {
    const reply = await roundTrip(encodeOpMsg({ ping: 1, $db: 'admin' }, 42));
    const { header, reply: body } = decodeReply(reply);
    expect(header.opCode).toBe(OP_MSG);
    expect(header.responseTo).toBe(42);
    expect(body).toEqual({ ok: 1 });
  });

  it('answers a legacy OP_QUERY isMaster (the driver handshake) with an OP_REPLY', async () => {
    const query = BSON.serialize({ isMaster: 1, helloOk: true });
    const name = Buffer.from('admin.$cmd\0');
    const head = Buffer.alloc(20);
    const fields = Buffer.alloc(8);
    fields.writeInt32LE(-1, 4); // numberToReturn
    const length = head.length + name.length + fields.length + query.length;
    head.writeInt32LE(length, 0);
    head.writeInt32LE(7, 4);
    head.writeInt32LE(OP_QUERY, 12);
    const { header, reply } = decodeReply(await roundTrip(Buffer.concat([head, name, fields, query])));
    expect(header.opCode).toBe(OP_REPLY);
    expect(header.responseTo).toBe(7);
    expect(reply).toMatchObject({ ok: 1, ismaster: true, helloOk: true, maxWireVersion: 21 });
  });

  it('answers an unknown command with CommandNotFound', async () => {
    const { reply } = decodeReply(await roundTrip(encodeOpMsg({ frobnicate: 1, $db: 'admin' })));
    expect(reply).toMatchObject({ ok: 0, code: 59, codeName: 'CommandNotFound' });
  });

  it('the driver connects (its handshake hello is a legacy OP_QUERY, then OP_MSG), pings and reads buildInfo', async () => {
    const fresh = await MongoTestServer.start();
    const driver = new MongoClient(fresh.url);
    try {
      await driver.db('admin').command({ ping: 1 });
      expect(fresh.opCodes.get(OP_QUERY)).toBeGreaterThanOrEqual(1);
      expect(fresh.opCodes.get(OP_MSG)).toBeGreaterThanOrEqual(1);
    } finally {
      await driver.close();
      await fresh.stop();
    }
    expect(await client.db('admin').command({ ping: 1 })).toMatchObject({ ok: 1 });
    expect((await client.db('admin').command({ buildInfo: 1 })).version).toBe('7.0.0');
  });
});

describe('documents and queries', () => {
  it('round-trips BSON types and keeps _id first', async () => {
    const c = client.db(dbName()).collection('docs');
    const doc = { when: new Date(1234), text: 'héllo ✓', bin: Buffer.from([0, 1, 2]), nested: { a: [1, null, 'x'] } };
    const { insertedId } = await c.insertOne({ ...doc });
    const found = await c.findOne({ _id: insertedId });
    expect(Object.keys(found!)[0]).toBe('_id');
    expect(found!.when).toEqual(new Date(1234));
    expect(found!.text).toBe('héllo ✓');
    expect(Buffer.from(found!.bin.buffer)).toEqual(Buffer.from([0, 1, 2]));
    expect(found!.nested).toEqual({ a: [1, null, 'x'] });
    expect(await c.findOne({ _id: new ObjectId() })).toBeNull();
  });

  it('sorts, skips, limits, and filters dates with $lte', async () => {
    const c = client.db(dbName()).collection('q');
    await c.insertMany([
      { p: 1, at: new Date(3000), s: 'c' },
      { p: 5, at: new Date(1000), s: 'a' },
      { p: 5, at: new Date(2000), s: 'b' },
      { p: 0, at: new Date(9000), s: 'd' },
    ]);
    const sorted = await c.find({}).sort({ p: -1, at: 1 }).toArray();
    expect(sorted.map((d) => d.s)).toEqual(['a', 'b', 'c', 'd']);
    const due = await c
      .find({ at: { $lte: new Date(2000) } })
      .sort({ at: 1 })
      .toArray();
    expect(due.map((d) => d.s)).toEqual(['a', 'b']);
    expect((await c.find({}).sort({ s: 1 }).skip(1).limit(2).toArray()).map((d) => d.s)).toEqual(['b', 'c']);
    expect(await c.countDocuments({ p: 5 })).toBe(2);
    expect(await c.countDocuments({}, { skip: 1, limit: 2 })).toBe(2);
    expect(await c.countDocuments({}, { skip: 3 })).toBe(1);
    expect(await c.countDocuments({ p: 99 })).toBe(0);
    expect(await c.estimatedDocumentCount()).toBe(4);
    expect((await c.distinct('p')).sort()).toEqual([0, 1, 5]);
  });

  it('batches a large find with getMore, and kills a cursor that is closed early', async () => {
    const c = client.db(dbName()).collection('many');
    await c.insertMany(Array.from({ length: 250 }, (_, i) => ({ i })));
    const before = server.commands;
    const all = await c.find({}).batchSize(20).toArray();
    expect(all.map((d) => d.i)).toEqual(Array.from({ length: 250 }, (_, i) => i));
    expect(server.commands - before).toBe(13); // find + 12 getMore
    const cursor = c.find({}).batchSize(10);
    await cursor.next();
    await cursor.close();
  });

  it('update operators, upsert, multi, replacement and delete', async () => {
    const c = client.db(dbName()).collection('u');
    await c.insertMany([
      { k: 1, n: 0 },
      { k: 1, n: 0 },
      { k: 2, n: 0 },
    ]);
    expect(await c.updateMany({ k: 1 }, { $inc: { n: 2 }, $set: { seen: true } })).toMatchObject({
      matchedCount: 2,
      modifiedCount: 2,
    });
    const upsert = await c.updateOne({ k: 3 }, { $set: { n: 9 }, $setOnInsert: { created: true } }, { upsert: true });
    expect(upsert.upsertedCount).toBe(1);
    expect(await c.findOne({ k: 3 }, { projection: { _id: 0 } })).toEqual({ k: 3, n: 9, created: true });
    await c.updateOne({ k: 3 }, { $set: { n: 10 }, $setOnInsert: { created: false } }, { upsert: true });
    expect(await c.findOne({ k: 3 }, { projection: { _id: 0 } })).toEqual({ k: 3, n: 10, created: true });
    await c.replaceOne({ k: 2 }, { k: 2, replaced: true });
    expect(await c.findOne({ k: 2 }, { projection: { _id: 0 } })).toEqual({ k: 2, replaced: true });
    expect((await c.updateOne({ k: 2 }, { $set: { replaced: true } })).modifiedCount).toBe(0);
    expect((await c.deleteOne({ k: 1 })).deletedCount).toBe(1);
    expect((await c.deleteMany({})).deletedCount).toBe(3);
  });

  it('findOneAndUpdate / findOneAndDelete honour sort, returnDocument and upsert', async () => {
    const c = client.db(dbName()).collection('fam');
    await c.insertMany([
      { _id: 'a', p: 1 },
      { _id: 'b', p: 3 },
      { _id: 'c', p: 3 },
    ] as never[]);
    const after = await c.findOneAndUpdate(
      {},
      { $inc: { p: 10 } },
      { sort: { p: -1, _id: 1 }, returnDocument: 'after' },
    );
    expect(after).toEqual({ _id: 'b', p: 13 });
    const before = await c.findOneAndUpdate({ _id: 'c' } as never, { $set: { p: 0 } }, { returnDocument: 'before' });
    expect(before).toEqual({ _id: 'c', p: 3 });
    expect(await c.findOneAndUpdate({ _id: 'zz' } as never, { $set: { p: 1 } })).toBeNull();
    const up = await c.findOneAndUpdate(
      { _id: 'd' } as never,
      { $set: { p: 7 } },
      { upsert: true, returnDocument: 'after' },
    );
    expect(up).toEqual({ _id: 'd', p: 7 });
    expect(await c.findOneAndDelete({}, { sort: { p: 1 } })).toEqual({ _id: 'c', p: 0 });
    expect(await c.countDocuments()).toBe(3);
  });

  it('an upsert whose filter misses an existing _id fails with E11000 (a claim); $addToSet upserts a set', async () => {
    const db = client.db(dbName());
    const values = db.collection<{ _id: string; value: string; expiresAt: Date | null }>('values');
    const now = new Date();
    const claim = (value: string, expiresAt: Date | null) =>
      values.updateOne({ _id: 'k', expiresAt: { $lte: now } }, { $set: { value, expiresAt } }, { upsert: true });
    // absent: inserted with the _id and the $set fields (a range condition adds no field)
    expect((await claim('a', null)).upsertedId).toBe('k');
    expect(await values.findOne({ _id: 'k' })).toEqual({ _id: 'k', value: 'a', expiresAt: null });
    // held (the filter misses it): the insert collides on _id, the holder stays
    await expect(claim('b', null)).rejects.toMatchObject({ code: 11000 });
    await expect(
      values.findOneAndUpdate(
        { _id: 'k', $or: [{ expiresAt: { $lte: now } }] },
        { $set: { value: 'c' } },
        { upsert: true },
      ),
    ).rejects.toMatchObject({ code: 11000 });
    expect((await values.findOne({ _id: 'k' }))?.value).toBe('a');
    // expired: the filter matches and the update takes it
    await values.updateOne({ _id: 'k' }, { $set: { expiresAt: new Date(now.getTime() - 1) } });
    expect((await claim('d', null)).modifiedCount).toBe(1);
    expect((await values.findOne({ _id: 'k' }))?.value).toBe('d');

    const sets = db.collection<{ _id: string; members: string[]; expiresAt: Date | null }>('sets');
    const add = (key: string, member: string) =>
      sets.findOneAndUpdate(
        { _id: key, $or: [{ expiresAt: null }, { expiresAt: { $gt: now } }] },
        { $addToSet: { members: member }, $set: { expiresAt: null } },
        { upsert: true, returnDocument: 'after' },
      );
    // the $or's branches add no field to the upserted document
    expect(await add('s', 'x')).toEqual({ _id: 's', members: ['x'], expiresAt: null });
    expect((await add('s', 'x'))?.members).toEqual(['x']);
    expect((await add('s', 'y'))?.members).toEqual(['x', 'y']);
    // an expired set misses the filter, so the upsert collides on _id as the claim did
    await sets.updateOne({ _id: 's' }, { $set: { expiresAt: new Date(now.getTime() - 1) } });
    await expect(add('s', 'z')).rejects.toMatchObject({ code: 11000 });
  });
});

describe('fast paths agree with mingo', () => {
  it('the compiled matcher gives the same answers as mingo on the subset it handles', () => {
    const docs = [
      {},
      { a: null },
      { a: 1 },
      { a: 2.5 },
      { a: '1' },
      { a: new Date(5) },
      { a: true },
      { a: [1, 2] },
      { a: { b: 1 } },
      { a: { b: null } },
      { a: [{ b: 1 }] },
      { a: 3, c: 'x' },
    ];
    const queries = [
      { a: 1 },
      { a: null },
      { a: { $ne: null } },
      { a: { $ne: 1 } },
      { a: { $lte: 2 } },
      { a: { $gt: '0' } },
      { a: { $lte: new Date(10) } },
      { a: { $gte: null } },
      { a: { $in: [1, '1', null] } },
      { a: { $nin: [1, null] } },
      { a: { $exists: false } },
      { 'a.b': 1 },
      { 'a.b': null },
      { a: { b: 1 } },
      { $or: [{ a: 1 }, { c: 'x' }] },
      { $and: [{ a: { $gt: 0 } }, { a: { $lt: 3 } }] },
      { $nor: [{ a: 1 }, { a: null }] },
      { a: { $type: 'string' } },
    ];
    for (const query of queries) {
      const fast = compileMatcher(query);
      const reference = new Query(query);
      const label = JSON.stringify(query);
      expect(
        docs.map((d) => fast(d)),
        label,
      ).toEqual(docs.map((d) => reference.test(d)));
    }
  });

  it('sorted reads stay in order after updates move documents and $set/$inc/$unset write nested paths', async () => {
    const c = client.db(dbName()).collection('moves');
    await c.insertMany(Array.from({ length: 20 }, (_, i) => ({ i, p: i % 3, at: new Date(i * 1000) })));
    const order = async () => (await c.find({}).sort({ p: -1, at: 1, i: 1 }).toArray()).map((d) => d.i);
    await order();
    for (let k = 0; k < 10; k++) {
      await c.findOneAndUpdate(
        {},
        { $set: { at: new Date(100_000 + k) }, $inc: { p: 1 } },
        { sort: { p: -1, at: 1, i: 1 } },
      );
    }
    const all = await c.find({}).toArray();
    const expected = [...all].sort((x, y) => y.p - x.p || x.at.getTime() - y.at.getTime() || x.i - y.i).map((d) => d.i);
    expect(await order()).toEqual(expected);
    await c.updateOne(
      { i: 0 },
      { $set: { 'n.deep.x': 1 }, $inc: { 'n.count': 2 }, $unset: { 'missing.y': '', p: '' } },
    );
    expect(await c.findOne({ i: 0 }, { projection: { _id: 0, at: 0 } })).toEqual({
      i: 0,
      n: { deep: { x: 1 }, count: 2 },
    });
    await expect(c.updateOne({ i: 1 }, { $inc: { at: 1 } })).rejects.toMatchObject({ code: 14 });
    // inclusion projections (the server's own path) and exclusion ones (mingo's)
    expect(await c.findOne({ i: 0 }, { projection: { i: 1, n: 1, _id: 0 } })).toEqual({
      i: 0,
      n: { deep: { x: 1 }, count: 2 },
    });
    expect(Object.keys((await c.findOne({ i: 1 }, { projection: { p: 1 } }))!)).toEqual(['_id', 'p']);
    expect(Object.keys((await c.findOne({ i: 1 }, { projection: { at: 0, _id: 0 } }))!).sort()).toEqual(['i', 'p']);
  });
});

describe('atomicity', () => {
  it('four clients claiming 1,000 documents with findOneAndUpdate never claim one twice', async () => {
    const db = dbName();
    const seed = client.db(db).collection('jobs');
    await seed.insertMany(Array.from({ length: 1000 }, (_, i) => ({ i, lockUntil: new Date(0), owner: null })));
    const clients = Array.from({ length: 4 }, () => new MongoClient(server.url));
    try {
      const claimed = await Promise.all(
        clients.map(async (claimer, owner) => {
          const jobs = claimer.db(db).collection('jobs');
          const mine: number[] = [];
          for (;;) {
            // several claims in flight per client, like a bulk dequeue on a connection pool
            const batch = await Promise.all(
              Array.from({ length: 5 }, () =>
                jobs.findOneAndUpdate(
                  { lockUntil: { $lte: new Date() } },
                  { $set: { lockUntil: new Date(Date.now() + 60_000), owner } },
                  { sort: { i: 1 }, returnDocument: 'after' },
                ),
              ),
            );
            const got = batch.filter((d) => d !== null);
            for (const d of got) expect(d.owner).toBe(owner);
            mine.push(...got.map((d) => d.i as number));
            if (got.length < batch.length) return mine;
          }
        }),
      );
      const all = claimed.flat();
      expect(all).toHaveLength(1000);
      expect(new Set(all).size).toBe(1000);
      expect(claimed.every((mine) => mine.length > 0)).toBe(true);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  });
});

describe('indexes', () => {
  it('creates indexes idempotently, lists and drops them', async () => {
    const c = client.db(dbName()).collection('ix');
    expect(await c.createIndex({ a: 1, b: -1 })).toBe('a_1_b_-1');
    expect(await c.createIndex({ a: 1, b: -1 })).toBe('a_1_b_-1');
    await expect(c.createIndex({ a: 1, b: -1 }, { unique: true })).rejects.toMatchObject({ code: 86 });
    expect((await c.indexes()).map((i) => i.name)).toEqual(['_id_', 'a_1_b_-1']);
    await c.dropIndex('a_1_b_-1');
    expect((await c.indexes()).map((i) => i.name)).toEqual(['_id_']);
    await expect(client.db(dbName()).collection('none').indexes()).rejects.toMatchObject({ code: 26 });
  });

  it('enforces unique indexes on insert, update and upsert, and _id always', async () => {
    const c = client.db(dbName()).collection('uniq');
    await c.createIndex({ name: 1 }, { unique: true });
    await c.insertOne({ _id: 'x', name: 'a' } as never);
    const dup = await c.insertOne({ name: 'a' }).catch((error: unknown) => error);
    expect(dup).toBeInstanceOf(MongoServerError);
    expect(dup).toMatchObject({ code: 11000, keyPattern: { name: 1 }, keyValue: { name: 'a' } });
    await expect(c.insertOne({ _id: 'x', name: 'b' } as never)).rejects.toMatchObject({ code: 11000 });
    await c.insertOne({ name: 'b' });
    await expect(c.updateOne({ name: 'b' }, { $set: { name: 'a' } })).rejects.toMatchObject({ code: 11000 });
    await expect(c.updateOne({ name: 'c' }, { $set: { name: 'a' } }, { upsert: true })).rejects.toMatchObject({
      code: 11000,
    });
    await expect(c.findOneAndUpdate({ name: 'b' }, { $set: { name: 'a' } })).rejects.toMatchObject({ code: 11000 });
    // unordered inserts report each failure and insert the rest
    const bulk = await c
      .insertMany([{ name: 'a' }, { name: 'new' }, { name: 'b' }], { ordered: false })
      .catch((error: unknown) => error as { writeErrors: Array<{ index: number }>; insertedCount: number });
    expect((bulk as { writeErrors: Array<{ index: number }> }).writeErrors.map((e) => e.index)).toEqual([0, 2]);
    expect(await c.countDocuments()).toBe(3);
  });

  it('a partial unique index ignores documents outside its filter', async () => {
    const c = client.db(dbName()).collection('partial');
    await c.createIndex({ name: 1 }, { unique: true, partialFilterExpression: { name: { $type: 'string' } } });
    await c.insertMany([{ name: null }, { name: null }, { name: 'x' }]);
    await expect(c.insertOne({ name: 'x' })).rejects.toMatchObject({ code: 11000 });
    expect(await c.countDocuments()).toBe(3);
  });

  it('building a unique index over duplicates fails', async () => {
    const c = client.db(dbName()).collection('dups');
    await c.insertMany([{ k: 1 }, { k: 1 }]);
    await expect(c.createIndex({ k: 1 }, { unique: true })).rejects.toMatchObject({ code: 11000 });
  });

  it('the TTL monitor removes documents whose indexed date has passed, and no others', async () => {
    const c = client.db(dbName()).collection('ttl');
    await c.createIndex({ expiresAt: 1 }, { expireAfterSeconds: 0 });
    await c.insertMany([
      { k: 'gone', expiresAt: new Date(Date.now() - 1) },
      { k: 'soon', expiresAt: new Date(Date.now() + 300) },
      { k: 'later', expiresAt: new Date(Date.now() + 60_000) },
      { k: 'never', expiresAt: null },
    ]);
    await expect
      .poll(async () => (await c.find({}).toArray()).map((d) => d.k), { timeout: 5000 })
      .toEqual(['later', 'never']);
  });
});

describe('collections and restart', () => {
  it('lists, creates and drops collections and databases', async () => {
    const db = client.db(dbName());
    await db.createCollection('one');
    await db.collection('two').insertOne({});
    expect((await db.listCollections().toArray()).map((c) => c.name).sort()).toEqual(['one', 'two']);
    await expect(db.createCollection('one')).rejects.toMatchObject({ code: 48 });
    expect(await db.collection('one').drop()).toBe(true);
    expect(
      await db
        .collection('one')
        .drop()
        .catch(() => false),
    ).toBe(false);
    await db.dropDatabase();
    expect(await db.listCollections().toArray()).toEqual([]);
  });

  it('refuses transactions like a standalone mongod', async () => {
    const session = client.startSession();
    try {
      session.startTransaction();
      const c = client.db(dbName()).collection('tx');
      // the driver rewraps code 20 as its "does not support retryable writes" message, as it does for a real standalone
      await expect(c.insertOne({ a: 1 }, { session })).rejects.toThrow(/retryable writes|Transaction numbers/);
    } finally {
      await session.endSession();
    }
  });

  it('stop then start keeps the data, and the driver reconnects by itself', async () => {
    const c = client.db(dbName()).collection('durable');
    await c.insertOne({ k: 'kept' });
    await server.stop();
    await expect(c.findOne({}, { timeoutMS: 300 })).rejects.toThrow();
    await server.start();
    expect((await c.findOne({}))?.k).toBe('kept');
  });
});
