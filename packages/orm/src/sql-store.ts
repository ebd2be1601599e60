import {
  BaseResultStore,
  emptyBuckets,
  encodeSearchCursor,
  isTaskId,
  ITER_GROUP_PREFIX,
  type ClaimOutcome,
  type ClusterStat,
  type ListQuery,
  type NormalizedSearch,
  type SearchPage,
  type ThroughputBucket,
  type ThroughputQuery,
  type Schedule,
  type SchedulePatch,
  type ScheduleQuery,
  type ScheduleStore,
  type SaveLimitPer,
  type SaveOptions,
  type StoreCapabilities,
  type TaskRecord,
  type TaskState,
  type TransactionalEnqueue,
} from '@taskq/core';
import { sql, type SelectQueryBuilder } from 'kysely';
import {
  addMember,
  claimValue,
  deleteValue,
  getValues,
  listValues,
  purgeExpiredControl,
  setValue,
} from './control-ops.js';
import {
  connect,
  writeTransaction,
  type SqlConnectOptions,
  type SqlConnection,
  type SqlConnectionSource,
} from './connection.js';
import { unavailable } from './errors.js';
import { ensureMigrated } from './migrator.js';
import { ScheduleOps } from './schedule-ops.js';
import { deleteStat, getStats, setStat } from './stats.js';
import { saveResults } from './save-results.js';
import { SqlBroker } from './sql-broker.js';
import type { Database } from './tables.js';
import { fromRow, live } from './task-rows.js';

/** Whether `broker` is a SqlBroker whose statements reach the same database through the same pool as `connection`. */
function sharesPool(connection: SqlConnection, broker: TransactionalEnqueue['broker']): broker is SqlBroker {
  return broker instanceof SqlBroker && !broker.closed && broker.connection.entry === connection.entry;
}

/** What the SQL store supports, on every dialect. */
export const SQL_STORE_CAPABILITIES: StoreCapabilities = Object.freeze({ stats: true, ttl: true, control: true });

export interface SqlStoreOptions extends SqlConnectOptions {
  /** A URL (`sqlite:./taskq.sqlite`, `postgres://…`, `mysql://…`), a Kysely instance or a driver pool. */
  connection: SqlConnectionSource;
}

/**
 * Task results in `<prefix>tasks` (one row per task id), cluster stats in
 * `<prefix>stats`, schedules in `<prefix>schedules` (it is also the
 * cluster's ScheduleStore), and job control's values and counted sets in
 * `<prefix>control`, `<prefix>control_sets` and `<prefix>control_members`
 * (see control-ops.ts).
 */
export class SqlStore extends BaseResultStore implements ScheduleStore {
  readonly capabilities: StoreCapabilities = SQL_STORE_CAPABILITIES;
  readonly connection: SqlConnection;
  readonly #migrate: boolean;
  readonly #schedules: ScheduleOps;

  constructor(options: SqlStoreOptions) {
    super();
    this.connection = connect(options.connection, options);
    this.#schedules = new ScheduleOps(this.connection);
    this.#migrate = options.migrate ?? true;
  }

  /** Opens the connection and runs pending migrations; rejects with TASKQ_STORE_UNAVAILABLE when unreachable. */
  static async open(options: SqlStoreOptions): Promise<SqlStore> {
    const store = new SqlStore(options);
    try {
      await store.#ready();
      return store;
    } catch (error) {
      await store.close();
      throw unavailable(error, 'connecting', true);
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
      throw unavailable(error, doing, true);
    }
  }

