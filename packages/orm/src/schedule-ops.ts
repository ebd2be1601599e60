import {
  ErrorCodes,
  TaskqError,
  isDeleteOutcome,
  type ClaimOutcome,
  type Schedule,
  type SchedulePatch,
  type ScheduleQuery,
} from '@taskq/core';
import { writeTransaction, type SqlConnection } from './connection.js';
import type { Kysely, SelectQueryBuilder } from 'kysely';
import type { Database, ScheduleRow } from './tables.js';

/**
 * ScheduleStore operations on `<prefix>schedules`. What the scheduler filters
 * and claims on (next_run, repeats, paused, cluster, …) are columns; the rest
 * of a schedule rides along as JSON in `data`.
 */
type DataFields = Omit<
  Schedule,
  | 'id'
  | 'name'
  | 'func'
  | 'type'
  | 'cluster'
  | 'paused'
  | 'repeats'
  | 'nextRun'
  | 'lastTaskId'
  | 'lastRunAt'
  | 'createdAt'
  | 'updatedAt'
  | 'anchorAt'
> & { anchorAt: number };

function toRow(s: Schedule): ScheduleRow {
  const data: DataFields = {
    args: s.args,
    taskOptions: s.taskOptions,
    minutes: s.minutes,
    cron: s.cron,
    anchorAt: s.anchorAt.getTime(),
    timezone: s.timezone,
    intendedDateArg: s.intendedDateArg,
    catchUp: s.catchUp,
  };
  return {
    id: s.id,
    name: s.name,
    func: s.func,
    type: s.type,
    cluster: s.cluster,
    paused: s.paused ? 1 : 0,
    repeats: s.repeats,
    next_run: s.nextRun.getTime(),
    last_task_id: s.lastTaskId,
    last_run_at: s.lastRunAt ? s.lastRunAt.getTime() : null,
    data: JSON.stringify(data),
    created_at: s.createdAt.getTime(),
    updated_at: s.updatedAt.getTime(),
  };
}

function fromRow(row: ScheduleRow): Schedule {
  const data = JSON.parse(row.data) as DataFields;
  return {
    id: row.id,
    name: row.name,
    func: row.func,
    args: data.args,
    taskOptions: data.taskOptions,
    type: row.type as Schedule['type'],
    minutes: data.minutes,
    cron: data.cron,
    repeats: Number(row.repeats),
    nextRun: new Date(Number(row.next_run)),
    anchorAt: new Date(Number(data.anchorAt)),
    timezone: data.timezone,
    cluster: row.cluster,
    intendedDateArg: data.intendedDateArg,
    catchUp: data.catchUp,
    paused: Number(row.paused) === 1,
    lastTaskId: row.last_task_id,
    lastRunAt: row.last_run_at === null ? null : new Date(Number(row.last_run_at)),
    createdAt: new Date(Number(row.created_at)),
    updatedAt: new Date(Number(row.updated_at)),
  };
}

function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: unknown; errno?: unknown };
  return (
    e.code === '23505' || e.errno === 1062 || (typeof e.code === 'string' && e.code.startsWith('SQLITE_CONSTRAINT'))
  );
}

export class ScheduleOps {
  constructor(readonly connection: SqlConnection) {}

