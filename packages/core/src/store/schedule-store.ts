import type { Broker, EnqueueOptions } from '../broker/broker.js';
import type { LinkOptions } from '../task/task.js';

/**
 * The ScheduleStore contract: where schedules live (memory, SQL, Mongo). The
 * scheduler loop of every cluster reads due schedules from it and claims each
 * slot with {@link ScheduleStore.claimSchedule}, an atomic compare-and-set on
 * `nextRun`; that claim is what makes each slot run exactly once across any
 * number of processes and hosts (Django Q relies on a row lock instead).
 *
 * Stores are dumb on purpose: they persist the fields they are given and never
 * read a clock, compute a next run or validate. The client functions in
 * `schedules.ts` and the {@link Scheduler} do that. Run
 * `runScheduleStoreSuite` (from `@taskq/conformance`) against an implementation.
 *
 * Method names carry "Schedule" so one object can implement both this and
 * `ResultStore` (whose `get`/`list`/`delete` are about tasks).
 */
export interface ScheduleStore {
  /**
   * Insert a complete record (the caller fills every field, including id and
   * timestamps). Rejects with TaskqError `TASKQ_DUPLICATE_SCHEDULE` when
   * `name` is not null and another schedule already has that name.
   */
  createSchedule(schedule: Schedule): Promise<Schedule>;
  /** By id first, then by name. */
  getSchedule(idOrName: string): Promise<Schedule | null>;
  /** Ordered by nextRun, then id. `total` counts every match, ignoring limit/offset. */
  listSchedules(query?: ScheduleQuery): Promise<{ schedules: Schedule[]; total: number }>;
  /**
   * Set the given fields (the caller includes `updatedAt`). Returns the updated
   * record, or null when the id does not exist. A rename onto a name another
   * schedule has rejects with `TASKQ_DUPLICATE_SCHEDULE`.
   */
  updateSchedule(id: string, patch: SchedulePatch): Promise<Schedule | null>;
  deleteSchedule(id: string): Promise<boolean>;
  /**
   * The earliest nextRun among active schedules (not paused, repeats ≠ 0)
   * that `cluster` may run (schedule.cluster is null or equals it); null if none.
   */
  nextScheduleDueAt(cluster: string): Promise<Date | null>;
  /** Active schedules for `cluster` with nextRun ≤ now, earliest first, at most `limit`. */
  listDueSchedules(now: Date, cluster: string, limit: number): Promise<Schedule[]>;
  /**
   * Atomically: if schedule `id` exists, is active (not paused, repeats ≠ 0)
   * and its nextRun equals `expectedNextRun` (to the millisecond), apply
   * `outcome` and return true; otherwise change nothing and return false.
   * With `{ delete: true }` the schedule is removed instead. A SQL store does
   * `UPDATE … WHERE id = ? AND next_run = ? AND NOT paused AND repeats <> 0`
   * and checks that one row changed. Also sets `updatedAt` to `outcome.lastRunAt`.
   */
  claimSchedule(id: string, expectedNextRun: Date, outcome: ClaimOutcome): Promise<boolean>;
  /**
   * Optional: {@link claimSchedule} and the enqueue of the slot's task in ONE transaction, so a crash between the
   * two can lose neither the slot nor the task. The store runs the claim in a transaction, then
   * `enqueue.broker.enqueue(enqueue.payload, { ...enqueue.options, transaction })` with that transaction, and
   * commits. Resolves null (having done nothing) when it cannot do this with that broker — e.g. the broker is on
   * another database — and the scheduler then claims and enqueues separately.
   */
  claimScheduleAndEnqueue?(
    id: string,
    expectedNextRun: Date,
    outcome: ClaimOutcome,
    enqueue: TransactionalEnqueue,
  ): Promise<boolean | null>;
}

/** What {@link ScheduleStore.claimScheduleAndEnqueue} enqueues inside its transaction. */
export interface TransactionalEnqueue {
  broker: Broker;
  payload: string;
  options: EnqueueOptions;
}

