import {
  BaseBroker,
  ErrorCodes,
  TaskqError,
  type BrokerCapabilities,
  type BrokerFactoryOptions,
  type BrokerInfo,
  type ClusterStat,
  type Delivery,
  type EnqueueItem,
  type EnqueueOptions,
  type EventsCapability,
  type QueuedMessage,
  type TaskEventChannel,
  type TaskFinishedEvent,
} from '@taskq/core';
import {
  connect,
  serverVersion,
  type SqlConnectOptions,
  type SqlConnection,
  type SqlConnectionSource,
} from './connection.js';
import { unavailable } from './errors.js';
import { claimLimited, hasLimits } from './limit-ops.js';
import { ensureMigrated } from './migrator.js';
import { PgEventChannel } from './pg-events.js';
import {
  claimMessages,
  deleteMessages,
  insertMessages,
  msUntilNextDue,
  payloadText,
  type NewMessage,
} from './queue-ops.js';
import { deleteStat, getStats, setStat } from './stats.js';
import { kindOf, withTransaction } from './transaction.js';
import { Wakeup } from './wakeup.js';

/** What the SQL broker supports, on every dialect. */
export const SQL_BROKER_CAPABILITIES: BrokerCapabilities = Object.freeze({
  receipts: true,
  extendLease: true,
  exactCounts: true,
  bulkDequeue: true,
  bulkEnqueue: true,
  delay: true,
  priority: true,
  maxPayloadBytes: null,
  stats: true,
  listQueued: true,
  transactionalEnqueue: true,
});

/**
 * After an enqueue inside the application's transaction, how long idle dequeues of this process poll at
 * `pollMinMs`: the row appears at a COMMIT they cannot hear (except PostgreSQL's NOTIFY, sent on commit).
 */
const HURRY_AFTER_TRANSACTION_MS = 10_000;

export interface SqlBrokerOptions extends BrokerFactoryOptions, SqlConnectOptions {
  /** A URL (`sqlite:./taskq.sqlite`, `postgres://…`, `mysql://…`), a Kysely instance or a driver pool. */
  connection: SqlConnectionSource;
}

/**
 * The SQL broker: one row per message in `<prefix>queue`, claimed with a
 * lease (`locked_until`) of `retrySeconds`, so an unacknowledged delivery is
 * delivered again (at-least-once). Idle consumers sleep: PostgreSQL wakes
 * them with LISTEN/NOTIFY, other dialects poll with a backoff, and an enqueue
 * in the same process wakes them at once.
 */
export class SqlBroker extends BaseBroker implements TaskEventChannel {
  /** As SQL_BROKER_CAPABILITIES, plus `events` on PostgreSQL (LISTEN/NOTIFY). */
  readonly capabilities: BrokerCapabilities & EventsCapability;

  readonly connection: SqlConnection;
  readonly #wakeKey: string;
  readonly #migrate: boolean;
  readonly #pollMinMs: number;
  readonly #pollMaxMs: number;
  /** The idle poll interval; it keeps growing across dequeue calls until a claim finds work. */
  #interval: number;
  /** Wake-ups of dequeues waiting now, fired by close(). */
  readonly #waiting = new Set<Wakeup>();
  readonly #active = new Set<Promise<unknown>>();
  readonly #events: PgEventChannel | null;

