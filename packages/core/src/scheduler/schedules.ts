import { ErrorCodes, TaskqError } from '../errors.js';
import type { Serializer } from '../serialize/serializer.js';
import { taggedJson } from '../serialize/tagged-json.js';
import { newTaskId } from '../task/ids.js';
import { slotAtOrAfter, type SlotRule } from './next-run.js';
import type { ScheduledEnqueue, ScheduledTaskOptions } from './scheduler.js';
import type {
  Schedule,
  SchedulePatch,
  ScheduleQuery,
  ScheduleStore,
  ScheduleTaskOptions,
  ScheduleType,
} from '../store/schedule-store.js';
import { applyIntendedDate, decodeArgs } from './task-args.js';
import { parseScheduleType, validateSchedule } from './validate.js';
import { fromWallTime, isValidTimeZone, toWallTime } from './zoned-time.js';
import { didYouMean } from '../util/closest.js';

/**
 * The schedule API the Taskq client exposes (`q.schedule(...)`, `q.schedules.*`),
 * written against any ScheduleStore. These functions validate, fill defaults and
 * compute nextRun; the store only persists.
 */
export interface ScheduleInput {
  /** The task name. */
  func: string;
  args?: unknown[];
  /** Default 'Once'. Case-insensitive. */
  type?: ScheduleType | Lowercase<ScheduleType>;
  /** Required for Minutes. */
  minutes?: number | null;
  /** Required for Cron: 5 fields, or 6 with seconds first. */
  cron?: string | null;
  /** -1 forever (default), 0 paused, n runs. */
  repeats?: number;
  /**
   * First run. Default: now; for Cron the first match at or after it (or now). A string
   * without an offset ("2026-11-30T09:00:00") is a wall-clock time in `timezone`.
   */
  nextRun?: Date | string | number | null;
  /** Unique; the default group of the schedule's tasks. */
  name?: string | null;
  hook?: string | null;
  group?: string | null;
  taskOptions?: ScheduleTaskOptions;
  /** Only this cluster runs it and its tasks go to that queue; default any cluster. */
  cluster?: string | null;
  /** IANA zone for wall-clock rules. Default: the cluster's `timezone` option. */
  timezone?: string | null;
  /** Pass the slot time to the task under this key (see docs/scheduling.md). */
  intendedDateArg?: string | null;
  /** Null: the cluster's `catchUp`. */
  catchUp?: boolean | null;
  paused?: boolean;
}

export type ScheduleChanges = Partial<ScheduleInput>;

export interface ScheduleApiOptions {
  /** Serializer for args; must match the cluster's. Default tagged JSON. */
  serializer?: Serializer;
  /** Default time zone for new schedules (the config's `timezone`). Default 'UTC'. */
  timezone?: string;
  /** The task names of the configured task modules, where known: `func` and `hook` must be one of them. */
  taskNames?: readonly string[] | null;
  now?: () => number;
}

const INPUT_KEYS = new Set<string>([
  'func',
  'args',
  'type',
  'minutes',
  'cron',
  'repeats',
  'nextRun',
  'name',
  'hook',
  'group',
  'taskOptions',
  'cluster',
  'timezone',
  'intendedDateArg',
  'catchUp',
  'paused',
]);

function invalid(message: string): TaskqError {
  return new TaskqError(ErrorCodes.SCHEDULE_INVALID, `Invalid schedule: ${message}.`);
}

function checkKeys(input: object): void {
  const unknown = Object.keys(input).filter((key) => !INPUT_KEYS.has(key));
  if (unknown.length > 0) {
    const named = unknown.map((k) => `\`${k}\`${didYouMean(k, INPUT_KEYS, '`')}`);
    throw invalid(`unknown option(s) ${named.join(', ')}; the options are ${[...INPUT_KEYS].join(', ')}`);
  }
}

/** An ISO date or date-time with no offset ("2026-11-30T09:00:00"): a wall-clock time. */
const WALL_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3})\d*)?)?)?$/;

