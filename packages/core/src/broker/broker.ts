import { ErrorCodes, TaskqError, type ErrorCode } from '../errors.js';
import type { ClusterStat } from '../stats/cluster-stat.js';

/**
 * The Broker contract. A broker moves opaque signed packages (strings) with
 * at-least-once delivery: a delivery that is not acknowledged within the
 * broker's `retrySeconds` (its visibility timeout / lease) is delivered again.
 *
 * Implement it by extending {@link BaseBroker}, which validates arguments,
 * enforces `close()` semantics and gives defaults for the bulk calls; then run
 * `@taskq/conformance` against the adapter.
 */
export interface Broker {
  /** Queue name (Django Q's list_key): the cluster name unless routed elsewhere. */
  readonly queue: string;
  readonly capabilities: BrokerCapabilities;
  enqueue(payload: string, options?: EnqueueOptions): Promise<string>;
  enqueueMany(items: readonly EnqueueItem[]): Promise<string[]>;
  /** Up to `max` deliveries, waiting up to `waitMs` when none is ready. Never busy-polls. */
  dequeue(options?: DequeueOptions): Promise<Delivery[]>;
  /** Processing finished: never deliver again. Harmless when repeated or when the lease expired. */
  acknowledge(receipt: string): Promise<void>;
  acknowledgeMany(receipts: readonly string[]): Promise<void>;
  /** Drop a delivery that can never succeed (undecodable or forged package). */
  fail(receipt: string): Promise<void>;
  /** Remove a message explicitly. */
  delete(receipt: string): Promise<void>;
  /** Keep a running delivery invisible for `seconds` more (capability `extendLease`). */
  extend(receipt: string, seconds: number): Promise<void>;
  /** Messages waiting to be delivered (capability `exactCounts` says whether exact). */
  queueSize(): Promise<number>;
  /** Messages delivered but not acknowledged. */
  lockSize(): Promise<number>;
  purgeQueue(): Promise<void>;
  deleteQueue(): Promise<void>;
  /** Contacts the server; rejects with TASKQ_BROKER_UNAVAILABLE when it cannot. */
  ping(): Promise<void>;
  info(): Promise<BrokerInfo>;
  /** Messages waiting, for the dashboard (capability `listQueued`). */
  listQueued(options?: { limit?: number; offset?: number }): Promise<QueuedMessage[]>;
  /** Cluster heartbeats (capability `stats`); otherwise the store keeps them. */
  setStat(key: string, stat: ClusterStat, ttlSeconds: number): Promise<void>;
  getStats(): Promise<ClusterStat[]>;
  deleteStat(key: string): Promise<void>;
  /** Idempotent. Every later call rejects with TASKQ_BROKER_CLOSED. */
  close(): Promise<void>;
  readonly closed: boolean;
}

export interface BrokerCapabilities {
  /** Deliveries carry receipts and are redelivered when not acknowledged. */
  receipts: boolean;
  /** `extend` pushes a delivery's lease further. */
  extendLease: boolean;
  /** `queueSize`/`lockSize` are exact, not approximate. */
  exactCounts: boolean;
  /** `dequeue` can return more than one delivery. */
  bulkDequeue: boolean;
  /** `enqueueMany` is one round trip. */
  bulkEnqueue: boolean;
  /** `enqueue` honours `delayMs`. */
  delay: boolean;
  /** `enqueue` honours `priority` (higher first). */
  priority: boolean;
  /** Largest payload in bytes, or null for no practical limit. */
  maxPayloadBytes: number | null;
  /** setStat/getStats are native to the broker. */
  stats: boolean;
  /** listQueued works. */
  listQueued: boolean;
  /**
   * `enqueue`/`enqueueMany` accept `transaction`: the application's open transaction on the broker's own
   * database, so the task exists if and only if that transaction commits. Absent means false.
   */
  transactionalEnqueue?: boolean;
  /**
   * `enqueue` honours `limit` ({@link KeyedLimit}): per-key concurrency and rate enforced when messages are
   * delivered, atomically across every consumer, with keys taking turns. Absent means false.
   */
  keyedLimits?: boolean;
}

