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
import { sql, type SelectQueryBuilder } from 'kysely';
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
  readonly capabilities: StoreCapabilities = { stats: true, ttl: false };
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
  protected async _saveMany(records: readonly TaskRecord[], _options: SaveOptions): Promise<number[]> {
    const { tables, dialect } = this.connection;
    const unique = new Set(records.map((r) => r.id)).size === records.length;
    if (unique && dialect !== 'mysql') return this.#run('saving results', () => this.#upsert(records));
    return this.#run('saving results', () =>
      writeTransaction(this.connection, async (trx) => {
        const q = tables.scoped(trx);
        const ids = [...new Set(records.map((r) => r.id))];
        let select = q.selectFrom(this.#tasks).select(['id', 'success', 'attempt_count']).where('id', 'in', ids);
        if (dialect !== 'sqlite') select = select.forUpdate();
        const existing = new Map<string, { success: boolean; attemptCount: number }>();
        for (const row of await select.execute()) {
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
          const row = toRow(record, attemptCount);
          existing.set(record.id, { success: record.success, attemptCount });
          if (before && !inserts.has(record.id)) updates.set(record.id, row);
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
      }),
    );
  }

  /**
   * The save rule in one statement (PostgreSQL, SQLite): insert, or overwrite
   * a saved failure with attempt_count + 1; a saved success is left alone and
   * read back. Needs distinct ids (a row cannot be upserted twice in one statement).
   */
  async #upsert(records: readonly TaskRecord[]): Promise<number[]> {
    const { q } = this.connection;
    const rows = records.map((record) => toRow(record, 1));
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
            attempt_count: eb(eb.ref(`${this.#tasks}.attempt_count`), '+', 1),
          }))
          .where(`${this.#tasks}.success`, '=', 0),
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
        const row = await q.selectFrom(this.#tasks).selectAll().where('id', '=', idOrName).executeTakeFirst();
        if (row) return fromRow(row);
      }
      const row = await q
        .selectFrom(this.#tasks)
        .selectAll()
        .where('name', '=', idOrName)
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
      let query = q.selectFrom(this.#tasks).selectAll().where('group', '=', group);
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
        .where('group', '=', group);
      if (failures) query = query.where('success', '=', 0);
      const row = await query.executeTakeFirst();
      return Number(row?.n ?? 0);
    });
  }

  protected async _deleteGroup(group: string, tasks: boolean): Promise<number> {
    const { q } = this.connection;
    return this.#run('deleting a group', async () => {
      const result = tasks
        ? await q.deleteFrom(this.#tasks).where('group', '=', group).executeTakeFirst()
        : await q.updateTable(this.#tasks).set({ group: null }).where('group', '=', group).executeTakeFirst();
      return Number('numDeletedRows' in result ? result.numDeletedRows : result.numUpdatedRows);
    });
  }

  protected async _list(query: ListQuery & { limit: number; offset: number }) {
    const { q } = this.connection;
    return this.#run('listing results', async () => {
      const filter = <O>(builder: SelectQueryBuilder<Database, 'tasks', O>) => {
        let b = builder;
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
            from ${table} where success = 1
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

function toRow(record: TaskRecord, attemptCount: number): TaskRow {
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
