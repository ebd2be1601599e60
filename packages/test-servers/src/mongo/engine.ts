import { Aggregator, Query, update as applyOperators } from 'mingo';
import { Long, ObjectId, type Document } from 'bson';
import { Collection, CommandError, compareBy, type IndexSpec, type SortSpec } from './collection.js';
import { compileMatcher } from './matcher.js';
import { UpdateTypeError, applySimpleUpdate, canonical, clone, isOperatorDocument, projectSimple } from './values.js';

/** What the server reports: MongoDB 7.0 (wire version 21), a standalone (no replica set, no transactions). */
export const SERVER_VERSION = '7.0.0';
export const MAX_WIRE_VERSION = 21;
const DEFAULT_BATCH = 101;
const MUTATING_STAGES = new Set([
  '$addFields',
  '$set',
  '$unset',
  '$project',
  '$replaceRoot',
  '$replaceWith',
  '$lookup',
  '$graphLookup',
  '$unwind',
  '$setWindowFields',
  '$fill',
  '$densify',
]);

interface Cursor {
  ns: string;
  docs: Document[];
  position: number;
}

type Handler = (cmd: Document, db: string, connectionId: number) => Document;

/**
 * The command layer of the test server. Every command runs synchronously
 * from start to end on Node's event loop, so each command (and each
 * single-document write) is atomic with respect to every other client, as
 * a single-document write is on MongoDB.
 */