/**
 * Limits shared by every message enqueued with the same `key` (a tenant, a customer, an API), enforced by the
 * broker when it delivers (capability `keyedLimits`) so any number of clusters together never exceed them. A
 * message over a limit is not failed: it waits, and `dequeue` returns other keys' messages meanwhile. Keys with
 * waiting messages take turns, so one key's flood does not starve another key. The values given with a key's most
 * recent enqueue are the ones in force.
 */
export interface KeyedLimit {
  key: string;
  /** At most this many of the key's messages delivered and not yet acknowledged (or failed, or lease-expired). */
  concurrency?: number;
  /** At most `max` deliveries of the key in any window of `perMs` milliseconds (a sliding window). */
  rate?: { max: number; perMs: number };
}

export interface EnqueueOptions {
  /** Deliver no earlier than this many ms from now (capability `delay`). */
  delayMs?: number;
  /** Higher runs first (capability `priority`). */
  priority?: number;
  /**
   * Write the message inside this open transaction of the application (capability `transactionalEnqueue`): which
   * handles a broker takes (a Kysely transaction, a `pg` client, a `mysql2` connection, …) is the adapter's to say.
   */
  transaction?: unknown;
  /** Per-key concurrency and rate (capability `keyedLimits`). */
  limit?: KeyedLimit;
}

export interface EnqueueItem {
  payload: string;
  options?: EnqueueOptions;
}

export interface DequeueOptions {
  /** Most deliveries to return. Default 1. */
  max?: number;
  /** How long to wait when nothing is ready. Default 0 (no wait). */
  waitMs?: number;
  /** Ends a blocking wait early (brokers honour it where the client allows). */
  signal?: AbortSignal;
}

export interface Delivery {
  receipt: string;
  payload: string;
  /** How many times this message has been delivered, including this one, where known. */
  deliveries?: number;
}

export interface QueuedMessage {
  id: string;
  payload: string;
  /** Locked (delivered, not acknowledged) until this time, if locked. */
  lockedUntil?: Date | null;
  runAt?: Date | null;
}

export interface BrokerInfo {
  /** e.g. "memory", "redis 7.0.15", "postgres 15.4". */
  server: string;
  queue: string;
  [key: string]: unknown;
}

/** What a broker package's factory receives. */
export interface BrokerFactoryOptions {
  queue: string;
  /** Visibility timeout / lease in seconds (Django Q's `retry`). */
  retrySeconds: number;
  /**
   * Longest wait for the server on any call (beyond a dequeue's own `waitMs`) before it rejects with
   * TASKQ_BROKER_UNAVAILABLE. Default {@link DEFAULT_CALL_TIMEOUT_MS}; the config's `brokerTimeout`.
   */
  callTimeoutMs?: number;
}

/** How long a broker or store call waits for an unreachable server by default. */
export const DEFAULT_CALL_TIMEOUT_MS = 10_000;

/** Resolves when `promise` settles or after `ms`, whichever is first; rejections still reject. */
export function settleWithin(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const elapsed = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms).unref()));
  return Promise.race([promise, elapsed]).finally(() => clearTimeout(timer));
}

/**
 * Rejects with a TaskqError `code` when `call` has not settled within `ms`. The call itself may still complete
 * later (a client library that queues commands while disconnected sends them on reconnect): callers treat such an
 * error as "unknown outcome", which at-least-once delivery already covers.
 */
export function boundedCall<T>(call: Promise<T>, ms: number, code: ErrorCode, message: () => string): Promise<T> {
  if (!Number.isFinite(ms)) return call;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TaskqError(code, message())), ms);
  });
  return Promise.race([call, timeout]).finally(() => clearTimeout(timer));
}

