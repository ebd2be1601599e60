import { randomBytes } from 'node:crypto';
import {
  BaseBroker,
  ErrorCodes,
  type BrokerCapabilities,
  type BrokerFactoryOptions,
  type BrokerInfo,
  type ClusterStat,
  type Delivery,
  type EnqueueItem,
  type EnqueueOptions,
  type QueuedMessage,
} from '@taskq/core';
import type { Collection } from 'mongodb';
import { MongoConnection } from './connection.js';
import { guard, withTimeout } from './errors.js';
import { positiveMs, type MongoConnectionOptions } from './options.js';
import { deleteStat, getStats, setStat } from './stats.js';
import { Wakeup } from './wakeup.js';

export interface MongoBrokerOptions extends BrokerFactoryOptions, MongoConnectionOptions {
  /** First wait between claims of an idle queue. Default 50 ms. */
  pollMinMs?: number;
  /** The idle wait doubles up to this. Default 1000 ms. */
  pollMaxMs?: number;
}

/** One message in `<prefix>_queue`. */
export interface QueueDoc {
  /** Time-ordered string id: FIFO within a priority. */
  _id: string;
  queue: string;
  payload: string;
  priority: number;
  /** When it was first due (enqueue time + delay). */
  runAt: Date;
  /** Not deliverable before this: runAt until the first claim, then the end of the current lease. */
  lockUntil: Date;
  /** Claims so far; the receipt names the claim it came from. */
  deliveries: number;
  createdAt: Date;
}

/** The largest package: a BSON document is at most 16 MiB, the rest of the message document fits in the margin. */
const MAX_PAYLOAD_BYTES = 16 * 1024 * 1024 - 64 * 1024;
/**
 * Which due message a claim takes: higher priority first, then the one due
 * longest (lockUntil: enqueue time + delay, or when a lapsed lease ended),
 * then FIFO by id. The SQL broker orders the same way.
 */
const CLAIM_ORDER = { priority: -1, lockUntil: 1, _id: 1 } as const;
/** Claims in flight at once while filling a bulk dequeue. */
const CLAIM_WAVE = 32;

export const mongoBrokerCapabilities: BrokerCapabilities = Object.freeze({
  receipts: true,
  extendLease: true,
  exactCounts: true,
  bulkDequeue: true,
  bulkEnqueue: true,
  delay: true,
  priority: true,
  maxPayloadBytes: MAX_PAYLOAD_BYTES,
  stats: true,
  listQueued: true,
});

/**
 * The MongoDB broker: one document per message in `<prefix>_queue`, claimed
 * by an atomic `findOneAndUpdate` that moves `lockUntil` to the end of a
 * `retrySeconds` lease and counts the delivery. An unacknowledged delivery
 * becomes claimable again when its lease lapses (at-least-once). Idle
 * consumers poll with a backoff (MongoDB has no blocking read without change
 * streams, which need a replica set); an enqueue in the same process wakes
 * them at once.
 */
export class MongoBroker extends BaseBroker {
  readonly capabilities = mongoBrokerCapabilities;
  readonly connection: MongoConnection;
  readonly #queueDocs: Collection<QueueDoc>;
  readonly #wakeKey: string;
  readonly #pollMinMs: number;
  readonly #pollMaxMs: number;
  /** The idle poll interval; it keeps growing across dequeue calls until a claim finds work. */
  #interval: number;
  readonly #waiting = new Set<Wakeup>();
  readonly #active = new Set<Promise<unknown>>();
  /** Ids: enqueue time, this broker's random part, a counter — unique, and ordered within a process. */
  readonly #idPrefix = randomBytes(4).toString('hex');
  #idCounter = 0;
  #serverInfo: string | undefined;

  constructor(options: MongoBrokerOptions) {
    super(options);
    this.#pollMinMs = positiveMs(options.pollMinMs, 50, 'pollMinMs');
    this.#pollMaxMs = Math.max(this.#pollMinMs, positiveMs(options.pollMaxMs, 1000, 'pollMaxMs'));
    this.#interval = this.#pollMinMs;
    this.connection = new MongoConnection(options);
    this.#queueDocs = this.connection.collection<QueueDoc>('queue');
    this.#wakeKey = this.connection.wakeKey(this.queue);
  }