export class Engine {
  readonly databases = new Map<string, Map<string, Collection>>();
  readonly #cursors = new Map<number, Cursor>();
  #nextCursorId = 1_000_000 + Math.floor(Math.random() * 1_000_000);
  readonly startedAt = Date.now();
  readonly #handlers: Record<string, Handler> = {
    hello: (_cmd, _db, id) => this.#hello(id),
    ismaster: (_cmd, _db, id) => this.#hello(id),
    ping: () => ({ ok: 1 }),
    buildinfo: () => ({
      version: SERVER_VERSION,
      versionArray: [7, 0, 0, 0],
      gitVersion: 'taskq-test-server',
      bits: 64,
      maxBsonObjectSize: 16 * 1024 * 1024,
      ok: 1,
    }),
    serverstatus: () => ({
      host: '127.0.0.1',
      version: SERVER_VERSION,
      process: 'taskq-test-server',
      uptime: (Date.now() - this.startedAt) / 1000,
      ok: 1,
    }),
    endsessions: () => ({ ok: 1 }),
    insert: (cmd, db) => this.#insert(cmd, db),
    update: (cmd, db) => this.#update(cmd, db),
    delete: (cmd, db) => this.#delete(cmd, db),
    find: (cmd, db) => this.#find(cmd, db),
    getmore: (cmd, db) => this.#getMore(cmd, db),
    killcursors: (cmd, db) => this.#killCursors(cmd, db),
    findandmodify: (cmd, db) => this.#findAndModify(cmd, db),
    aggregate: (cmd, db) => this.#aggregate(cmd, db),
    count: (cmd, db) => this.#count(cmd, db),
    distinct: (cmd, db) => this.#distinct(cmd, db),
    createindexes: (cmd, db) => this.#createIndexes(cmd, db),
    listindexes: (cmd, db) => this.#listIndexes(cmd, db),
    dropindexes: (cmd, db) => this.#dropIndexes(cmd, db),
    create: (cmd, db) => this.#create(cmd, db),
    drop: (cmd, db) => this.#drop(cmd, db),
    dropdatabase: (_cmd, db) => {
      this.databases.delete(db);
      return { dropped: db, ok: 1 };
    },
    listcollections: (cmd, db) => this.#listCollections(cmd, db),
    listdatabases: () => ({
      databases: [...this.databases.keys()].map((name) => ({ name, sizeOnDisk: 0, empty: false })),
      totalSize: 0,
      ok: 1,
    }),
  };

  /** Runs one command document and returns its reply (errors become `{ ok: 0, … }`). */
  run(cmd: Document, connectionId: number): Document {
    const name = Object.keys(cmd)[0] ?? '';
    const db = typeof cmd.$db === 'string' ? cmd.$db : 'test';
    try {
      if (cmd.txnNumber !== undefined || cmd.startTransaction !== undefined) {
        throw new CommandError(
          20,
          'IllegalOperation',
          'Transaction numbers are only allowed on a replica set member or mongos',
        );
      }
      const handler = this.#handlers[name.toLowerCase()];
      if (!handler) throw new CommandError(59, 'CommandNotFound', `no such command: '${name}'`);
      return handler(cmd, db, connectionId);
    } catch (error) {
      return asCommandError(error).toReply();
    }
  }

  /** One pass of the TTL monitor over every collection. */
  expire(now = Date.now()): number {
    let removed = 0;
    for (const collections of this.databases.values()) {
      for (const collection of collections.values()) removed += collection.expire(now);
    }
    return removed;
  }

  #hello(connectionId: number): Document {
    return {
      helloOk: true,
      ismaster: true,
      isWritablePrimary: true,
      maxBsonObjectSize: 16 * 1024 * 1024,
      maxMessageSizeBytes: 48_000_000,
      maxWriteBatchSize: 100_000,
      localTime: new Date(),
      logicalSessionTimeoutMinutes: 30,
      connectionId,
      minWireVersion: 0,
      maxWireVersion: MAX_WIRE_VERSION,
      readOnly: false,
      ok: 1,
    };
  }

  #collection(db: string, name: unknown, create: true): Collection;
  #collection(db: string, name: unknown, create?: false): Collection | undefined;
  #collection(db: string, name: unknown, create = false): Collection | undefined {
    if (typeof name !== 'string' || name === '')
      throw new CommandError(73, 'InvalidNamespace', 'collection name must be a non-empty string');
    let collections = this.databases.get(db);
    if (!collections) {
      if (!create) return undefined;
      collections = new Map();
      this.databases.set(db, collections);
    }
    let collection = collections.get(name);
    if (!collection && create) {
      collection = new Collection(db, name);
      collections.set(name, collection);
    }
    return collection;
  }

  /**
   * Documents matching `filter`, sorted, skipped and limited. An `_id`
   * equality (or `$in`) is a direct lookup; a sorted query walks a sort view
   * and stops once it has `limit` matches, like an index scan; the rest is a
   * scan in natural order.
   */
  #select(
    collection: Collection | undefined,
    filter: Document | undefined,
    options: { sort?: Document; skip?: number; limit?: number; projection?: Document } = {},
  ): Document[] {
    if (!collection) return [];
    const test = compileMatcher(filter);
    const wanted = options.limit ? Math.abs(options.limit) + (options.skip ?? 0) : Number.POSITIVE_INFINITY;
    const spec = sortSpec(options.sort);
    const source = idCandidates(collection, filter) ?? (spec ? collection.sorted(spec) : collection.docs.values());
    let matches: Document[] = [];
    for (const doc of source) {
      if (!test(doc)) continue;
      matches.push(doc);
      // candidates by _id are not in sort order: collect them all, then sort
      if (matches.length >= wanted && !(spec && Array.isArray(source))) break;
    }
    if (spec && Array.isArray(source)) matches.sort(compareBy(spec));
    matches = matches.slice(options.skip ?? 0, Number.isFinite(wanted) ? wanted : undefined);
    if (options.projection && Object.keys(options.projection).length > 0) {
      const projection = options.projection;
      const simple = matches.map((doc) => projectSimple(doc, projection));
      if (simple.every((doc) => doc !== undefined)) return simple as Document[];
      return new Query({}).find(matches, projection).all() as Document[];
    }
    return matches;
  }

  #project(doc: Document | null, projection: Document | undefined): Document | null {
    if (!doc || !projection || Object.keys(projection).length === 0) return doc;
    const simple = projectSimple(doc, projection);
    if (simple) return simple;
    return new Query({}).find([doc], projection).all()[0] as Document;
  }

  #cursorReply(ns: string, docs: Document[], batchSize: number | undefined, singleBatch: boolean): Document {
    const size = batchSize && batchSize > 0 ? batchSize : DEFAULT_BATCH;
    const firstBatch = docs.slice(0, size);
    let id = 0;
    if (!singleBatch && docs.length > size) {
      id = this.#nextCursorId++;
      this.#cursors.set(id, { ns, docs, position: size });
    }
    return { cursor: { id: Long.fromNumber(id), ns, firstBatch }, ok: 1 };
  }

  #insert(cmd: Document, db: string): Document {
    const collection = this.#collection(db, cmd.insert, true);
    const ordered = cmd.ordered !== false;
    const writeErrors: Document[] = [];
    let n = 0;
    (cmd.documents as Document[] | undefined)?.forEach((doc, index) => {
      if (ordered && writeErrors.length > 0) return;
      // mongod stores _id as the first field, whatever order the client sent
      const { _id, ...fields } = doc;
      const withId = { _id: _id === undefined ? new ObjectId() : _id, ...fields };
      try {
        collection.insert(withId);
        n += 1;
      } catch (error) {
        writeErrors.push(writeError(error, index));
      }
    });
    return { n, ...(writeErrors.length > 0 ? { writeErrors } : {}), ok: 1 };
  }

  #update(cmd: Document, db: string): Document {
    const collection = this.#collection(db, cmd.update, true);
    const ordered = cmd.ordered !== false;
    const writeErrors: Document[] = [];
    const upserted: Document[] = [];
    let n = 0;
    let nModified = 0;
    (cmd.updates as Document[] | undefined)?.forEach((statement, index) => {
      if (ordered && writeErrors.length > 0) return;
      try {
        const matches = this.#select(collection, statement.q, {
          sort: statement.sort,
          limit: statement.multi ? 0 : 1,
        });
        if (matches.length === 0 && statement.upsert) {
          const doc = upsertDocument(statement.q ?? {}, statement.u, statement.arrayFilters);
          collection.insert(doc);
          upserted.push({ index, _id: doc._id });
          n += 1;
          return;
        }
        for (const doc of matches) {
          const next = updatedDocument(doc, statement.u, statement.arrayFilters);
          n += 1;
          if (canonical(next) !== canonical(doc)) {
            collection.replace(doc, next);
            nModified += 1;
          }
        }
      } catch (error) {
        writeErrors.push(writeError(error, index));
      }
    });
    return {
      n,
      nModified,
      ...(upserted.length > 0 ? { upserted } : {}),
      ...(writeErrors.length > 0 ? { writeErrors } : {}),
      ok: 1,
    };
  }

  #delete(cmd: Document, db: string): Document {
    const collection = this.#collection(db, cmd.delete);
    let n = 0;
    for (const statement of (cmd.deletes as Document[] | undefined) ?? []) {
      const matches = this.#select(collection, statement.q, { limit: statement.limit === 1 ? 1 : 0 });
      for (const doc of matches) collection!.remove(doc);
      n += matches.length;
    }
    return { n, ok: 1 };
  }

  #find(cmd: Document, db: string): Document {
    const collection = this.#collection(db, cmd.find);
    const docs = this.#select(collection, cmd.filter, {
      sort: cmd.sort,
      skip: cmd.skip,
      limit: cmd.limit,
      projection: cmd.projection,
    });
    const single = cmd.singleBatch === true || (typeof cmd.limit === 'number' && cmd.limit < 0);
    return this.#cursorReply(`${db}.${cmd.find}`, docs, cmd.batchSize, single);
  }

  #getMore(cmd: Document, db: string): Document {
    const id = Number(cmd.getMore instanceof Long ? cmd.getMore.toNumber() : cmd.getMore);
    const cursor = this.#cursors.get(id);
    if (!cursor || cursor.ns !== `${db}.${cmd.collection}`) {
      throw new CommandError(43, 'CursorNotFound', `cursor id ${id} not found`);
    }
    const size = typeof cmd.batchSize === 'number' && cmd.batchSize > 0 ? cmd.batchSize : cursor.docs.length;
    const nextBatch = cursor.docs.slice(cursor.position, cursor.position + size);
    cursor.position += nextBatch.length;
    const exhausted = cursor.position >= cursor.docs.length;
    if (exhausted) this.#cursors.delete(id);
    return { cursor: { id: Long.fromNumber(exhausted ? 0 : id), ns: cursor.ns, nextBatch }, ok: 1 };
  }

  #killCursors(cmd: Document, _db: string): Document {
    const killed: Long[] = [];
    const notFound: Long[] = [];
    for (const raw of (cmd.cursors as unknown[] | undefined) ?? []) {
      const id = Number(raw instanceof Long ? raw.toNumber() : raw);
      (this.#cursors.delete(id) ? killed : notFound).push(Long.fromNumber(id));
    }
    return { cursorsKilled: killed, cursorsNotFound: notFound, cursorsAlive: [], cursorsUnknown: [], ok: 1 };
  }

  #findAndModify(cmd: Document, db: string): Document {
    const name = cmd.findAndModify ?? cmd.findandmodify;
    const collection = this.#collection(db, name, true);
    const [doc] = this.#select(collection, cmd.query, { sort: cmd.sort, limit: 1 });
    if (cmd.remove) {
      if (doc) collection.remove(doc);
      return { lastErrorObject: { n: doc ? 1 : 0 }, value: this.#project(doc ?? null, cmd.fields), ok: 1 };
    }
    if (cmd.update === undefined)
      throw new CommandError(9, 'FailedToParse', 'Either an update or remove=true must be specified');
    if (doc) {
      const next = updatedDocument(doc, cmd.update, cmd.arrayFilters);
      if (canonical(next) !== canonical(doc)) collection.replace(doc, next);
      return {
        lastErrorObject: { n: 1, updatedExisting: true },
        value: this.#project(cmd.new ? next : doc, cmd.fields),
        ok: 1,
      };
    }
    if (!cmd.upsert) return { lastErrorObject: { n: 0, updatedExisting: false }, value: null, ok: 1 };
    const inserted = upsertDocument(cmd.query ?? {}, cmd.update, cmd.arrayFilters);
    collection.insert(inserted);
    return {
      lastErrorObject: { n: 1, updatedExisting: false, upserted: inserted._id },
      value: cmd.new ? this.#project(inserted, cmd.fields) : null,
      ok: 1,
    };
  }

  #aggregate(cmd: Document, db: string): Document {
    const pipeline = (cmd.pipeline as Document[] | undefined) ?? [];
    for (const stage of pipeline) {
      const op = Object.keys(stage)[0];
      if (op === '$out' || op === '$merge')
        throw new CommandError(9, 'FailedToParse', `${op} is not supported by this test server`);
    }
    const collection = typeof cmd.aggregate === 'string' ? this.#collection(db, cmd.aggregate) : undefined;
    // filter first so only the matching documents are copied for the pipeline to work on
    const [first, ...rest] = pipeline;
    const leadingMatch = first && Object.keys(first)[0] === '$match';
    const selected = leadingMatch ? this.#select(collection, first.$match) : (collection?.all() ?? []);
    const counted = countOnly(leadingMatch ? rest : pipeline, selected.length);
    if (counted) return this.#cursorReply(`${db}.${cmd.aggregate}`, counted, undefined, false);
    // stages that write into documents get copies; the others only read
    const writes = pipeline.some((stage) => MUTATING_STAGES.has(Object.keys(stage)[0] ?? ''));
    const input = writes ? selected.map(clone) : selected;
    const output = new Aggregator(leadingMatch ? rest : pipeline).run(input) as Document[];
    const name = typeof cmd.aggregate === 'string' ? cmd.aggregate : '$cmd.aggregate';
    return this.#cursorReply(`${db}.${name}`, output, (cmd.cursor as Document | undefined)?.batchSize, false);
  }

  #count(cmd: Document, db: string): Document {
    const collection = this.#collection(db, cmd.count);
    return { n: this.#select(collection, cmd.query, { skip: cmd.skip, limit: cmd.limit }).length, ok: 1 };
  }

  #distinct(cmd: Document, db: string): Document {
    const collection = this.#collection(db, cmd.distinct);
    const values = new Map<string, unknown>();
    for (const doc of this.#select(collection, cmd.query)) {
      const value = new Query({}).find([doc], { [cmd.key]: 1, _id: 0 }).all()[0];
      const found = cmd.key
        .split('.')
        .reduce((v: unknown, k: string) => (v && typeof v === 'object' ? (v as Document)[k] : undefined), value);
      for (const v of Array.isArray(found) ? found : found === undefined ? [] : [found]) values.set(canonical(v), v);
    }
    return { values: [...values.values()], ok: 1 };
  }

  #createIndexes(cmd: Document, db: string): Document {
    const existed = this.#collection(db, cmd.createIndexes) !== undefined;
    const collection = this.#collection(db, cmd.createIndexes, true);
    const before = collection.indexes.size;
    for (const raw of (cmd.indexes as Document[] | undefined) ?? []) {
      if (!raw.key || typeof raw.name !== 'string')
        throw new CommandError(9, 'FailedToParse', 'an index needs a key and a name');
      collection.createIndex({ ...raw, v: 2 } as IndexSpec);
    }
    return {
      createdCollectionAutomatically: !existed,
      numIndexesBefore: before,
      numIndexesAfter: collection.indexes.size,
      ...(before === collection.indexes.size ? { note: 'all indexes already exist' } : {}),
      ok: 1,
    };
  }

  #listIndexes(cmd: Document, db: string): Document {
    const collection = this.#collection(db, cmd.listIndexes);
    if (!collection) throw new CommandError(26, 'NamespaceNotFound', `ns does not exist: ${db}.${cmd.listIndexes}`);
    const specs = [...collection.indexes.values()].map((index) => index.spec);
    return this.#cursorReply(`${db}.${cmd.listIndexes}`, specs, (cmd.cursor as Document | undefined)?.batchSize, false);
  }

  #dropIndexes(cmd: Document, db: string): Document {
    const collection = this.#collection(db, cmd.dropIndexes);
    if (!collection) throw new CommandError(26, 'NamespaceNotFound', `ns not found ${db}.${cmd.dropIndexes}`);
    const was = collection.indexes.size;
    const target = cmd.index;
    if (target === '*') {
      for (const name of [...collection.indexes.keys()]) if (name !== '_id_') collection.dropIndex(name);
    } else if (typeof target === 'string') {
      collection.dropIndex(target);
    } else if (Array.isArray(target)) {
      for (const name of target) collection.dropIndex(String(name));
    } else if (target && typeof target === 'object') {
      collection.dropIndex(collection.indexNameForKey(target as Document));
    }
    return { nIndexesWas: was, ok: 1 };
  }

  #create(cmd: Document, db: string): Document {
    if (this.#collection(db, cmd.create))
      throw new CommandError(48, 'NamespaceExists', `Collection ${db}.${cmd.create} already exists.`);
    this.#collection(db, cmd.create, true);
    return { ok: 1 };
  }

  #drop(cmd: Document, db: string): Document {
    const collection = this.#collection(db, cmd.drop);
    if (!collection) throw new CommandError(26, 'NamespaceNotFound', 'ns not found');
    this.databases.get(db)?.delete(collection.name);
    return { ns: collection.ns, nIndexesWas: collection.indexes.size, ok: 1 };
  }

  #listCollections(cmd: Document, db: string): Document {
    const collections = [...(this.databases.get(db)?.values() ?? [])];
    const infos = collections.map((c) =>
      cmd.nameOnly
        ? { name: c.name, type: 'collection' }
        : {
            name: c.name,
            type: 'collection',
            options: {},
            info: { readOnly: false },
            idIndex: { v: 2, key: { _id: 1 }, name: '_id_' },
          },
    );
    const filtered = cmd.filter ? infos.filter((info) => new Query(cmd.filter as Document).test(info)) : infos;
    return this.#cursorReply(
      `${db}.$cmd.listCollections`,
      filtered,
      (cmd.cursor as Document | undefined)?.batchSize,
      false,
    );
  }
}