/**
 * A Date or epoch ms is an instant. A string with an offset ("…Z", "…+01:00")
 * is that instant; one without is a wall-clock time in the schedule's zone,
 * never in the host's (`new Date()` would read it in the process's TZ).
 */
export function toScheduleDate(value: Date | string | number, timezone: string): Date {
  if (value instanceof Date) return new Date(value.getTime());
  const wall = typeof value === 'string' ? WALL_TIME.exec(value.trim()) : null;
  if (wall === null) return new Date(value);
  const [, year, month, day, hour, minute, second, fraction] = wall;
  const fields = {
    year: Number(year),
    month: Number(month),
    day: Number(day),
    hour: Number(hour ?? 0),
    minute: Number(minute ?? 0),
    second: Number(second ?? 0),
    millisecond: Number((fraction ?? '0').padEnd(3, '0')),
  };
  // An unknown zone is reported by validateSchedule; read the time as UTC so that is the only problem named.
  const zone = isValidTimeZone(timezone) ? timezone : 'UTC';
  const instant = fromWallTime(fields, zone);
  const back = toWallTime(instant, zone);
  // Out-of-range fields (month 13, Feb 30, 25:00) are an invalid date, not a silent roll-over.
  const rolled = back.year !== fields.year || back.month !== fields.month || back.day !== fields.day;
  return rolled || fields.hour > 23 || fields.minute > 59 || fields.second > 59
    ? new Date(Number.NaN)
    : new Date(instant);
}

/** A typo in `func` or `hook` would only show when the schedule fires: name the closest task now. */
function checkTaskNames(
  schedule: { func: string; taskOptions: ScheduleTaskOptions },
  taskNames: readonly string[] | null | undefined,
): void {
  if (!taskNames || taskNames.length === 0) return;
  const problems: string[] = [];
  for (const [field, name] of [
    ['func', schedule.func],
    ['hook', schedule.taskOptions.hook],
  ] as const) {
    if (name === undefined || taskNames.includes(name)) continue;
    problems.push(
      `\`${field}\` "${name}" is not a task of the configured task modules${didYouMean(name, taskNames)}; ` +
        `the tasks are ${taskNames.slice(0, 20).join(', ')}`,
    );
  }
  if (problems.length > 0) throw invalid(problems.join('; '));
}

function serializeArgs(args: unknown, serializer: Serializer): string {
  if (!Array.isArray(args)) throw invalid('`args` must be an array of task arguments');
  return serializer.serialize(args);
}

function mergeTaskOptions(base: ScheduleTaskOptions, input: ScheduleChanges): ScheduleTaskOptions {
  const out: Record<string, unknown> = { ...base, ...(input.taskOptions ?? {}) };
  for (const key of ['hook', 'group'] as const) {
    if (input[key] !== undefined) out[key] = input[key];
  }
  for (const [key, value] of Object.entries(out)) if (value === undefined || value === null) delete out[key];
  // A null timeout is meaningful ("no timeout"), keep it when given explicitly.
  if (input.taskOptions && 'timeout' in input.taskOptions && input.taskOptions.timeout === null) out['timeout'] = null;
  return out as ScheduleTaskOptions;
}

/** The first slot for the rule: Cron moves to its first match at or after `from`. */
function firstRun(rule: SlotRule, from: Date): Date {
  if (rule.type !== 'Cron' || Number.isNaN(from.getTime())) return from;
  return slotAtOrAfter(rule, from) ?? from;
}

async function mustGet(store: ScheduleStore, idOrName: string): Promise<Schedule> {
  if (typeof idOrName !== 'string' || idOrName === '') {
    throw new TaskqError(ErrorCodes.INVALID_ARGUMENT, 'A schedule id or name (a non-empty string) is required.');
  }
  const schedule = await store.getSchedule(idOrName);
  if (!schedule) throw new TaskqError(ErrorCodes.SCHEDULE_NOT_FOUND, `No schedule with id or name "${idOrName}".`);
  return schedule;
}