  #call<T>(call: () => Promise<T>): Promise<T> {
    return guard(ErrorCodes.BROKER_UNAVAILABLE, `MongoDB broker "${this.queue}"`, () => this.closed, call);
  }

  /** Like #call, after the queue collection's indexes exist. */
  #write<T>(call: () => Promise<T>): Promise<T> {
    return this.#call(async () => {
      await this.connection.ensureIndexes('queue');
      return call();
    });
  }

  #newId(now: number): string {
    this.#idCounter += 1;
    return `${now.toString(16).padStart(12, '0')}${this.#idPrefix}${this.#idCounter.toString(16).padStart(8, '0')}`;
  }

  protected async _enqueue(payload: string, options: EnqueueOptions): Promise<string> {
    const [id] = await this._enqueueMany([{ payload, options }]);
    return id as string;
  }

  protected override async _enqueueMany(items: readonly EnqueueItem[]): Promise<string[]> {
    const now = Date.now();
    const docs: QueueDoc[] = items.map((item) => {
      const runAt = new Date(now + Math.max(0, Math.round(item.options?.delayMs ?? 0)));
      return {
        _id: this.#newId(now),
        queue: this.queue,
        payload: item.payload,
        priority: Math.trunc(Number(item.options?.priority ?? 0)) || 0,
        runAt,
        lockUntil: runAt,
        deliveries: 0,
        createdAt: new Date(now),
      };
    });
    await this.#write(() => this.#queueDocs.insertMany(docs, { ordered: true }));
    MongoConnection.wake(this.#wakeKey);
    return docs.map((doc) => doc._id);
  }

  protected async _dequeue(max: number, waitMs: number, signal?: AbortSignal): Promise<Delivery[]> {
    const work = this.#dequeue(max, waitMs, signal);
    this.#active.add(work);
    try {
      return await work;
    } finally {
      this.#active.delete(work);
    }
  }

  async #dequeue(max: number, waitMs: number, signal?: AbortSignal): Promise<Delivery[]> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      // armed before the claim, so an enqueue during the claim is not missed
      const wakeup = new Wakeup();
      const unsubscribe = this.#subscribe(wakeup, signal);
      try {
        let claimed: Delivery[];
        try {
          claimed = await this.#claim(max);
        } catch (error) {
          if (this.closed) return [];
          throw error;
        }
        if (claimed.length > 0) {
          this.#interval = this.#pollMinMs;
          return claimed;
        }
        const remaining = deadline - Date.now();
        if (remaining <= 0 || this.closed || signal?.aborted) return [];
        await wakeup.sleep(Math.min(remaining, this.#interval));
        if (this.closed || signal?.aborted) return [];
        this.#interval = Math.min(this.#interval * 2, this.#pollMaxMs);
      } finally {
        unsubscribe();
      }
    }
  }

  #subscribe(wakeup: Wakeup, signal?: AbortSignal): () => void {
    const off = MongoConnection.onWake(this.#wakeKey, wakeup.fire);
    signal?.addEventListener('abort', wakeup.fire, { once: true });
    this.#waiting.add(wakeup);
    return () => {
      off();
      signal?.removeEventListener('abort', wakeup.fire);
      this.#waiting.delete(wakeup);
    };
  }

  /**
   * Claims up to `max` messages by repeated atomic claims, in growing waves
   * of parallel calls; stops at the first claim that finds nothing. Returned in
   * claim order (parallel claims finish in any order).
   */
  async #claim(max: number): Promise<Delivery[]> {
    const claimed: Claimed[] = [];
    const first = await this.#claimOne();
    if (first) claimed.push(first);
    // waves of 1, 2, 4 … CLAIM_WAVE: a nearly empty queue costs one extra claim, a full one few round trips
    for (let size = 1; first && claimed.length < max; size = Math.min(size * 2, CLAIM_WAVE)) {
      const wave = Math.min(max - claimed.length, size);
      const got = (await Promise.all(Array.from({ length: wave }, () => this.#claimOne()))).filter((c) => c !== null);
      claimed.push(...got);
      if (got.length < wave) break;
    }
    return claimed
      .sort((a, b) => b.priority - a.priority || a.due - b.due || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((c) => c.delivery);
  }

  /** One atomic claim: the first due message in CLAIM_ORDER, leased for retrySeconds. */
  async #claimOne(): Promise<Claimed | null> {
    const now = Date.now();
    const doc = await this.#write(() =>
      this.#queueDocs.findOneAndUpdate(
        { queue: this.queue, lockUntil: { $lte: new Date(now) } },
        { $set: { lockUntil: new Date(now + Math.round(this.retrySeconds * 1000)) }, $inc: { deliveries: 1 } },
        {
          sort: CLAIM_ORDER,
          // the document as found: its lockUntil says when it was due (for ordering a bulk claim)
          returnDocument: 'before',
          projection: { payload: 1, deliveries: 1, priority: 1, lockUntil: 1 },
        },
      ),
    );
    if (!doc) return null;
    const deliveries = doc.deliveries + 1;
    return {
      id: doc._id,
      priority: doc.priority,
      due: doc.lockUntil.getTime(),
      delivery: { receipt: `${doc._id}:${deliveries}`, payload: doc.payload, deliveries },
    };
  }

  protected async _acknowledge(receipt: string): Promise<void> {
    await this._acknowledgeMany([receipt]);
  }

  /**
   * Deletes by message id whatever the delivery number, like the Redis and SQL
   * brokers: the work is done even if the lease had lapsed, so the message
   * must not be delivered again.
   */
  protected override async _acknowledgeMany(receipts: readonly string[]): Promise<void> {
    const ids = [...new Set(receipts.map((r) => parseReceipt(r)?.id).filter((id): id is string => id !== undefined))];
    if (ids.length === 0) return;
    await this.#call(() =>
      ids.length === 1
        ? this.#queueDocs.deleteOne({ _id: ids[0] as string, queue: this.queue })
        : this.#queueDocs.deleteMany({ _id: { $in: ids }, queue: this.queue }),
    );
  }

  protected async _delete(receipt: string): Promise<void> {
    await this._acknowledgeMany([receipt]);
  }

  /** Extends only the delivery the receipt names (a stale receipt changes nothing) and never shortens a lease. */
  protected override async _extend(receipt: string, seconds: number): Promise<void> {
    const parsed = parseReceipt(receipt);
    if (!parsed) return;
    const until = new Date(Date.now() + Math.round(seconds * 1000));
    await this.#call(() =>
      this.#queueDocs.updateOne(
        { _id: parsed.id, queue: this.queue, deliveries: parsed.delivery, lockUntil: { $lt: until } },
        { $set: { lockUntil: until } },
      ),
    );
  }

  /** Waiting: never delivered (due or delayed) or the lease lapsed. */
  protected async _queueSize(): Promise<number> {
    const now = new Date();
    return this.#call(() =>
      this.#queueDocs.countDocuments({ queue: this.queue, $or: [{ deliveries: 0 }, { lockUntil: { $lte: now } }] }),
    );
  }

  /** Locked: delivered and the lease still running. */
  protected async _lockSize(): Promise<number> {
    const now = new Date();
    return this.#call(() =>
      this.#queueDocs.countDocuments({ queue: this.queue, deliveries: { $gt: 0 }, lockUntil: { $gt: now } }),
    );
  }

  protected async _purgeQueue(): Promise<void> {
    await this.#call(() => this.#queueDocs.deleteMany({ queue: this.queue }));
  }

  protected async _deleteQueue(): Promise<void> {
    await this._purgeQueue();
  }

  /** A real round trip (`ping` command), bounded by pingTimeoutMs (Django Q's Mongo ping never contacts the server). */
  protected async _ping(): Promise<void> {
    const ms = this.connection.options.pingTimeoutMs;
    await this.#call(() =>
      withTimeout(
        this.connection.db.command({ ping: 1 }),
        ms,
        ErrorCodes.BROKER_UNAVAILABLE,
        `MongoDB did not answer ping within ${ms} ms.`,
      ),
    );
  }

  protected async _info(): Promise<BrokerInfo> {
    if (this.#serverInfo === undefined) {
      const build = await this.#call(() => this.connection.db.command({ buildInfo: 1 }));
      this.#serverInfo = `mongodb ${String(build.version ?? 'unknown')}`;
    }
    return {
      server: this.#serverInfo,
      queue: this.queue,
      database: this.connection.options.database,
      collection: this.connection.name('queue'),
      wake: 'poll',
      retrySeconds: this.retrySeconds,
    };
  }

  protected override async _listQueued(limit: number, offset: number): Promise<QueuedMessage[]> {
    const docs = await this.#call(() =>
      this.#queueDocs.find({ queue: this.queue }).sort(CLAIM_ORDER).skip(offset).limit(limit).toArray(),
    );
    const now = Date.now();
    return docs.map((doc) => {
      const locked = doc.deliveries > 0 && doc.lockUntil.getTime() > now;
      return {
        id: doc._id,
        payload: doc.payload,
        lockedUntil: locked ? doc.lockUntil : null,
        runAt: locked ? null : doc.deliveries > 0 ? doc.lockUntil : doc.runAt,
      };
    });
  }

  protected override async _setStat(key: string, stat: ClusterStat, ttlSeconds: number): Promise<void> {
    await this.#call(() => setStat(this.connection, key, stat, ttlSeconds));
  }

  protected override async _getStats(): Promise<ClusterStat[]> {
    return this.#call(() => getStats(this.connection));
  }

  protected override async _deleteStat(key: string): Promise<void> {
    await this.#call(() => deleteStat(this.connection, key));
  }

  protected async _close(): Promise<void> {
    for (const wakeup of this.#waiting) wakeup.fire();
    await Promise.allSettled([...this.#active]);
    await this.connection.release();
  }
}

interface Claimed {
  id: string;
  priority: number;
  /** When it was due (its lockUntil before the claim). */
  due: number;
  delivery: Delivery;
}

/** Receipts are `<message id>:<delivery number>`. */
function parseReceipt(receipt: string): { id: string; delivery: number } | undefined {
  const separator = receipt.lastIndexOf(':');
  if (separator <= 0) return undefined;
  const delivery = Number(receipt.slice(separator + 1));
  return Number.isInteger(delivery) && delivery > 0 ? { id: receipt.slice(0, separator), delivery } : undefined;
}