/**
 * The driver's countDocuments pipeline after its $match — optional $skip and
 * $limit, then `{ $group: { _id: 1, n: { $sum: 1 } } }` — answered by
 * counting; undefined for any other pipeline.
 */
function countOnly(stages: Document[], matched: number): Document[] | undefined {
  let skip = 0;
  let limit = Number.POSITIVE_INFINITY;
  for (const [i, stage] of stages.entries()) {
    const [op, arg] = Object.entries(stage)[0] ?? [];
    if (op === '$skip' && typeof arg === 'number' && i < stages.length - 1) skip = arg;
    else if (op === '$limit' && typeof arg === 'number' && i < stages.length - 1) limit = arg;
    else if (op === '$group' && i === stages.length - 1 && arg && typeof arg === 'object') {
      const fields = Object.entries(arg as Document).filter(([k]) => k !== '_id');
      const [name, accumulator] = fields[0] ?? [];
      const constantId = typeof (arg as Document)._id === 'number' || (arg as Document)._id === null;
      if (!constantId || fields.length !== 1 || canonical(accumulator) !== canonical({ $sum: 1 })) return undefined;
      const n = Math.max(0, Math.min(matched - skip, limit));
      return n === 0 ? [] : [{ _id: (arg as Document)._id, [name as string]: n }];
    } else return undefined;
  }
  return undefined;
}