export async function createSchedule(
  store: ScheduleStore,
  input: ScheduleInput,
  options: ScheduleApiOptions = {},
): Promise<Schedule> {
  if (typeof input !== 'object' || input === null) throw invalid('pass an object with at least `func`');
  checkKeys(input);
  const now = new Date((options.now ?? Date.now)());
  const type = parseScheduleType(input.type ?? 'Once');
  const timezone = input.timezone ?? options.timezone ?? 'UTC';
  const draft = {
    id: newTaskId(),
    name: input.name ?? null,
    func: input.func,
    args: '[]',
    taskOptions: mergeTaskOptions({}, input),
    type,
    minutes: input.minutes ?? null,
    cron: input.cron ?? null,
    repeats: input.repeats ?? -1,
    nextRun: input.nextRun === undefined || input.nextRun === null ? now : toScheduleDate(input.nextRun, timezone),
    timezone,
    cluster: input.cluster ?? null,
    intendedDateArg: input.intendedDateArg ?? null,
    catchUp: input.catchUp ?? null,
    paused: input.paused ?? false,
  };
  validateSchedule(draft);
  checkTaskNames(draft, options.taskNames);
  const nextRun = firstRun({ ...draft, anchorAt: draft.nextRun }, draft.nextRun);
  const schedule: Schedule = {
    ...draft,
    args: serializeArgs(input.args ?? [], options.serializer ?? taggedJson),
    nextRun,
    anchorAt: nextRun,
    lastTaskId: null,
    lastRunAt: null,
    createdAt: now,
    updatedAt: now,
  };
  return store.createSchedule(schedule);
}

export function getSchedule(store: ScheduleStore, idOrName: string): Promise<Schedule | null> {
  return store.getSchedule(idOrName);
}

export function listSchedules(
  store: ScheduleStore,
  query: ScheduleQuery = {},
): Promise<{ schedules: Schedule[]; total: number }> {
  return store.listSchedules(query);
}

/**
 * Change a schedule. Changing type, minutes, cron, timezone or nextRun starts
 * a new series at the (new or current) nextRun; for Cron, at the first match at
 * or after the given nextRun, or after now. Changing the type clears a
 * minutes/cron value that does not apply to the new type.
 */
export async function updateSchedule(
  store: ScheduleStore,
  idOrName: string,
  changes: ScheduleChanges,
  options: ScheduleApiOptions = {},
): Promise<Schedule> {
  checkKeys(changes);
  const existing = await mustGet(store, idOrName);
  const now = new Date((options.now ?? Date.now)());
  const type = changes.type !== undefined ? parseScheduleType(changes.type) : existing.type;
  const typeChanged = type !== existing.type;
  const merged = {
    name: changes.name !== undefined ? changes.name : existing.name,
    func: changes.func ?? existing.func,
    taskOptions: mergeTaskOptions(existing.taskOptions, changes),
    type,
    minutes:
      changes.minutes !== undefined ? changes.minutes : typeChanged && type !== 'Minutes' ? null : existing.minutes,
    cron: changes.cron !== undefined ? changes.cron : typeChanged && type !== 'Cron' ? null : existing.cron,
    repeats: changes.repeats ?? existing.repeats,
    nextRun:
      changes.nextRun !== undefined && changes.nextRun !== null
        ? toScheduleDate(changes.nextRun, changes.timezone ?? existing.timezone)
        : existing.nextRun,
    timezone: changes.timezone ?? existing.timezone,
    cluster: changes.cluster !== undefined ? changes.cluster : existing.cluster,
    intendedDateArg: changes.intendedDateArg !== undefined ? changes.intendedDateArg : existing.intendedDateArg,
    catchUp: changes.catchUp !== undefined ? changes.catchUp : existing.catchUp,
    paused: changes.paused ?? existing.paused,
  };
  validateSchedule(merged);
  checkTaskNames(merged, options.taskNames);
  const patch: SchedulePatch = { ...merged, updatedAt: now };
  if (changes.args !== undefined) patch.args = serializeArgs(changes.args, options.serializer ?? taggedJson);
  const seriesChanged =
    typeChanged ||
    merged.minutes !== existing.minutes ||
    merged.cron !== existing.cron ||
    merged.timezone !== existing.timezone ||
    merged.nextRun.getTime() !== existing.nextRun.getTime();
  if (seriesChanged) {
    const from = merged.type === 'Cron' && changes.nextRun == null ? now : merged.nextRun;
    const nextRun = firstRun({ ...merged, anchorAt: from }, from);
    patch.nextRun = nextRun;
    patch.anchorAt = nextRun;
  }
  const updated = await store.updateSchedule(existing.id, patch);
  if (!updated) throw new TaskqError(ErrorCodes.SCHEDULE_NOT_FOUND, `No schedule with id or name "${idOrName}".`);
  return updated;
}

