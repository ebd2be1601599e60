import { ErrorCodes, TaskqError } from '@taskq/core';
import {
  MongoClient,
  type Collection,
  type Db,
  type Document,
  type IndexDescription,
  type MongoClientOptions,
} from 'mongodb';
import { resolveMongoOptions, type MongoConnectionOptions, type ResolvedMongoOptions } from './options.js';

/** The collections taskq keeps, each `<prefix>_<name>`. */
export type CollectionName = 'queue' | 'results' | 'schedules' | 'stats' | 'control' | 'control_sets';

/**
 * The indexes each collection needs. createIndexes with an identical
 * definition is a no-op on MongoDB, so creating them on first use is idempotent.
 */
export const INDEXES: Record<CollectionName, IndexDescription[]> = {
  queue: [
    // the claim: equality on queue, then the claim's sort; the range on lockUntil is a prefix of it,
    // so the first due message is the first index entry past the queue's leased ones
    { key: { queue: 1, priority: -1, lockUntil: 1, _id: 1 }, name: 'claim' },
    // queueSize / lockSize
    { key: { queue: 1, lockUntil: 1 }, name: 'queue_lockUntil' },
  ],
  results: [
    { key: { stoppedAt: -1, _id: -1 }, name: 'stoppedAt' },
    { key: { name: 1, stoppedAt: -1 }, name: 'name_stoppedAt' },
    { key: { group: 1, stoppedAt: 1 }, name: 'group_stoppedAt' },
    { key: { func: 1, stoppedAt: -1 }, name: 'func_stoppedAt' },
    { key: { success: 1, stoppedAt: -1 }, name: 'success_stoppedAt' },
    // Django Q's cached results: queries hide expired records at once; the TTL monitor deletes them later
    { key: { expiresAt: 1 }, name: 'expiresAt_ttl', expireAfterSeconds: 0 },
  ],
  schedules: [
    // names are unique when set; unnamed schedules (name null) may repeat
    { key: { name: 1 }, name: 'name_unique', unique: true, partialFilterExpression: { name: { $type: 'string' } } },
    { key: { nextRun: 1, _id: 1 }, name: 'nextRun' },
  ],
  stats: [{ key: { expiresAt: 1 }, name: 'expiresAt_ttl', expireAfterSeconds: 0 }],
  // job control's values and sets: reads and claims hide expired documents at once, the TTL monitor deletes them later
  control: [{ key: { expiresAt: 1 }, name: 'expiresAt_ttl', expireAfterSeconds: 0 }],
  control_sets: [{ key: { expiresAt: 1 }, name: 'expiresAt_ttl', expireAfterSeconds: 0 }],
};

/** taskq's driver defaults; the URL's own parameters and `clientOptions` win over them. */
function defaultClientOptions(url: string): MongoClientOptions {
  const query = url.includes('?') ? url.slice(url.indexOf('?')).toLowerCase() : '';
  return {
    // undefined fields are left out instead of being stored as null
    ignoreUndefined: true,
    // fail a call after 10 s without a server instead of the driver's 30 s (a restart is back well before)
    ...(query.includes('serverselectiontimeoutms') ? {} : { serverSelectionTimeoutMS: 10_000 }),
    ...(query.includes('appname') ? {} : { appName: 'taskq' }),
  };
}

interface SharedClient {
  client: MongoClient;
  refs: number;
  owned: boolean;
  /** Index creation per collection, once per client (retried after a failure). */
  indexes: Map<string, Promise<void>>;
}

/** Clients opened from a URL, shared by every broker and store of this process on that URL. */
const shared = new Map<string, SharedClient>();
const byClient = new WeakMap<MongoClient, SharedClient>();

/** Process-local wake-ups: an enqueue wakes the waiting dequeues of the same queue in this process at once. */
const waiters = new Map<string, Set<() => void>>();

/**
 * One broker's or store's handle on MongoDB: a client shared per URL (a
 * broker and a store on one URL use one connection pool), the database, and
 * the collection names under the prefix.
 */
export class MongoConnection {
  readonly options: ResolvedMongoOptions;
  readonly client: MongoClient;
  readonly db: Db;
  readonly #entry: SharedClient;
  readonly #key: string | undefined;
  #released = false;

  constructor(options: MongoConnectionOptions) {
    this.options = resolveMongoOptions(options);
    if (options.client) {
      this.client = options.client;
      let entry = byClient.get(options.client);
      if (!entry) {
        entry = { client: options.client, refs: 0, owned: false, indexes: new Map() };
        byClient.set(options.client, entry);
      }
      this.#entry = entry;
    } else {
      const clientOptions = { ...defaultClientOptions(this.options.url), ...options.clientOptions };
      // options given as objects are not shared: they may hold secrets or callbacks that differ
      this.#key = options.clientOptions ? undefined : this.options.url;
      const existing = this.#key === undefined ? undefined : shared.get(this.#key);
      if (existing) {
        this.#entry = existing;
      } else {
        let client: MongoClient;
        try {
          client = new MongoClient(this.options.url, clientOptions);
        } catch (error) {
          throw new TaskqError(
            ErrorCodes.CONFIG,
            `MongoDB URL "${options.url}" was refused by the driver: ${(error as Error).message}`,
            { cause: error },
          );
        }
        this.#entry = { client, refs: 0, owned: true, indexes: new Map() };
        if (this.#key !== undefined) shared.set(this.#key, this.#entry);
      }
      this.client = this.#entry.client;
    }
    this.#entry.refs += 1;
    this.db = this.client.db(this.options.database);
  }

  name(collection: CollectionName): string {
    return `${this.options.prefix}_${collection}`;
  }

  collection<T extends Document = Document>(collection: CollectionName): Collection<T> {
    return this.db.collection<T>(this.name(collection));
  }

  /** Creates the collection's indexes the first time this client uses it (idempotent on the server). */
  ensureIndexes(collection: CollectionName): Promise<void> {
    const key = `${this.options.database}.${this.name(collection)}`;
    let pending = this.#entry.indexes.get(key);
    if (!pending) {
      pending = this.collection(collection)
        .createIndexes(INDEXES[collection])
        .then(() => undefined);
      this.#entry.indexes.set(key, pending);
      pending.catch(() => this.#entry.indexes.delete(key));
    }
    return pending;
  }

  /** The key under which dequeues of `queue` wait for a local enqueue. */
  wakeKey(queue: string): string {
    return `${this.options.url}|${this.options.database}|${this.name('queue')}|${queue}`;
  }

  static onWake(key: string, wake: () => void): () => void {
    let set = waiters.get(key);
    if (!set) waiters.set(key, (set = new Set()));
    set.add(wake);
    return () => {
      set.delete(wake);
      if (set.size === 0) waiters.delete(key);
    };
  }

  static wake(key: string): void {
    for (const wake of waiters.get(key) ?? []) wake();
  }

  /** Drops this handle; the client closes when the last handle on it is released (never a client you passed in). */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    this.#entry.refs -= 1;
    if (this.#entry.refs > 0 || !this.#entry.owned) return;
    if (this.#key !== undefined && shared.get(this.#key) === this.#entry) shared.delete(this.#key);
    await this.#entry.client.close().catch(() => undefined);
  }
}