function sortSpec(sort: Document | undefined): SortSpec | undefined {
  if (!sort || Object.keys(sort).length === 0) return undefined;
  return Object.entries(sort).map(([field, direction]) => [field, Number(direction) < 0 ? -1 : 1]);
}

/** Documents an `_id` equality or `$in` names (the _id index); undefined when the filter has neither. */
function idCandidates(collection: Collection, filter: Document | undefined): Document[] | undefined {
  const id: unknown = filter?._id;
  if (id === undefined) return undefined;
  const plain = (v: unknown) => v === null || typeof v !== 'object' || Object.getPrototypeOf(v) !== Object.prototype;
  let ids: unknown[];
  if (plain(id) && !(id instanceof RegExp)) ids = [id];
  else if (!plain(id) && Object.keys(id as Document).length === 1 && Array.isArray((id as Document).$in)) {
    ids = (id as Document).$in as unknown[];
    if (ids.some((v) => !plain(v) || v instanceof RegExp)) return undefined;
  } else return undefined;
  const found: Document[] = [];
  for (const key of new Set(ids.map(canonical))) {
    const doc = collection.docs.get(key);
    if (doc) found.push(doc);
  }
  return found;
}

function asCommandError(error: unknown): CommandError {
  if (error instanceof CommandError) return error;
  if (error instanceof UpdateTypeError) return new CommandError(14, 'TypeMismatch', error.message);
  // mingo's own checks (e.g. an update that would change _id) reject the operation as bad input
  return new CommandError(2, 'BadValue', (error as Error).message);
}