  get #table() {
    return this.connection.tables.name('schedules');
  }

  async create(schedule: Schedule): Promise<Schedule> {
    const { q } = this.connection;
    try {
      await q.insertInto(this.#table).values(toRow(schedule)).execute();
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      const sameId = await q.selectFrom(this.#table).select('id').where('id', '=', schedule.id).executeTakeFirst();
      if (sameId) {
        throw new TaskqError(ErrorCodes.INVALID_ARGUMENT, `A schedule with id ${schedule.id} already exists.`);
      }
      throw new TaskqError(ErrorCodes.DUPLICATE_SCHEDULE, `A schedule named "${schedule.name}" already exists.`, {
        cause: error,
      });
    }
    return fromRow(toRow(schedule));
  }

  async get(idOrName: string): Promise<Schedule | null> {
    const { q } = this.connection;
    const byId = await q.selectFrom(this.#table).selectAll().where('id', '=', idOrName).executeTakeFirst();
    if (byId) return fromRow(byId);
    const byName = await q.selectFrom(this.#table).selectAll().where('name', '=', idOrName).executeTakeFirst();
    return byName ? fromRow(byName) : null;
  }

  async list(query: ScheduleQuery): Promise<{ schedules: Schedule[]; total: number }> {
    const { q } = this.connection;
    let select = q.selectFrom(this.#table);
    if (query.func !== undefined) select = select.where('func', '=', query.func);
    if (query.type !== undefined) select = select.where('type', '=', query.type);
    if (query.cluster === null) select = select.where('cluster', 'is', null);
    else if (query.cluster !== undefined) select = select.where('cluster', '=', query.cluster);
    if (query.paused !== undefined) select = select.where('paused', '=', query.paused ? 1 : 0);
    const rows = await select
      .selectAll()
      .orderBy('next_run')
      .orderBy('id')
      .limit(query.limit ?? 100)
      .offset(query.offset ?? 0)
      .execute();
    const total = await select.select((eb) => eb.fn.countAll().as('n')).executeTakeFirst();
    return { schedules: rows.map(fromRow), total: Number(total?.n ?? 0) };
  }

  async update(id: string, patch: SchedulePatch): Promise<Schedule | null> {
    try {
      return await writeTransaction(this.connection, async (trx) => {
        const q = this.connection.tables.scoped(trx);
        let select = q.selectFrom(this.#table).selectAll().where('id', '=', id);
        if (this.connection.dialect !== 'sqlite') select = select.forUpdate();
        const row = await select.executeTakeFirst();
        if (!row) return null;
        const defined = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined));
        const updated = { ...fromRow(row), ...defined } as Schedule;
        const { id: _id, ...rest } = toRow(updated);
        await q.updateTable(this.#table).set(rest).where('id', '=', id).execute();
        return fromRow(toRow(updated));
      });
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      throw new TaskqError(ErrorCodes.DUPLICATE_SCHEDULE, `A schedule named "${patch.name}" already exists.`, {
        cause: error,
      });
    }
  }

  async delete(id: string): Promise<boolean> {
    const { q } = this.connection;
    const result = await q.deleteFrom(this.#table).where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async nextDueAt(cluster: string): Promise<Date | null> {
    const { q } = this.connection;
    const row = await this.#active(q.selectFrom(this.#table), cluster)
      .select((eb) => eb.fn.min('next_run').as('next'))
      .executeTakeFirst();
    return row?.next === null || row?.next === undefined ? null : new Date(Number(row.next));
  }

  async listDue(now: Date, cluster: string, limit: number): Promise<Schedule[]> {
    const { q } = this.connection;
    const rows = await this.#active(q.selectFrom(this.#table), cluster)
      .where('next_run', '<=', now.getTime())
      .selectAll()
      .orderBy('next_run')
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map(fromRow);
  }

  // eslint-disable-next-line @typescript-eslint/no-empty-object-type -- Kysely's type for a select with no columns yet
  #active(select: SelectQueryBuilder<Database, 'schedules', {}>, cluster: string) {
    return select
      .where('paused', '=', 0)
      .where('repeats', '<>', 0)
      .where((eb) => eb.or([eb('cluster', 'is', null), eb('cluster', '=', cluster)]));
  }

  /**
   * Compare-and-set on next_run: of any number of concurrent claims of one slot, exactly one changes a row.
   * `trx`: run it inside this transaction (claimScheduleAndEnqueue) instead of on its own.
   */
  async claim(id: string, expectedNextRun: Date, outcome: ClaimOutcome, trx?: Kysely<Database>): Promise<boolean> {
    const q = trx ? this.connection.tables.scoped(trx) : this.connection.q;
    const expected = expectedNextRun.getTime();
    if (isDeleteOutcome(outcome)) {
      const result = await q
        .deleteFrom(this.#table)
        .where('id', '=', id)
        .where('next_run', '=', expected)
        .where('paused', '=', 0)
        .where('repeats', '<>', 0)
        .executeTakeFirst();
      return Number(result.numDeletedRows) === 1;
    }
    const result = await q
      .updateTable(this.#table)
      .set({
        next_run: outcome.nextRun.getTime(),
        repeats: outcome.repeats,
        last_task_id: outcome.lastTaskId,
        last_run_at: outcome.lastRunAt.getTime(),
        updated_at: outcome.lastRunAt.getTime(),
      })
      .where('id', '=', id)
      .where('next_run', '=', expected)
      .where('paused', '=', 0)
      .where('repeats', '<>', 0)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }
}