  constructor(options: SqlBrokerOptions) {
    super(options);
    this.connection = connect(options.connection, options);
    this.#events = PgEventChannel.supported(this.connection) ? new PgEventChannel(this.connection) : null;
    // Keyed limits need FOR UPDATE SKIP LOCKED on the key rows and LATERAL picks: PostgreSQL only for now.
    const postgres = this.connection.dialect === 'postgres';
    this.capabilities = {
      ...SQL_BROKER_CAPABILITIES,
      ...(this.#events ? { events: true } : {}),
      ...(postgres ? { keyedLimits: true } : {}),
    };
    this.#wakeKey = `${this.connection.tables.key}|${this.queue}`;
    this.#migrate = options.migrate ?? true;
    this.#pollMinMs = options.pollMinMs ?? 100;
    this.#pollMaxMs = options.pollMaxMs ?? 1000;
    this.#interval = this.#pollMinMs;
  }

  /** Opens the connection and runs pending migrations; rejects with TASKQ_BROKER_UNAVAILABLE when the database is unreachable. */
  static async open(options: SqlBrokerOptions): Promise<SqlBroker> {
    const broker = new SqlBroker(options);
    try {
      await broker.#ready();
      return broker;
    } catch (error) {
      await broker.close();
      throw unavailable(error, 'connecting');
    }
  }

  async #ready(): Promise<void> {
    if (this.#migrate) await ensureMigrated(this.connection);
  }

  async #run<T>(doing: string, work: () => Promise<T>): Promise<T> {
    try {
      await this.#ready();
      return await work();
    } catch (error) {
      throw unavailable(error, doing);
    }
  }

  protected async _enqueue(payload: string, options: EnqueueOptions): Promise<string> {
    const [id] = await this.#insert([{ payload, options }]);
    return id as string;
  }

  protected override async _enqueueMany(items: readonly EnqueueItem[]): Promise<string[]> {
    return this.#insert(items);
  }