/**
 * The limit a task is enqueued with: its own `limit`, else the enqueuing process's `limits` for its task name
 * (key `func:<name>`), else for the whole queue (`'*'`, key `queue:<queue>`), else none.
 */
export function limitFor(
  limits: Readonly<Record<string, Omit<KeyedLimit, 'key'>>>,
  message: { func: string; limit?: KeyedLimit },
  queue: string,
): KeyedLimit | undefined {
  if (message.limit !== undefined) return message.limit;
  const byFunc = limits[message.func];
  if (byFunc !== undefined) return { key: `func:${message.func}`, ...byFunc };
  const byQueue = limits['*'];
  return byQueue === undefined ? undefined : { key: `queue:${queue}`, ...byQueue };
}

/** Throws TASKQ_INVALID_ARGUMENT naming the field when a limit is malformed. */
export function assertKeyedLimit(limit: KeyedLimit): void {
  const problems: string[] = [];
  const whole = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 1;
  if (typeof limit !== 'object' || limit === null)
    problems.push('`limit` must be an object { key, concurrency?, rate? }');
  else {
    if (typeof limit.key !== 'string' || limit.key === '' || limit.key.length > 200) {
      problems.push('`limit.key` must be a non-empty string of at most 200 characters');
    }
    if (limit.concurrency !== undefined && !whole(limit.concurrency)) {
      problems.push('`limit.concurrency` must be a whole number ≥ 1');
    }
    if (limit.rate !== undefined && !(whole(limit.rate?.max) && whole(limit.rate?.perMs))) {
      problems.push('`limit.rate` must be { max, perMs }, whole numbers ≥ 1');
    }
    if (limit.concurrency === undefined && limit.rate === undefined) {
      problems.push('`limit` needs `concurrency`, `rate` or both');
    }
  }
  if (problems.length > 0) throw new TaskqError(ErrorCodes.INVALID_ARGUMENT, `Invalid limit: ${problems.join('; ')}.`);
}

/** Broker packages export one of these so `broker: 'scheme://…'` resolves to them. */
export interface BrokerFactory {
  readonly schemes: readonly string[];
  create(url: string, options: BrokerFactoryOptions): Broker | Promise<Broker>;
}

/**
 * Base class for brokers: public methods check state and arguments, then call
 * the `_`-prefixed hooks an adapter implements, each bounded by `callTimeoutMs`
 * so an unreachable server is a typed error, never a hang. Bulk calls default
 * to loops; adapters override them when the server batches.
 */
export abstract class BaseBroker implements Broker {
  abstract readonly capabilities: BrokerCapabilities;
  readonly queue: string;
  readonly retrySeconds: number;
  /** Longest wait for the server per call (see {@link BrokerFactoryOptions.callTimeoutMs}); the runtime may set it. */
  callTimeoutMs: number;
  #closed = false;
  #closing: Promise<void> | undefined;

  protected constructor(options: BrokerFactoryOptions) {
    if (!options.queue) throw new TaskqError(ErrorCodes.INVALID_ARGUMENT, 'A broker needs a non-empty queue name.');
    if (!(options.retrySeconds > 0)) {
      throw new TaskqError(ErrorCodes.INVALID_ARGUMENT, 'A broker needs retrySeconds > 0 (its visibility timeout).');
    }
    this.queue = options.queue;
    this.retrySeconds = options.retrySeconds;
    this.callTimeoutMs = options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
  }