export const SCHEDULE_TYPES = [
  'Once',
  'Minutes',
  'Hourly',
  'Daily',
  'Weekly',
  'Biweekly',
  'Monthly',
  'Bimonthly',
  'Quarterly',
  'Yearly',
  'Cron',
] as const;

export type ScheduleType = (typeof SCHEDULE_TYPES)[number];

/** Task options a schedule passes to each task it creates (a subset of the package's options). */
export type ScheduleTaskOptions = Pick<
  LinkOptions,
  'hook' | 'group' | 'timeout' | 'save' | 'ackFailure' | 'maxAttempts' | 'cached' | 'taskName' | 'retry' | 'priority'
>;

/** A stored schedule. Times are absolute instants; wall-clock rules use `timezone`. */
export interface Schedule {
  /** 32 lowercase hex characters. */
  id: string;
  /** Unique when set; also the default group of the tasks it creates. */
  name: string | null;
  /** The task name (an exported function of a task module). */
  func: string;
  /** The task's arguments: an array serialized with the cluster's serializer (JSON text by default). */
  args: string;
  /** Plain JSON data; `group` defaults to the schedule's name or id. */
  taskOptions: ScheduleTaskOptions;
  type: ScheduleType;
  /** Interval of a Minutes schedule; null for every other type. */
  minutes: number | null;
  /** 5- or 6-field cron expression of a Cron schedule; null for every other type. */
  cron: string | null;
  /** -1 forever, 0 paused/finished, n more runs. */
  repeats: number;
  /** The next slot: when the schedule is due. */
  nextRun: Date;
  /**
   * The first slot of the series. Calendar types count from it (day of month,
   * wall-clock time), so Jan 31 monthly gives Feb 28 then Mar 31, and a time
   * moved by a DST gap returns the next day. Reset when nextRun/type/interval/timezone change.
   */
  anchorAt: Date;
  /** IANA time zone whose wall clock Daily…Yearly and Cron follow. */
  timezone: string;
  /** Only the cluster with this name runs it (and its tasks go to that queue); null = any cluster. */
  cluster: string | null;
  /** When set, the slot time (ISO string) is passed to the task under this key (see docs/scheduling.md). */
  intendedDateArg: string | null;
  /** Run every missed slot (true) or run once and skip ahead (false); null = the cluster's `catchUp`. */
  catchUp: boolean | null;
  /** A paused schedule keeps its repeats and is not due until resumed. */
  paused: boolean;
  /** The id of the last task this schedule created (for its result and success). */
  lastTaskId: string | null;
  lastRunAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

/** The fields `updateSchedule` may set. */
export type SchedulePatch = Partial<Omit<Schedule, 'id' | 'createdAt'>>;

export interface ScheduleQuery {
  func?: string;
  type?: ScheduleType;
  /** A name, or null for schedules any cluster may run. */
  cluster?: string | null;
  paused?: boolean;
  /** Default 100. */
  limit?: number;
  offset?: number;
}

/** What a successful claim writes: the slot's run is recorded and the schedule moves on (or is deleted). */
export type ClaimOutcome = { nextRun: Date; repeats: number; lastTaskId: string; lastRunAt: Date } | { delete: true };

export function isDeleteOutcome(outcome: ClaimOutcome): outcome is { delete: true } {
  return 'delete' in outcome && outcome.delete === true;
}

const METHODS = [
  'createSchedule',
  'getSchedule',
  'listSchedules',
  'updateSchedule',
  'deleteSchedule',
  'nextScheduleDueAt',
  'listDueSchedules',
  'claimSchedule',
] as const;

/** True when `value` implements every ScheduleStore method (a result store may or may not). */
export function isScheduleStore(value: unknown): value is ScheduleStore {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Record<string, unknown>;
  return METHODS.every((method) => typeof candidate[method] === 'function');
}