  async #insert(items: readonly EnqueueItem[]): Promise<string[]> {
    // Items with and without a transaction (or in different ones) go in separate statements, in input order.
    const runs: { transaction: unknown; items: EnqueueItem[] }[] = [];
    for (const item of items) {
      const transaction = item.options?.transaction;
      const last = runs.at(-1);
      if (last && last.transaction === transaction) last.items.push(item);
      else runs.push({ transaction, items: [item] });
    }
    const ids: string[] = [];
    for (const run of runs) ids.push(...(await this.#insertRun(run.transaction, run.items)));
    return ids;
  }

  async #insertRun(transaction: unknown, items: readonly EnqueueItem[]): Promise<string[]> {
    const now = Date.now();
    const messages: NewMessage[] = items.map((item) => ({
      payload: item.payload,
      priority: Math.trunc(item.options?.priority ?? 0),
      runAt: now + Math.max(0, Math.round(item.options?.delayMs ?? 0)),
      ...(item.options?.limit === undefined ? {} : { limit: item.options.limit }),
    }));
    if (transaction === undefined) {
      const ids = await this.#run('enqueuing', () => insertMessages(this.connection, this.queue, messages));
      this.connection.entry.wake(this.#wakeKey);
      return ids.map(String);
    }
    // withTransaction refuses (TASKQ_INVALID_ARGUMENT) a handle of another kind or one with no open transaction.
    const ids = await this.#run('enqueuing inside your transaction', () =>
      withTransaction(this.connection, transaction, (runner) =>
        insertMessages(this.connection, this.queue, messages, runner),
      ),
    );
    // Visible only once the app commits, which this process cannot hear: waiting dequeues here poll at the
    // shortest interval for a while, woken now so that one asleep on a long interval moves to the short one.
    // Not on SQLite with a better-sqlite3 Database: a claim now would wait for the write lock that Database holds
    // on this very thread (or fail inside its transaction, when it is taskq's own connection).
    this.connection.entry.hurry(this.#wakeKey, Date.now() + HURRY_AFTER_TRANSACTION_MS);
    if (this.connection.dialect !== 'sqlite' || kindOf(transaction) === 'kysely') {
      this.connection.entry.wake(this.#wakeKey);
    }
    return ids.map(String);
  }

  /** Runs pending migrations once (what `open()` does); a no-op with `migrate: false`. */
  async ready(): Promise<void> {
    await this.#ready();
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

  /** When a limited key held back by its rate frees a slot (ms), from the last limited claim; null when none. */
  #rateWaitMs: number | null = null;

  /** Plain messages first; then, on PostgreSQL, messages of limited keys (keys take turns; see limit-ops.ts). */
  async #claim(max: number) {
    const plain = await claimMessages(this.connection, this.queue, max, this.retrySeconds);
    this.#rateWaitMs = null;
    if (plain.length >= max || this.capabilities.keyedLimits !== true) return plain;
    if (!(await hasLimits(this.connection, this.queue))) return plain;
    const limited = await claimLimited(this.connection, this.queue, max - plain.length, this.retrySeconds);
    this.#rateWaitMs = limited.rateWaitMs;
    return [...plain, ...limited.messages];
  }

  async #dequeue(max: number, waitMs: number, signal?: AbortSignal): Promise<Delivery[]> {
    const deadline = Date.now() + waitMs;
    const listener = this.connection.entry.listener(this.connection.tables);
    for (;;) {
      if (waitMs > 0) await listener?.ensure();
      const wakeup = new Wakeup();
      const unsubscribe = this.#subscribe(wakeup, signal);
      try {
        const claimed = await this.#run('dequeuing', () => this.#claim(max));
        if (claimed.length > 0) {
          this.#interval = this.#pollMinMs;
          return claimed.map((m) => ({
            receipt: `${m.id}.${m.deliveries}`,
            payload: payloadText(m.payload),
            deliveries: m.deliveries,
          }));
        }
        const remaining = deadline - Date.now();
        if (remaining <= 0 || this.closed || signal?.aborted) return [];
        const nextDue = Math.min(
          await this.#run('dequeuing', () => msUntilNextDue(this.connection, this.queue)),
          this.#rateWaitMs ?? Number.POSITIVE_INFINITY,
        );
        // with LISTEN working, polling is only a safety net for lost notifications
        const poll = listener?.listening
          ? Math.max(5000, this.#pollMaxMs)
          : this.connection.entry.hurrying(this.#wakeKey)
            ? this.#pollMinMs
            : this.#interval;
        await wakeup.sleep(Math.min(remaining, poll, nextDue + 5));
        if (this.closed || signal?.aborted) return [];
        this.#interval = Math.min(this.#interval * 2, this.#pollMaxMs);
      } finally {
        unsubscribe();
      }
    }
  }

  #subscribe(wakeup: Wakeup, signal?: AbortSignal): () => void {
    const off = this.connection.entry.onWake(this.#wakeKey, wakeup.fire);
    signal?.addEventListener('abort', wakeup.fire, { once: true });
    this.#waiting.add(wakeup);
    return () => {
      off();
      signal?.removeEventListener('abort', wakeup.fire);
      this.#waiting.delete(wakeup);
    };
  }

  protected async _acknowledge(receipt: string): Promise<void> {
    await this._acknowledgeMany([receipt]);
  }

  /** Deletes by message id whatever the delivery number: the work is done, even if the lease had lapsed. */
  protected override async _acknowledgeMany(receipts: readonly string[]): Promise<void> {
    const ids = receipts.map(messageIdOf).filter((id): id is number => id !== undefined);
    if (ids.length === 0) return;
    await this.#run('acknowledging', () => deleteMessages(this.connection, this.queue, ids));
  }

  protected async _delete(receipt: string): Promise<void> {
    await this._acknowledgeMany([receipt]);
  }

  /** Extends only the current delivery (a stale receipt after redelivery changes nothing) and never shortens a lease. */
  protected override async _extend(receipt: string, seconds: number): Promise<void> {
    const id = messageIdOf(receipt);
    const deliveries = Number(receipt.slice(receipt.lastIndexOf('.') + 1));
    if (id === undefined || !Number.isInteger(deliveries)) return;
    const until = Date.now() + Math.round(seconds * 1000);
    const { q, tables } = this.connection;
    await this.#run('extending a lease', () =>
      q
        .updateTable(tables.name('queue'))
        .set({ locked_until: until, run_at: until })
        .where('id', '=', id)
        .where('queue', '=', this.queue)
        .where('deliveries', '=', deliveries)
        .where('locked_until', 'is not', null)
        .where('locked_until', '<', until)
        .execute(),
    );
  }

  protected async _queueSize(): Promise<number> {
    return this.#count(false);
  }

  protected async _lockSize(): Promise<number> {
    return this.#count(true);
  }

  /** Locked: delivered and the lease still running. Everything else (due, delayed, lease lapsed) is queued. */
  async #count(locked: boolean): Promise<number> {
    const { q, tables } = this.connection;
    const now = Date.now();
    const row = await this.#run('counting', () =>
      q
        .selectFrom(tables.name('queue'))
        .select((eb) => eb.fn.countAll().as('n'))
        .where('queue', '=', this.queue)
        .where((eb) =>
          locked
            ? eb('locked_until', '>', now)
            : eb.or([eb('locked_until', 'is', null), eb('locked_until', '<=', now)]),
        )
        .executeTakeFirst(),
    );
    return Number(row?.n ?? 0);
  }