/** Stop a schedule from running; its repeats and series are kept. */
export async function pauseSchedule(
  store: ScheduleStore,
  idOrName: string,
  options: ScheduleApiOptions = {},
): Promise<Schedule> {
  const existing = await mustGet(store, idOrName);
  const now = new Date((options.now ?? Date.now)());
  const updated = await store.updateSchedule(existing.id, { paused: true, updatedAt: now });
  if (!updated) throw new TaskqError(ErrorCodes.SCHEDULE_NOT_FOUND, `No schedule with id or name "${idOrName}".`);
  return updated;
}

/**
 * Let a paused (or finished) schedule run again. Slots missed while paused are
 * skipped: a recurring schedule resumes at its first slot at or after now. A
 * finished schedule (repeats 0) needs `repeats`.
 */
export async function resumeSchedule(
  store: ScheduleStore,
  idOrName: string,
  resume: { repeats?: number } = {},
  options: ScheduleApiOptions = {},
): Promise<Schedule> {
  const existing = await mustGet(store, idOrName);
  const now = new Date((options.now ?? Date.now)());
  const repeats = resume.repeats ?? existing.repeats;
  if (repeats === 0) {
    throw invalid(
      `schedule "${existing.name ?? existing.id}" has no runs left (repeats 0); resume it with { repeats: n } or -1 for forever`,
    );
  }
  validateSchedule({ ...existing, repeats });
  const patch: SchedulePatch = { paused: false, repeats, updatedAt: now };
  if (existing.type !== 'Once' && existing.nextRun < now) {
    patch.nextRun = slotAtOrAfter(existing, now) ?? existing.nextRun;
  }
  const updated = await store.updateSchedule(existing.id, patch);
  if (!updated) throw new TaskqError(ErrorCodes.SCHEDULE_NOT_FOUND, `No schedule with id or name "${idOrName}".`);
  return updated;
}

export async function deleteSchedule(store: ScheduleStore, idOrName: string): Promise<boolean> {
  const existing = await store.getSchedule(idOrName);
  return existing ? store.deleteSchedule(existing.id) : false;
}

/**
 * Create one task from the schedule now, outside its series: nextRun and
 * repeats do not change (it works on paused schedules too). Records the task
 * as the schedule's last run and returns its id.
 */
export async function runScheduleNow(
  store: ScheduleStore,
  idOrName: string,
  enqueue: ScheduledEnqueue,
  options: ScheduleApiOptions = {},
): Promise<string> {
  const s = await mustGet(store, idOrName);
  const now = new Date((options.now ?? Date.now)());
  const args = applyIntendedDate(decodeArgs(s.args, options.serializer ?? taggedJson), s.intendedDateArg, now);
  const taskOptions: ScheduledTaskOptions = {
    ...s.taskOptions,
    id: newTaskId(),
    group: s.taskOptions.group ?? s.name ?? s.id,
    ...(s.cluster !== null ? { cluster: s.cluster } : {}),
  };
  const taskId = await enqueue(s.func, args, taskOptions);
  await store.updateSchedule(s.id, { lastTaskId: taskId, lastRunAt: now, updatedAt: now });
  return taskId;
}

/** A schedule's arguments, decoded (for display). */
export function scheduleArgs(schedule: Schedule, serializer: Serializer = taggedJson): unknown[] {
  return decodeArgs(schedule.args, serializer);
}
