import type { RedisClient } from './options.js';
import {
  ErrorCodes,
  TaskqError,
  isDeleteOutcome,
  type ClaimOutcome,
  type Schedule,
  type SchedulePatch,
  type ScheduleQuery,
} from '@taskq/core';
import { defineScripts, runScript } from './scripts.js';

const SCRIPTS = [
  'create-schedule',
  'get-schedule',
  'list-schedules',
  'update-schedule',
  'delete-schedule',
  'next-schedule-due',
  'list-due-schedules',
  'claim-schedule',
];

/** A schedule as the Lua scripts keep it: scalars only (times in ms, task options as JSON text). */
type StoredSchedule = Omit<
  Schedule,
  'taskOptions' | 'nextRun' | 'anchorAt' | 'lastRunAt' | 'createdAt' | 'updatedAt'
> & {
  taskOptions: string;
  nextRun: number;
  anchorAt: number;
  lastRunAt: number | null;
  createdAt: number;
  updatedAt: number;
};

const DATES = ['nextRun', 'anchorAt', 'lastRunAt', 'createdAt', 'updatedAt'] as const;

function encodeFields(fields: SchedulePatch): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    if (value instanceof Date) out[key] = value.getTime();
    else if (key === 'taskOptions') out[key] = JSON.stringify(value);
    else out[key] = value;
  }
  return out;
}

function decode(json: string): Schedule {
  const s = JSON.parse(json) as StoredSchedule;
  const dates = Object.fromEntries(
    DATES.map((key) => [key, s[key] === null ? null : new Date(Number(s[key]))]),
  ) as Pick<Schedule, (typeof DATES)[number]>;
  return {
    id: s.id,
    name: s.name,
    func: s.func,
    args: s.args,
    taskOptions: JSON.parse(s.taskOptions) as Schedule['taskOptions'],
    type: s.type,
    minutes: s.minutes,
    cron: s.cron,
    repeats: s.repeats,
    nextRun: dates.nextRun,
    anchorAt: dates.anchorAt,
    timezone: s.timezone,
    cluster: s.cluster,
    intendedDateArg: s.intendedDateArg,
    catchUp: s.catchUp,
    paused: s.paused,
    lastTaskId: s.lastTaskId,
    lastRunAt: dates.lastRunAt,
    createdAt: dates.createdAt,
    updatedAt: dates.updatedAt,
  };
}

/**
 * ScheduleStore operations over the keys `{<prefix>:schedules}:*` (see
 * scripts/includes-schedules.lua). Every operation is one Lua script, so a
 * claim is a compare-and-set on nextRun that exactly one caller wins, from any
 * number of clusters and hosts sharing the Redis and the prefix.
 */
export class RedisScheduleOps {
  readonly #keys: [string];

  constructor(
    private readonly redis: RedisClient,
    tag: string,
    private readonly call: <T>(fn: () => Promise<T>) => Promise<T>,
  ) {
    this.#keys = [tag];
    defineScripts(redis, SCRIPTS, 'includes-schedules');
  }

  #run<T>(script: string, args: ReadonlyArray<string | number>): Promise<T> {
    return this.call(() => runScript<T>(this.redis, script, this.#keys, args));
  }

  async create(schedule: Schedule): Promise<Schedule> {
    const reply = await this.#run<string>('create-schedule', [JSON.stringify(encodeFields(schedule))]);
    if (reply === 'DUP_ID') {
      throw new TaskqError(ErrorCodes.INVALID_ARGUMENT, `A schedule with id ${schedule.id} already exists.`);
    }
    if (reply === 'DUP_NAME') {
      throw new TaskqError(ErrorCodes.DUPLICATE_SCHEDULE, `A schedule named "${schedule.name}" already exists.`);
    }
    return decode(reply);
  }

  async get(idOrName: string): Promise<Schedule | null> {
    const json = await this.#run<string | null>('get-schedule', [idOrName]);
    return json ? decode(json) : null;
  }

  async list(query: ScheduleQuery): Promise<{ schedules: Schedule[]; total: number }> {
    const cluster = query.cluster === undefined ? '' : query.cluster === null ? '-' : `=${query.cluster}`;
    const [total, ...jsons] = await this.#run<[number, ...string[]]>('list-schedules', [
      query.func ?? '',
      query.type ?? '',
      cluster,
      query.paused === undefined ? '' : query.paused ? '1' : '0',
      query.offset ?? 0,
      query.limit ?? 100,
    ]);
    return { total: Number(total), schedules: jsons.map(decode) };
  }

  async update(id: string, patch: SchedulePatch): Promise<Schedule | null> {
    const reply = await this.#run<string | null>('update-schedule', [id, JSON.stringify(encodeFields(patch))]);
    if (reply === 'DUP_NAME') {
      throw new TaskqError(ErrorCodes.DUPLICATE_SCHEDULE, `A schedule named "${patch.name}" already exists.`);
    }
    return reply ? decode(reply) : null;
  }

  async delete(id: string): Promise<boolean> {
    return Number(await this.#run<number>('delete-schedule', [id])) === 1;
  }

  async nextDueAt(cluster: string): Promise<Date | null> {
    const ms = await this.#run<string | null>('next-schedule-due', [cluster]);
    return ms ? new Date(Number(ms)) : null;
  }

  async listDue(now: Date, cluster: string, limit: number): Promise<Schedule[]> {
    const jsons = await this.#run<string[]>('list-due-schedules', [now.getTime(), cluster, limit]);
    return jsons.map(decode);
  }

  async claim(id: string, expectedNextRun: Date, outcome: ClaimOutcome): Promise<boolean> {
    const args: Array<string | number> = [id, expectedNextRun.getTime()];
    if (isDeleteOutcome(outcome)) args.push('delete');
    else {
      args.push('run', outcome.nextRun.getTime(), outcome.repeats, outcome.lastTaskId, outcome.lastRunAt.getTime());
    }
    return Number(await this.#run<number>('claim-schedule', args)) === 1;
  }
}
