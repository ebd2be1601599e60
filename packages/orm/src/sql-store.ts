import {
  BaseResultStore,
  isTaskId,
  type ClaimOutcome,
  type ClusterStat,
  type ListQuery,
  type Schedule,
  type SchedulePatch,
  type ScheduleQuery,
  type ScheduleStore,
  type SaveLimitPer,
  type SaveOptions,
  type StoreCapabilities,
  type TaskRecord,
} from '@taskq/core';
import { sql, type ExpressionBuilder, type SelectQueryBuilder } from 'kysely';
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
import type { Database, TaskRow } from './tables.js';

/** What the SQL store supports, on every dialect. */
export const SQL_STORE_CAPABILITIES: StoreCapabilities = Object.freeze({ stats: true, ttl: true });

export interface SqlStoreOptions extends SqlConnectOptions {
  /** A URL (`sqlite:./taskq.sqlite`, `postgres://…`, `mysql://…`), a Kysely instance or a driver pool. */
  connection: SqlConnectionSource;
}

/**
 * Task results in `<prefix>tasks` (one row per task id), cluster stats in
 * `<prefix>stats`, and schedules in `<prefix>schedules` (it is also the
 * cluster's ScheduleStore).
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

  /**
   * Django Q's save rule in one transaction: a saved success never changes,
   * a saved failure is overwritten with attemptCount + 1, a new id starts at 1.
   */
  protected async _saveMany(records: readonly TaskRecord[], options: SaveOptions): Promise<number[]> {
    const { dialect } = this.connection;
    const now = Date.now();
    const expiresAt = options.ttlSeconds === undefined ? null : now + Math.round(options.ttlSeconds * 1000);
    const unique = new Set(records.map((r) => r.id)).size === records.length;
    const counts = await this.#run('saving results', () =>
      unique && dialect !== 'mysql'
        ? this.#upsert(records, now, expiresAt)
        : this.#saveInTransaction(records, now, expiresAt),
    );
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

  async #saveInTransaction(records: readonly TaskRecord[], now: number, expiresAt: number | null): Promise<number[]> {
    const { tables, dialect } = this.connection;
    return writeTransaction(this.connection, async (trx) => {
      const q = tables.scoped(trx);
      const ids = [...new Set(records.map((r) => r.id))];
      let select = q
        .selectFrom(this.#tasks)
        .select(['id', 'success', 'attempt_count', 'expires_at'])
        .where('id', 'in', ids);
      if (dialect !== 'sqlite') select = select.forUpdate();
      const existing = new Map<string, { success: boolean; attemptCount: number }>();
      // rows on disk, live or expired: an expired one is overwritten as if new
      const present = new Set<string>();
      for (const row of await select.execute()) {
        present.add(row.id);
        if (row.expires_at !== null && Number(row.expires_at) <= now) continue;
        existing.set(row.id, { success: Number(row.success) === 1, attemptCount: Number(row.attempt_count) });
      }
      const counts: number[] = [];
      const inserts = new Map<string, TaskRow>();
      const updates = new Map<string, TaskRow>();
      for (const record of records) {
        const before = existing.get(record.id);
        if (before?.success) {
          counts.push(before.attemptCount);
          continue;
        }
        const attemptCount = before ? before.attemptCount + 1 : 1;
        const row = toRow(record, attemptCount, expiresAt);
        existing.set(record.id, { success: record.success, attemptCount });
        if (present.has(record.id)) updates.set(record.id, row);
        else inserts.set(record.id, row);
        counts.push(attemptCount);
      }
      if (inserts.size > 0)
        await q
          .insertInto(this.#tasks)
          .values([...inserts.values()])
          .execute();
      for (const row of updates.values()) {
        const { id, ...rest } = row;
        await q.updateTable(this.#tasks).set(rest).where('id', '=', id).execute();
      }
      return counts;
    });
  }

  /**
   * The save rule in one statement (PostgreSQL, SQLite): insert, or overwrite
   * a saved failure with attempt_count + 1; a saved success is left alone and
   * read back. Needs distinct ids (a row cannot be upserted twice in one statement).
   */
  async #upsert(records: readonly TaskRecord[], now: number, expiresAt: number | null): Promise<number[]> {
    const { q } = this.connection;
    const rows = records.map((record) => toRow(record, 1, expiresAt));
    const table = this.#tasks;
    const returned = await q
      .insertInto(this.#tasks)
      .values(rows)
      .onConflict((oc) =>
        oc
          .column('id')
          .doUpdateSet((eb) => ({
            name: eb.ref('excluded.name'),
            func: eb.ref('excluded.func'),
            args: eb.ref('excluded.args'),
            result: eb.ref('excluded.result'),
            error: eb.ref('excluded.error'),
            success: eb.ref('excluded.success'),
            group: eb.ref('excluded.group'),
            hook: eb.ref('excluded.hook'),
            cluster: eb.ref('excluded.cluster'),
            enqueued_at: eb.ref('excluded.enqueued_at'),
            started_at: eb.ref('excluded.started_at'),
            stopped_at: eb.ref('excluded.stopped_at'),
            expires_at: eb.ref('excluded.expires_at'),
            // an expired row counts as absent: the new save is attempt 1
            attempt_count: eb
              .case()
              .when(eb(`${table}.expires_at`, '<=', now))
              .then(1)
              .else(eb(eb.ref(`${table}.attempt_count`), '+', 1))
              .end(),
          }))
          .where((eb) => eb.or([eb(`${table}.success`, '=', 0), eb(`${table}.expires_at`, '<=', now)])),
      )
      .returning(['id', 'attempt_count'])
      .execute();
    const counts = new Map(returned.map((row) => [row.id, Number(row.attempt_count)]));
    const missing = records.filter((r) => !counts.has(r.id)).map((r) => r.id);
    if (missing.length > 0) {
      // already saved as successes: unchanged, report their count
      const kept = await q.selectFrom(this.#tasks).select(['id', 'attempt_count']).where('id', 'in', missing).execute();
      for (const row of kept) counts.set(row.id, Number(row.attempt_count));
    }
    return records.map((r) => counts.get(r.id) ?? 1);
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
      // the extra derived table lets MySQL delete from the table it reads
      const result = await sql`
        delete from ${table} where id in (
          select id from (
            select id, row_number() over (${partition} order by stopped_at desc, id desc) as rn
            from ${table} where success = 1 and (expires_at is null or expires_at > ${Date.now()})
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

  protected async _close(): Promise<void> {
    await this.connection.release();
  }
}

/** Rows that have not expired. */
function live(now: number) {
  return (eb: ExpressionBuilder<Database, 'tasks'>) =>
    eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]);
}

function toRow(record: TaskRecord, attemptCount: number, expiresAt: number | null): TaskRow {
  return {
    id: record.id,
    name: record.name,
    func: record.func,
    args: record.args,
    result: record.result,
    error: record.error === null ? null : JSON.stringify(record.error),
    success: record.success ? 1 : 0,
    group: record.group,
    hook: record.hook,
    cluster: record.cluster,
    enqueued_at: record.enqueuedAt.getTime(),
    started_at: record.startedAt.getTime(),
    stopped_at: record.stoppedAt.getTime(),
    attempt_count: attemptCount,
    expires_at: expiresAt,
  };
}

function fromRow(row: TaskRow): TaskRecord {
  return {
    id: row.id,
    name: row.name,
    func: row.func,
    args: row.args,
    result: row.result,
    error: row.error === null ? null : (JSON.parse(row.error) as TaskRecord['error']),
    success: Number(row.success) === 1,
    group: row.group,
    hook: row.hook,
    cluster: row.cluster,
    enqueuedAt: new Date(Number(row.enqueued_at)),
    startedAt: new Date(Number(row.started_at)),
    stoppedAt: new Date(Number(row.stopped_at)),
    attemptCount: Number(row.attempt_count),
  };
}