  get #tasks() {
    return this.connection.tables.name('tasks');
  }

  /** Django Q's save rule (see save-results.ts); `ttlSeconds` sets the rows' expiry. */
  protected async _saveMany(records: readonly TaskRecord[], options: SaveOptions): Promise<number[]> {
    const now = Date.now();
    const expiresAt = options.ttlSeconds === undefined ? null : now + Math.round(options.ttlSeconds * 1000);
    const counts = await this.#run('saving results', () => saveResults(this.connection, records, expiresAt, now));
    await this.#purgeExpired(now);
    return counts;
  }

  #purgedAt = 0;

  /** Expired rows are invisible at once; they are deleted at most once a minute, by whoever saves. */
  async #purgeExpired(now: number): Promise<void> {
    if (now - this.#purgedAt < 60_000) return;
    this.#purgedAt = now;
    const { q } = this.connection;
    await this.#run('purging expired results', () =>
      q.deleteFrom(this.#tasks).where('expires_at', 'is not', null).where('expires_at', '<=', now).execute(),
    );
  }

  protected override async _getStates(ids: readonly string[]): Promise<Map<string, TaskState>> {
    const { q } = this.connection;
    return this.#run('reading task states', async () => {
      const rows = await q
        .selectFrom(this.#tasks)
        .select(['id', 'success', 'attempt_count'])
        .where('id', 'in', [...ids])
        .where(live(Date.now()))
        .execute();
      return new Map(
        rows.map((row) => [row.id, { success: Number(row.success) === 1, attemptCount: Number(row.attempt_count) }]),
      );
    });
  }

  protected async _get(idOrName: string): Promise<TaskRecord | null> {
    const { q } = this.connection;
    return this.#run('reading a result', async () => {
      if (isTaskId(idOrName)) {
        const row = await q
          .selectFrom(this.#tasks)
          .selectAll()
          .where('id', '=', idOrName)
          .where(live(Date.now()))
          .executeTakeFirst();
        if (row) return fromRow(row);
      }
      const row = await q
        .selectFrom(this.#tasks)
        .selectAll()
        .where('name', '=', idOrName)
        .where(live(Date.now()))
        .orderBy('stopped_at', 'desc')
        .orderBy('id', 'desc')
        .limit(1)
        .executeTakeFirst();
      return row ? fromRow(row) : null;
    });
  }

  protected async _getGroup(group: string, failures: boolean): Promise<TaskRecord[]> {
    const { q } = this.connection;
    return this.#run('reading a group', async () => {
      let query = q.selectFrom(this.#tasks).selectAll().where('group', '=', group).where(live(Date.now()));
      if (!failures) query = query.where('success', '=', 1);
      const rows = await query.orderBy('stopped_at').orderBy('id').execute();
      return rows.map(fromRow);
    });
  }

  protected async _countGroup(group: string, failures: boolean): Promise<number> {
    const { q } = this.connection;
    return this.#run('counting a group', async () => {
      let query = q
        .selectFrom(this.#tasks)
        .select((eb) => eb.fn.countAll().as('n'))
        .where('group', '=', group)
        .where(live(Date.now()));
      if (failures) query = query.where('success', '=', 0);
      const row = await query.executeTakeFirst();
      return Number(row?.n ?? 0);
    });
  }

  protected async _deleteGroup(group: string, tasks: boolean): Promise<number> {
    const { q } = this.connection;
    return this.#run('deleting a group', async () => {
      const result = tasks
        ? await q.deleteFrom(this.#tasks).where('group', '=', group).where(live(Date.now())).executeTakeFirst()
        : await q
            .updateTable(this.#tasks)
            .set({ group: null })
            .where('group', '=', group)
            .where(live(Date.now()))
            .executeTakeFirst();
      return Number('numDeletedRows' in result ? result.numDeletedRows : result.numUpdatedRows);
    });
  }

  protected async _list(query: ListQuery & { limit: number; offset: number }) {
    const { q } = this.connection;
    const now = Date.now();
    return this.#run('listing results', async () => {
      const filter = <O>(builder: SelectQueryBuilder<Database, 'tasks', O>) => {
        let b = builder.where(live(now));
        if (query.success !== undefined) b = b.where('success', '=', query.success ? 1 : 0);
        if (query.group !== undefined) b = b.where('group', '=', query.group);
        if (query.func !== undefined) b = b.where('func', '=', query.func);
        if (query.name !== undefined) b = b.where('name', '=', query.name);
        return b;
      };
      const rows = await filter(q.selectFrom(this.#tasks).selectAll())
        .orderBy('stopped_at', 'desc')
        .orderBy('id', 'desc')
        .limit(query.limit)
        .offset(query.offset)
        .execute();
      const total = await filter(q.selectFrom(this.#tasks).select((eb) => eb.fn.countAll().as('n'))).executeTakeFirst();
      return { records: rows.map(fromRow), total: Number(total?.n ?? 0) };
    });
  }

  /**
   * Keyset pages on (stopped_at, id), newest first. Text search: ILIKE over
   * args, result and error on PostgreSQL (trigram GIN indexes, migration 3),
   * lower(…) LIKE lower(…) elsewhere (a scan of the filtered rows).
   */
  protected override async _search(query: NormalizedSearch): Promise<SearchPage> {
    const { q, dialect } = this.connection;
    const now = Date.now();
    return this.#run('searching results', async () => {
      let b = q.selectFrom(this.#tasks).selectAll().where(live(now));
      if (query.func !== undefined) b = b.where('func', '=', query.func);
      if (query.name !== undefined) b = b.where('name', '=', query.name);
      if (query.group !== undefined) b = b.where('group', '=', query.group);
      if (query.cluster !== undefined) b = b.where('cluster', '=', query.cluster);
      if (query.state !== undefined) b = b.where('success', '=', query.state === 'success' ? 1 : 0);
      if (query.since !== undefined) b = b.where('stopped_at', '>=', query.since.getTime());
      if (query.until !== undefined) b = b.where('stopped_at', '<', query.until.getTime());
      const after = query.after;
      if (after) {
        b = b.where((eb) =>
          eb.or([
            eb('stopped_at', '<', after.stoppedAt),
            eb.and([eb('stopped_at', '=', after.stoppedAt), eb('id', '<', after.key)]),
          ]),
        );
      }
      if (query.text !== undefined) {
        const pattern = `%${query.text.replace(/[!%_]/g, '!$&')}%`;
        const lowered = pattern.toLowerCase();
        b = b.where((eb) =>
          eb.or(
            (['args', 'result', 'error'] as const).map((column) =>
              dialect === 'postgres'
                ? sql<boolean>`${sql.ref(column)} ilike ${pattern} escape '!'`
                : sql<boolean>`lower(${sql.ref(column)}) like ${lowered} escape '!'`,
            ),
          ),
        );
      }
      const rows = await b
        .orderBy('stopped_at', 'desc')
        .orderBy('id', 'desc')
        .limit(query.limit + 1)
        .execute();
      const records = rows.slice(0, query.limit).map(fromRow);
      const last = records.at(-1);
      const nextCursor =
        rows.length > query.limit && last
          ? encodeSearchCursor({ stoppedAt: last.stoppedAt.getTime(), key: last.id })
          : null;
      return { records, nextCursor };
    });
  }

  protected override async _throughput(query: ThroughputQuery): Promise<ThroughputBucket[]> {
    const { q } = this.connection;
    const since = query.since.getTime();
    const width = Math.round(query.bucketMs);
    // literals, not parameters: PostgreSQL must see the same expression in SELECT and GROUP BY (both are integers)
    const bucketOf = sql<number>`floor((stopped_at - ${sql.lit(since)}) / ${sql.lit(width)})`;
    return this.#run('counting results per time bucket', async () => {
      let b = q
        .selectFrom(this.#tasks)
        .select([bucketOf.as('bucket'), 'success', (eb) => eb.fn.countAll().as('n')])
        .where(live(Date.now()))
        .where('stopped_at', '>=', since)
        .where('stopped_at', '<', query.until.getTime());
      if (query.func !== undefined) b = b.where('func', '=', query.func);
      if (query.cluster !== undefined) b = b.where('cluster', '=', query.cluster);
      const rows = await b.groupBy([bucketOf, 'success']).execute();
      const buckets = emptyBuckets(query);
      for (const row of rows) {
        const bucket = buckets[Number(row.bucket)];
        if (!bucket) continue;
        if (Number(row.success) === 1) bucket.success += Number(row.n);
        else bucket.failure += Number(row.n);
      }
      return buckets;
    });
  }

  protected async _delete(id: string): Promise<boolean> {
    const { q } = this.connection;
    return this.#run('deleting a result', async () => {
      const result = await q.deleteFrom(this.#tasks).where('id', '=', id).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    });
  }

  /** Keeps the newest `keep` successes per bucket with ROW_NUMBER() (PostgreSQL, SQLite 3.25+, MariaDB 10.2+, MySQL 8). */
  protected async _prune(keep: number, per: SaveLimitPer | null): Promise<number> {
    const { db, tables } = this.connection;
    const table = tables.ref('tasks');
    const partition = per === null ? sql`` : sql`partition by ${sql.ref(per)}`;
    return this.#run('pruning results', async () => {
      // the extra derived table lets MySQL delete from the table it reads; an unfinished iter's records stay
      const result = await sql`
        delete from ${table} where id in (
          select id from (
            select id, row_number() over (${partition} order by stopped_at desc, id desc) as rn
            from ${table} where success = 1 and (expires_at is null or expires_at > ${Date.now()})
              and (${sql.ref('group')} is null or ${sql.ref('group')} not like ${`${ITER_GROUP_PREFIX}%`})
          ) ranked where rn > ${keep}
        )`.execute(db);
      return Number(result.numAffectedRows ?? 0);
    });
  }

  protected override async _ping(): Promise<void> {
    const { db } = this.connection;
    await this.#run('pinging', () => sql`select 1`.execute(db));
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

  // Job control (ControlStore): the atomic statements are in control-ops.ts

  protected override async _claimValue(key: string, value: string, ttlMs: number | null): Promise<string | null> {
    const held = await this.#run('claiming a control value', () => claimValue(this.connection, key, value, ttlMs));
    await this.#purgeControl();
    return held;
  }

  protected override async _setValue(key: string, value: string, ttlMs: number | null): Promise<void> {
    await this.#run('setting a control value', () => setValue(this.connection, key, value, ttlMs));
    await this.#purgeControl();
  }

  protected override async _getValues(keys: readonly string[]): Promise<Map<string, string>> {
    return this.#run('reading control values', () => getValues(this.connection, keys));
  }

  protected override async _deleteValue(key: string, expected: string | undefined): Promise<boolean> {
    return this.#run('deleting a control value', () => deleteValue(this.connection, key, expected));
  }

  protected override async _listValues(prefix: string, limit: number): Promise<Map<string, string>> {
    return this.#run('listing control values', () => listValues(this.connection, prefix, limit));
  }

  protected override async _addMember(key: string, member: string, ttlMs: number | null): Promise<number> {
    const size = await this.#run('adding to a control set', () => addMember(this.connection, key, member, ttlMs));
    await this.#purgeControl();
    return size;
  }

  #controlPurgedAt = 0;

  /**
   * Expired control values and sets are invisible at once; they are deleted at most once a minute, by a writer.
   * Best effort: a failed purge must not turn a claim or add that succeeded into an error (the next one retries).
   */
  async #purgeControl(): Promise<void> {
    const now = Date.now();
    if (now - this.#controlPurgedAt < 60_000) return;
    this.#controlPurgedAt = now;
    await purgeExpiredControl(this.connection, now).catch(() => {});
  }

  // ScheduleStore

  async createSchedule(schedule: Schedule): Promise<Schedule> {
    this.assertOpen();
    return this.#run('creating a schedule', () => this.#schedules.create(schedule));
  }

  async getSchedule(idOrName: string): Promise<Schedule | null> {
    this.assertOpen();
    return this.#run('reading a schedule', () => this.#schedules.get(idOrName));
  }

  async listSchedules(query: ScheduleQuery = {}): Promise<{ schedules: Schedule[]; total: number }> {
    this.assertOpen();
    return this.#run('listing schedules', () => this.#schedules.list(query));
  }

  async updateSchedule(id: string, patch: SchedulePatch): Promise<Schedule | null> {
    this.assertOpen();
    return this.#run('updating a schedule', () => this.#schedules.update(id, patch));
  }

  async deleteSchedule(id: string): Promise<boolean> {
    this.assertOpen();
    return this.#run('deleting a schedule', () => this.#schedules.delete(id));
  }

  async nextScheduleDueAt(cluster: string): Promise<Date | null> {
    this.assertOpen();
    return this.#run('reading schedules', () => this.#schedules.nextDueAt(cluster));
  }

  async listDueSchedules(now: Date, cluster: string, limit: number): Promise<Schedule[]> {
    this.assertOpen();
    return this.#run('reading due schedules', () => this.#schedules.listDue(now, cluster, limit));
  }

  async claimSchedule(id: string, expectedNextRun: Date, outcome: ClaimOutcome): Promise<boolean> {
    this.assertOpen();
    return this.#run('claiming a schedule', () => this.#schedules.claim(id, expectedNextRun, outcome));
  }

  /**
   * The claim and the enqueue of the slot's task in one transaction, when `broker` is a SqlBroker on this store's
   * pool: the same URL (taskq shares one pool per URL in a process) or the same Kysely instance, pg.Pool, mysql2
   * pool or better-sqlite3 Database. Null, having done nothing, for any other broker (or a SqlBroker on another
   * pool, even of the same database: taskq cannot tell it is the same one), and the scheduler then claims and
   * enqueues separately. An enqueue that fails rolls the claim back: the slot stays due for the next pass.
   */
  async claimScheduleAndEnqueue(
    id: string,
    expectedNextRun: Date,
    outcome: ClaimOutcome,
    enqueue: TransactionalEnqueue,
  ): Promise<boolean | null> {
    this.assertOpen();
    const { broker, payload, options } = enqueue;
    if (!sharesPool(this.connection, broker)) return null;
    // the broker's migrations first: inside the transaction they could wait for the connection it holds (SQLite)
    await broker.ready();
    return this.#run('claiming a schedule and enqueuing its task', () =>
      writeTransaction(this.connection, async (trx) => {
        if (!(await this.#schedules.claim(id, expectedNextRun, outcome, trx))) return false;
        await broker.enqueue(payload, { ...options, transaction: trx });
        return true;
      }),
    );
  }

  protected async _close(): Promise<void> {
    await this.connection.release();
  }
}