  /** Runs an adapter hook with the bounded wait; `extraMs` adds a dequeue's own blocking time. */
  #bounded<T>(what: string, call: () => Promise<T>, extraMs = 0): Promise<T> {
    return boundedCall(
      call(),
      this.callTimeoutMs + extraMs,
      ErrorCodes.BROKER_UNAVAILABLE,
      () =>
        `The broker for queue "${this.queue}" did not answer ${what} within ${this.callTimeoutMs} ms: ` +
        'check that the server runs and is reachable (the wait is the `brokerTimeout` option).',
    );
  }

  get closed(): boolean {
    return this.#closed;
  }

  protected assertOpen(): void {
    if (this.#closed) {
      throw new TaskqError(ErrorCodes.BROKER_CLOSED, `Broker for queue "${this.queue}" is closed; create a new one.`);
    }
  }

  #checkPayload(payload: string): void {
    if (typeof payload !== 'string') {
      throw new TaskqError(ErrorCodes.INVALID_ARGUMENT, 'Broker payloads are strings (signed packages).');
    }
    const max = this.capabilities.maxPayloadBytes;
    if (max !== null && Buffer.byteLength(payload) > max) {
      throw new TaskqError(
        ErrorCodes.PAYLOAD_TOO_LARGE,
        `Package is ${Buffer.byteLength(payload)} bytes; this broker takes at most ${max}. ` +
          'Pass a reference (a key or URL) instead of the data, or turn on `compress`.',
      );
    }
  }

  /** A `transaction` on a broker that cannot write inside one is refused: silently enqueueing outside it is the bug. */
  #checkTransaction(options: EnqueueOptions | undefined): void {
    if (options?.transaction === undefined || this.capabilities.transactionalEnqueue === true) return;
    throw new TaskqError(
      ErrorCodes.UNSUPPORTED,
      `The broker for queue "${this.queue}" (${this.constructor.name}) cannot enqueue inside your transaction ` +
        '(capability `transactionalEnqueue`): use a SQL broker (@taskq/orm) on the same database, or enqueue after commit.',
    );
  }

  #checkLimit(options: EnqueueOptions | undefined): void {
    if (options?.limit === undefined) return;
    if (this.capabilities.keyedLimits !== true) {
      throw new TaskqError(
        ErrorCodes.UNSUPPORTED,
        `The broker for queue "${this.queue}" (${this.constructor.name}) cannot enforce per-key limits ` +
          '(capability `keyedLimits`): use the memory, Redis or PostgreSQL broker for rate limits and keyed concurrency.',
      );
    }
    assertKeyedLimit(options.limit);
  }

  async enqueue(payload: string, options: EnqueueOptions = {}): Promise<string> {
    this.assertOpen();
    this.#checkPayload(payload);
    this.#checkTransaction(options);
    this.#checkLimit(options);
    return this.#bounded('enqueue', () => this._enqueue(payload, options));
  }

  async enqueueMany(items: readonly EnqueueItem[]): Promise<string[]> {
    this.assertOpen();
    for (const item of items) {
      this.#checkPayload(item.payload);
      this.#checkTransaction(item.options);
      this.#checkLimit(item.options);
    }
    if (items.length === 0) return [];
    return this.#bounded('enqueueMany', () => this._enqueueMany(items));
  }

  async dequeue(options: DequeueOptions = {}): Promise<Delivery[]> {
    this.assertOpen();
    const max = options.max ?? 1;
    if (!Number.isInteger(max) || max < 1) {
      throw new TaskqError(ErrorCodes.INVALID_ARGUMENT, `dequeue max must be a positive integer, got ${max}.`);
    }
    const waitMs = Math.max(0, options.waitMs ?? 0);
    return this.#bounded(
      'dequeue',
      () => this._dequeue(this.capabilities.bulkDequeue ? max : 1, waitMs, options.signal),
      waitMs,
    );
  }

  async acknowledge(receipt: string): Promise<void> {
    this.assertOpen();
    await this.#bounded('acknowledge', () => this._acknowledge(receipt));
  }

  async acknowledgeMany(receipts: readonly string[]): Promise<void> {
    this.assertOpen();
    if (receipts.length > 0) await this.#bounded('acknowledgeMany', () => this._acknowledgeMany(receipts));
  }

  async fail(receipt: string): Promise<void> {
    this.assertOpen();
    await this.#bounded('fail', () => this._delete(receipt));
  }

  async delete(receipt: string): Promise<void> {
    this.assertOpen();
    await this.#bounded('delete', () => this._delete(receipt));
  }

  async extend(receipt: string, seconds: number): Promise<void> {
    this.assertOpen();
    if (!this.capabilities.extendLease) return;
    await this.#bounded('extend', () => this._extend(receipt, seconds));
  }

  async queueSize(): Promise<number> {
    this.assertOpen();
    return this.#bounded('queueSize', () => this._queueSize());
  }

  async lockSize(): Promise<number> {
    this.assertOpen();
    return this.#bounded('lockSize', () => this._lockSize());
  }

  async purgeQueue(): Promise<void> {
    this.assertOpen();
    await this.#bounded('purgeQueue', () => this._purgeQueue());
  }

  async deleteQueue(): Promise<void> {
    this.assertOpen();
    await this.#bounded('deleteQueue', () => this._deleteQueue());
  }

  async ping(): Promise<void> {
    this.assertOpen();
    await this.#bounded('ping', () => this._ping());
  }

  async info(): Promise<BrokerInfo> {
    this.assertOpen();
    return this.#bounded('info', () => this._info());
  }

  async listQueued(options: { limit?: number; offset?: number } = {}): Promise<QueuedMessage[]> {
    this.assertOpen();
    if (!this.capabilities.listQueued) return [];
    return this.#bounded('listQueued', () => this._listQueued(options.limit ?? 100, options.offset ?? 0));
  }

  async setStat(key: string, stat: ClusterStat, ttlSeconds: number): Promise<void> {
    this.assertOpen();
    await this.#bounded('setStat', () => this._setStat(key, stat, ttlSeconds));
  }

  async getStats(): Promise<ClusterStat[]> {
    this.assertOpen();
    return this.#bounded('getStats', () => this._getStats());
  }

  async deleteStat(key: string): Promise<void> {
    this.assertOpen();
    await this.#bounded('deleteStat', () => this._deleteStat(key));
  }

  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    // Bounded too: closing must not hang a stop while the server is unreachable (the socket is then dropped).
    this.#closing = settleWithin(this._close(), this.callTimeoutMs);
    return this.#closing;
  }

  protected abstract _enqueue(payload: string, options: EnqueueOptions): Promise<string>;
  protected async _enqueueMany(items: readonly EnqueueItem[]): Promise<string[]> {
    const ids: string[] = [];
    for (const item of items) ids.push(await this._enqueue(item.payload, item.options ?? {}));
    return ids;
  }
  protected abstract _dequeue(max: number, waitMs: number, signal?: AbortSignal): Promise<Delivery[]>;
  protected abstract _acknowledge(receipt: string): Promise<void>;
  protected async _acknowledgeMany(receipts: readonly string[]): Promise<void> {
    for (const receipt of receipts) await this._acknowledge(receipt);
  }
  protected abstract _delete(receipt: string): Promise<void>;
  protected async _extend(_receipt: string, _seconds: number): Promise<void> {}
  protected abstract _queueSize(): Promise<number>;
  protected abstract _lockSize(): Promise<number>;
  protected abstract _purgeQueue(): Promise<void>;
  protected abstract _deleteQueue(): Promise<void>;
  protected abstract _ping(): Promise<void>;
  protected abstract _info(): Promise<BrokerInfo>;
  protected async _listQueued(_limit: number, _offset: number): Promise<QueuedMessage[]> {
    return [];
  }
  protected async _setStat(_key: string, _stat: ClusterStat, _ttlSeconds: number): Promise<void> {
    throw new TaskqError(ErrorCodes.INVALID_ARGUMENT, 'This broker keeps no stats; the cluster uses its store.');
  }
  protected async _getStats(): Promise<ClusterStat[]> {
    return [];
  }
  protected async _deleteStat(_key: string): Promise<void> {}
  protected abstract _close(): Promise<void>;
}