function writeError(error: unknown, index: number): Document {
  const failure = asCommandError(error);
  return { index, code: failure.code, errmsg: failure.message, ...failure.extra };
}

/** The document an update statement turns `doc` into: operators, a replacement, or a pipeline. */
function updatedDocument(doc: Document, u: unknown, arrayFilters?: Document[], inserting = false): Document {
  if (Array.isArray(u)) {
    const [next] = new Aggregator(u as Document[]).run([clone(doc)]) as Document[];
    return { _id: doc._id, ...next };
  }
  if (!u || typeof u !== 'object')
    throw new CommandError(9, 'FailedToParse', 'update must be a document or a pipeline');
  const modifier = u as Document;
  if (!isOperatorDocument(modifier)) {
    if (Object.keys(modifier).some((k) => k.startsWith('$'))) {
      throw new CommandError(9, 'FailedToParse', 'an update cannot mix operators and plain fields');
    }
    const { _id, ...fields } = clone(modifier);
    return { _id: _id === undefined ? doc._id : _id, ...fields };
  }
  const next = clone(doc);
  const { $setOnInsert, ...operators } = modifier;
  if (Object.keys(operators).length > 0 && (arrayFilters || !applySimpleUpdate(next, operators))) {
    applyOperators(next, operators, arrayFilters);
  }
  if (inserting && $setOnInsert) applyOperators(next, { $set: $setOnInsert as Document });
  return next;
}