  protected async _purgeQueue(): Promise<void> {
    const { q, tables } = this.connection;
    await this.#run('purging', () => q.deleteFrom(tables.name('queue')).where('queue', '=', this.queue).execute());
  }

  protected async _deleteQueue(): Promise<void> {
    await this._purgeQueue();
  }

  protected async _ping(): Promise<void> {
    await this.#run('pinging', () => serverVersion(this.connection));
  }

  protected async _info(): Promise<BrokerInfo> {
    const server = await this.#run('reading server info', () => serverVersion(this.connection));
    const { tables } = this.connection;
    const listener = this.connection.entry.listener(tables);
    return {
      server,
      queue: this.queue,
      dialect: this.connection.dialect,
      table: `${tables.schema ? `${tables.schema}.` : ''}${tables.name('queue')}`,
      wake: listener ? 'listen/notify' : 'poll',
      // false until the first waiting dequeue connects it, and while it reconnects
      listening: listener?.listening ?? false,
    };
  }

  protected override async _listQueued(limit: number, offset: number): Promise<QueuedMessage[]> {
    const { q, tables } = this.connection;
    const rows = await this.#run('listing queued messages', () =>
      q
        .selectFrom(tables.name('queue'))
        .select(['id', 'payload', 'run_at', 'locked_until'])
        .where('queue', '=', this.queue)
        .orderBy('priority', 'desc')
        .orderBy('id')
        .limit(limit)
        .offset(offset)
        .execute(),
    );
    const now = Date.now();
    return rows.map((row) => {
      const lockedUntil = row.locked_until === null ? null : Number(row.locked_until);
      const locked = lockedUntil !== null && lockedUntil > now;
      return {
        id: String(row.id),
        payload: payloadText(row.payload),
        lockedUntil: locked ? new Date(lockedUntil) : null,
        runAt: locked ? null : new Date(Number(row.run_at)),
      };
    });
  }

  protected override async _setStat(key: string, stat: ClusterStat, ttlSeconds: number): Promise<void> {
    await this.#run('saving a cluster stat', () => setStat(this.connection, key, stat, ttlSeconds));
  }

  protected override async _getStats(): Promise<ClusterStat[]> {
    return this.#run('reading cluster stats', () => getStats(this.connection));
  }

  protected override async _deleteStat(key: string): Promise<void> {
    await this.#run('deleting a cluster stat', () => deleteStat(this.connection, key));
  }

  /** Finished-task events (capability `events`, PostgreSQL only): NOTIFY/LISTEN, see pg-events.ts. */
  async publishFinished(events: readonly TaskFinishedEvent[]): Promise<void> {
    if (!this.#events) throw noEvents();
    await this.#events.publishFinished(events);
  }

  async subscribeFinished(listener: (events: TaskFinishedEvent[]) => void): Promise<() => Promise<void>> {
    if (!this.#events) throw noEvents();
    return this.#events.subscribeFinished(listener);
  }

  protected async _close(): Promise<void> {
    await this.#events?.close();
    for (const wakeup of this.#waiting) wakeup.fire();
    await Promise.allSettled([...this.#active]);
    await this.connection.release();
  }
}

function noEvents(): TaskqError {
  return new TaskqError(
    ErrorCodes.CONFIG,
    'Finished-task events need PostgreSQL (LISTEN/NOTIFY); on SQLite and MySQL clients poll the store instead.',
  );
}

function messageIdOf(receipt: string): number | undefined {
  const dot = receipt.indexOf('.');
  const id = Number(dot === -1 ? receipt : receipt.slice(0, dot));
  return Number.isSafeInteger(id) && id > 0 ? id : undefined;
}
