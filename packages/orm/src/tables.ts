import { sql, type Generated, type Kysely, type RawBuilder } from 'kysely';
import type { SqlDialectName } from './options.js';

/**
 * Row shapes. Times are integer milliseconds since the epoch (BIGINT): the
 * same on every dialect, with no time-zone conversion by any driver.
 * PostgreSQL returns BIGINT and COUNT as strings, so readers wrap them in Number().
 */
export interface QueueRow {
  id: Generated<number>;
  queue: string;
  /** Text; bytea (a Buffer) on PostgreSQL. */
  payload: string | Buffer;
  priority: number;
  /** Deliverable from this time: the delay at first, then the end of the current lease. */
  run_at: number;
  /** Set while delivered and not acknowledged; the lease ends at this time. */
  locked_until: number | null;
  deliveries: number;
  created_at: number;
  /** Its keyed limit's key (capability keyedLimits, PostgreSQL), NULL for a message without one. */
  limit_key: string | null;
}

/** A keyed limit of a queue: the values of its latest enqueue, and its turn (lowest is served next). */
export interface LimitRow {
  queue: string;
  key: string;
  concurrency: number | null;
  rate_max: number | null;
  rate_per_ms: number | null;
  turn: number;
}

/** One delivery of a rate-limited key: the sliding-window log (rows older than the window are deleted). */
export interface LimitStartRow {
  queue: string;
  key: string;
  at: number;
}

export interface TaskRow {
  id: string;
  name: string;
  func: string;
  args: string;
  result: string | null;
  /** JSON of {name, message, stack, code}. */
  error: string | null;
  /** 0 or 1 on every dialect. */
  success: number;
  group: string | null;
  hook: string | null;
  cluster: string | null;
  enqueued_at: number;
  started_at: number;
  stopped_at: number;
  attempt_count: number;
  /** Set for results saved with a TTL; an expired row counts as absent. */
  expires_at: number | null;
  /** JSON of the record's TaskMeta (progress, logs, redrivenFrom); NULL when the record had none. */
  meta: string | null;
}

export interface ScheduleRow {
  id: string;
  name: string | null;
  func: string;
  type: string;
  cluster: string | null;
  paused: number;
  repeats: number;
  next_run: number;
  last_task_id: string | null;
  last_run_at: number | null;
  /** The rest of the schedule as JSON (args, taskOptions, minutes, cron, anchorAt, timezone, …). */
  data: string;
  created_at: number;
  updated_at: number;
}

export interface StatRow {
  key: string;
  /** JSON of a ClusterStat. */
  value: string;
  expires_at: number;
}

/** A job-control value (ControlStore): `expires_at` NULL keeps it until deleted; an expired row counts as absent. */
export interface ControlRow {
  key: string;
  value: string;
  expires_at: number | null;
}

/** A counted set of job control (ControlStore.addMember): its expiry, and the row adds lock to serialise. */
export interface ControlSetRow {
  key: string;
  expires_at: number | null;
}

/** A member of a counted set. `member_hash` (SHA-256 hex of the member) exists on MySQL/MariaDB only. */
export interface ControlMemberRow {
  set_key: string;
  member: string;
  member_hash?: string;
}

export interface MigrationRow {
  version: number;
  name: string;
  applied_at: number;
}

/** Kysely's view of the database; real table names carry the prefix (see {@link Tables}). */
export interface Database {
  queue: QueueRow;
  tasks: TaskRow;
  schedules: ScheduleRow;
  stats: StatRow;
  control: ControlRow;
  control_sets: ControlSetRow;
  control_members: ControlMemberRow;
  limits: LimitRow;
  limit_starts: LimitStartRow;
  migrations: MigrationRow;
}

export type TableKey = keyof Database;

/**
 * Table names with the configured prefix and schema. `name('queue')` is cast
 * to the key Kysely knows, so queries stay typed while the real name varies.
 */
export class Tables {
  constructor(
    readonly dialect: SqlDialectName,
    readonly prefix: string,
    readonly schema: string | undefined,
  ) {}

  name<K extends TableKey>(key: K): K {
    return `${this.prefix}${key}` as K;
  }

  /** The query builder, scoped to the schema when one is configured. */
  scoped(db: Kysely<Database>): Kysely<Database> {
    return this.schema ? db.withSchema(this.schema) : db;
  }

  /** A (schema-qualified) table reference for raw SQL. */
  ref(key: TableKey): RawBuilder<unknown> {
    return sql.table(this.schema ? `${this.schema}.${this.name(key)}` : this.name(key));
  }

  /** PostgreSQL LISTEN/NOTIFY channel for this set of tables. */
  get channel(): string {
    return `${this.schema ? `${this.schema}_` : ''}${this.prefix}queue_wake`.toLowerCase();
  }

  /** Identity of this table set within one connection, for in-process wake-ups. */
  get key(): string {
    return `${this.schema ?? ''}.${this.prefix}`;
  }
}
