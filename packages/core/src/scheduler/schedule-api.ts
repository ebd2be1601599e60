import type { Serializer } from '../serialize/serializer.js';
import type { ScheduledEnqueue } from './scheduler.js';
import type { Schedule, ScheduleQuery, ScheduleStore } from '../store/schedule-store.js';
import {
  createSchedule,
  deleteSchedule,
  getSchedule,
  listSchedules,
  pauseSchedule,
  resumeSchedule,
  runScheduleNow,
  scheduleArgs,
  updateSchedule,
  type ScheduleChanges,
  type ScheduleInput,
} from './schedules.js';

/** What the bound API needs, resolved lazily (the client connects on first use). */
export interface ScheduleApiContext {
  store: ScheduleStore;
  serializer: Serializer;
  /** Default time zone of new schedules (the config's `timezone`). */
  timezone: string;
  /** Names of the configured tasks where this process knows them (checks `func` and `hook`). */
  taskNames?: readonly string[] | null;
  /** Used by `runNow`. */
  enqueue: ScheduledEnqueue;
  /** Called after a change, e.g. to wake a scheduler in this process. */
  onChange?: () => void;
  now?: () => number;
}

/** `q.schedules`: the schedule functions bound to a client's store, serializer and time zone. */
export interface ScheduleApi {
  create(input: ScheduleInput): Promise<Schedule>;
  get(idOrName: string): Promise<Schedule | null>;
  list(query?: ScheduleQuery): Promise<{ schedules: Schedule[]; total: number }>;
  update(idOrName: string, changes: ScheduleChanges): Promise<Schedule>;
  pause(idOrName: string): Promise<Schedule>;
  resume(idOrName: string, options?: { repeats?: number }): Promise<Schedule>;
  delete(idOrName: string): Promise<boolean>;
  /** One extra task now; returns its id. */
  runNow(idOrName: string): Promise<string>;
  /** A schedule's arguments, decoded. */
  args(schedule: Schedule): Promise<unknown[]>;
}

export function bindScheduleApi(context: () => Promise<ScheduleApiContext>): ScheduleApi {
  const changed = async <T>(run: (ctx: ScheduleApiContext) => Promise<T>): Promise<T> => {
    const ctx = await context();
    const result = await run(ctx);
    ctx.onChange?.();
    return result;
  };
  const opts = (ctx: ScheduleApiContext) => ({
    serializer: ctx.serializer,
    timezone: ctx.timezone,
    taskNames: ctx.taskNames ?? null,
    ...(ctx.now ? { now: ctx.now } : {}),
  });
  return {
    create: (input) => changed((ctx) => createSchedule(ctx.store, input, opts(ctx))),
    get: async (idOrName) => getSchedule((await context()).store, idOrName),
    list: async (query) => listSchedules((await context()).store, query),
    update: (idOrName, changes) => changed((ctx) => updateSchedule(ctx.store, idOrName, changes, opts(ctx))),
    pause: (idOrName) => changed((ctx) => pauseSchedule(ctx.store, idOrName, opts(ctx))),
    resume: (idOrName, options = {}) => changed((ctx) => resumeSchedule(ctx.store, idOrName, options, opts(ctx))),
    delete: (idOrName) => changed((ctx) => deleteSchedule(ctx.store, idOrName)),
    runNow: async (idOrName) => {
      const ctx = await context();
      return runScheduleNow(ctx.store, idOrName, ctx.enqueue, opts(ctx));
    },
    args: async (schedule) => scheduleArgs(schedule, (await context()).serializer),
  };
}