/** An upsert's new document: the query's equality fields, then the update applied to them. */
function upsertDocument(query: Document, u: unknown, arrayFilters?: Document[]): Document {
  const seed: Document = {};
  collectEqualities(query, seed);
  let doc: Document;
  if (!Array.isArray(u) && u && typeof u === 'object' && !isOperatorDocument(u as Document)) {
    doc = updatedDocument(seed._id === undefined ? {} : { _id: seed._id }, u, arrayFilters, true);
  } else {
    doc = updatedDocument(seed, u, arrayFilters, true);
  }
  if (doc._id === undefined) {
    const { _id: _unused, ...rest } = doc;
    doc = { _id: new ObjectId(), ...rest };
  }
  return doc;
}

function collectEqualities(query: Document, into: Document): void {
  for (const [key, value] of Object.entries(query)) {
    if (key === '$and' && Array.isArray(value)) {
      for (const part of value) collectEqualities(part as Document, into);
      continue;
    }
    if (key.startsWith('$')) continue;
    let equal: unknown = value;
    if (
      value &&
      typeof value === 'object' &&
      !Array.isArray(value) &&
      Object.getPrototypeOf(value) === Object.prototype
    ) {
      const ops = Object.keys(value);
      if (ops.length > 0 && ops.every((op) => op.startsWith('$'))) {
        if (!('$eq' in value)) continue;
        equal = (value as Document).$eq;
      }
    }
    if (value instanceof RegExp) continue;
    // mingo's $set refuses _id (it guards updates); a new document may set it
    if (key === '_id') into._id = clone(equal);
    else applyOperators(into, { $set: { [key]: clone(equal) } });
  }
}
