import { ErrorCodes, TaskqError, toErrorInfo } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Serializer } from '../serialize/serializer.js';
import { taggedJson } from '../serialize/tagged-json.js';
import { newTaskId } from '../task/ids.js';
import { applyIntendedDate, decodeArgs } from './task-args.js';
import { nextRunAfter } from './next-run.js';
import type { ClaimOutcome, Schedule, ScheduleStore, ScheduleTaskOptions } from '../store/schedule-store.js';

/** Options the scheduler passes with each task: the schedule's task options plus a pre-generated id. */
export interface ScheduledTaskOptions extends ScheduleTaskOptions {
  /** The task id, generated before the claim and stored as the schedule's lastTaskId. */
  id: string;
  /** The schedule's taskOptions.group, else its name, else its id. */
  group: string;
  /** The schedule's cluster (queue), when it names one. */
  cluster?: string;
}

/** Puts one task on the broker; must use `options.id` as the task id and resolve to it. */
export type ScheduledEnqueue = (func: string, args: unknown[], options: ScheduledTaskOptions) => Promise<string>;

/**
 * Claims a slot and enqueues its task in one transaction (see ScheduleStore.claimScheduleAndEnqueue): true when
 * both happened, false when another scheduler had the slot, null when the parts cannot do it atomically.
 */
export type ScheduledClaimAndEnqueue = (
  schedule: Schedule,
  outcome: ClaimOutcome,
  args: unknown[],
  options: ScheduledTaskOptions,
) => Promise<boolean | null>;

export interface SchedulerOptions {
  store: ScheduleStore;
  /** This cluster's name: it runs schedules whose cluster is null or this name. */
  cluster: string;
  enqueue: ScheduledEnqueue;
  /** Where store and broker share a database: claim and enqueue in one transaction (tried before `enqueue`). */
  claimAndEnqueue?: ScheduledClaimAndEnqueue;
  logger?: Logger;
  /** Default for schedules whose catchUp is null (Django Q's CATCH_UP, default true). */
  catchUp?: boolean;
  serializer?: Serializer;
  /** Clock in ms since the epoch (tests inject one). */
  now?: () => number;
  /** Longest sleep between looks at the store, so schedules changed by other processes are seen. Default 1000. */
  maxSleepMs?: number;
  /** Schedules claimed per pass. Default 100. */
  batchSize?: number;
  /** Pause after a pass that hit a store or broker error. Default 1000. */
  errorBackoffMs?: number;
  /** Delays between enqueue attempts for a claimed slot. Default [250, 1000]. */
  enqueueRetryDelaysMs?: readonly number[];
}

export interface PassResult {
  /** Tasks created. */
  enqueued: number;
  /** Slots another scheduler claimed first. */
  lost: number;
  errors: number;
  /** The batch was full: more may be due. */
  more: boolean;
}

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * The scheduler loop the sentinel hosts. Each pass lists due schedules and,
 * for each, claims the slot in the store (compare-and-set on nextRun) BEFORE
 * enqueuing, with the task id generated up front: only the process whose claim
 * wins creates the task, so each slot gives one task across any number of
 * clusters. Between passes it sleeps until the next due time (at most
 * `maxSleepMs`) or until {@link wake} is called.
 */
export class Scheduler {
  readonly #store: ScheduleStore;
  readonly #cluster: string;
  readonly #enqueue: ScheduledEnqueue;
  readonly #claimAndEnqueue: ScheduledClaimAndEnqueue | undefined;
  readonly #log: Logger;
  readonly #catchUp: boolean;
  readonly #serializer: Serializer;
  readonly #now: () => number;
  readonly #maxSleepMs: number;
  readonly #batchSize: number;
  readonly #errorBackoffMs: number;
  readonly #retryDelays: readonly number[];
  #running = false;
  #loop: Promise<void> | undefined;
  #woken = false;
  #wakeSleeper: (() => void) | undefined;
  #pass: Promise<PassResult> | undefined;

  constructor(options: SchedulerOptions) {
    this.#store = options.store;
    this.#cluster = options.cluster;
    this.#enqueue = options.enqueue;
    this.#claimAndEnqueue = options.claimAndEnqueue;
    this.#log = options.logger ?? silent;
    this.#catchUp = options.catchUp ?? true;
    this.#serializer = options.serializer ?? taggedJson;
    this.#now = options.now ?? Date.now;
    this.#maxSleepMs = options.maxSleepMs ?? 1000;
    this.#batchSize = options.batchSize ?? 100;
    this.#errorBackoffMs = options.errorBackoffMs ?? 1000;
    this.#retryDelays = options.enqueueRetryDelaysMs ?? [250, 1000];
  }

  get running(): boolean {
    return this.#running;
  }

  /** Starts the loop; the first pass runs at once (due schedules start right after start-up). */
  async start(): Promise<void> {
    if (this.#running) throw new TaskqError(ErrorCodes.CLUSTER_STATE, 'The scheduler is already running.');
    this.#running = true;
    this.#woken = false;
    this.#loop = this.#run();
  }

  /** Stops the loop and waits for a pass in progress (its claimed slots are still enqueued). */
  async stop(): Promise<void> {
    if (!this.#loop) return;
    this.#running = false;
    this.wake();
    const loop = this.#loop;
    this.#loop = undefined;
    await loop.catch((error: unknown) => {
      this.#log.error('scheduler loop ended with an error', { error: toErrorInfo(error).message });
    });
  }

  /** Runs until `signal` aborts, then stops (the shape of a sentinel-supervised cluster part). */
  async run(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    await this.start();
    const aborted = new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    // Also return if the loop itself ended, so the sentinel sees the part die and restarts it.
    await Promise.race([aborted, this.#loop]);
    await this.stop();
  }

  /** Look at the store now (call after creating, changing or resuming a schedule). */
  wake(): void {
    this.#woken = true;
    this.#wakeSleeper?.();
  }

  /** One pass over the due schedules. Passes never overlap; the loop calls this, tests may too. */
  async runDue(): Promise<PassResult> {
    while (this.#pass) await this.#pass.catch(() => undefined);
    const pass = this.#runPass();
    this.#pass = pass;
    try {
      return await pass;
    } finally {
      this.#pass = undefined;
    }
  }

  async #run(): Promise<void> {
    try {
      await this.#loopBody();
    } finally {
      this.#running = false;
    }
  }

  async #loopBody(): Promise<void> {
    while (this.#running) {
      this.#woken = false;
      let result: PassResult;
      try {
        result = await this.runDue();
      } catch (error) {
        this.#log.error('scheduler pass failed', { error: toErrorInfo(error).message });
        result = { enqueued: 0, lost: 0, errors: 1, more: false };
      }
      if (!this.#running) break;
      if (result.errors > 0) await this.#sleep(this.#errorBackoffMs);
      else if (result.more) await new Promise<void>((resolve) => setImmediate(resolve));
      else await this.#sleep(await this.#msUntilDue(result.enqueued + result.lost > 0));
    }
  }

  async #msUntilDue(madeProgress: boolean): Promise<number> {
    try {
      const next = await this.#store.nextScheduleDueAt(this.#cluster);
      if (next === null) return this.#maxSleepMs;
      const wait = Math.min(this.#maxSleepMs, Math.max(0, next.getTime() - this.#now()));
      // Something is due but the pass found nothing to do (clock skew between listing and now): don't spin.
      return wait === 0 && !madeProgress ? 10 : wait;
    } catch (error) {
      this.#log.error('scheduler could not read the next due time', { error: toErrorInfo(error).message });
      return this.#errorBackoffMs;
    }
  }

  #sleep(ms: number): Promise<void> {
    if (this.#woken || !this.#running) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wakeSleeper = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wakeSleeper = done;
    });
  }

  async #runPass(): Promise<PassResult> {
    const now = new Date(this.#now());
    const due = await this.#store.listDueSchedules(now, this.#cluster, this.#batchSize);
    const result: PassResult = { enqueued: 0, lost: 0, errors: 0, more: due.length >= this.#batchSize };
    for (const schedule of due) {
      const outcome = await this.#fire(schedule, now);
      result[outcome]++;
    }
    return result;
  }

  async #fire(s: Schedule, now: Date): Promise<'enqueued' | 'lost' | 'errors'> {
    const label = s.name ?? s.id;
    let args: unknown[];
    try {
      args = applyIntendedDate(decodeArgs(s.args, this.#serializer), s.intendedDateArg, s.nextRun);
    } catch (error) {
      // Permanent: pause it rather than fail on every pass.
      this.#log.error('schedule has undecodable args; pausing it', {
        schedule: label,
        error: toErrorInfo(error).message,
      });
      await this.#store.updateSchedule(s.id, { paused: true, updatedAt: now });
      return 'errors';
    }

    const taskId = newTaskId();
    let outcome: ClaimOutcome;
    try {
      outcome = this.#outcome(s, now, taskId);
    } catch (error) {
      this.#log.error('cannot compute the next run; pausing the schedule', {
        schedule: label,
        error: toErrorInfo(error).message,
      });
      await this.#store.updateSchedule(s.id, { paused: true, updatedAt: now });
      return 'errors';
    }
    const options: ScheduledTaskOptions = {
      ...s.taskOptions,
      id: taskId,
      group: s.taskOptions.group ?? label,
      ...(s.cluster !== null ? { cluster: s.cluster } : {}),
    };
    const lost = () => {
      this.#log.debug('schedule slot claimed by another scheduler', { schedule: label, slot: s.nextRun.toISOString() });
      return 'lost' as const;
    };
    // One transaction where the parts allow it: a crash can then lose neither the slot nor its task. A failure
    // rolls the claim back, so the slot is simply tried again on the next pass.
    const atomic = this.#claimAndEnqueue ? await this.#claimAndEnqueue(s, outcome, args, options) : null;
    if (atomic === false) return lost();
    if (atomic === true) {
      this.#log.info('created a task from schedule', { schedule: label, task: taskId, slot: s.nextRun.toISOString() });
      return 'enqueued';
    }
    if (!(await this.#store.claimSchedule(s.id, s.nextRun, outcome))) return lost();

    for (let attempt = 0; ; attempt++) {
      try {
        await this.#enqueue(s.func, args, options);
        this.#log.info('created a task from schedule', {
          schedule: label,
          task: taskId,
          slot: s.nextRun.toISOString(),
        });
        return 'enqueued';
      } catch (error) {
        const delay = this.#retryDelays[attempt];
        if (delay === undefined) {
          // The slot is claimed, so it is not retried: at most once, never twice.
          this.#log.error('could not enqueue the task of a claimed schedule slot; the slot is skipped', {
            schedule: label,
            task: taskId,
            slot: s.nextRun.toISOString(),
            error: toErrorInfo(error).message,
          });
          return 'errors';
        }
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  #outcome(s: Schedule, now: Date, taskId: string): ClaimOutcome {
    if (s.type === 'Once') {
      // Django Q: a Once with negative repeats is deleted after its run; otherwise it stays, finished.
      if (s.repeats < 0) return { delete: true };
      return { nextRun: s.nextRun, repeats: 0, lastTaskId: taskId, lastRunAt: now };
    }
    const next = nextRunAfter(s, s.nextRun, now, s.catchUp ?? this.#catchUp);
    // -1 means forever and stays -1 (Django Q 1.3 kept counting down: -2, -3, …).
    const repeats = s.repeats < 0 ? -1 : s.repeats - 1;
    if (next === null) return { nextRun: s.nextRun, repeats: 0, lastTaskId: taskId, lastRunAt: now };
    return { nextRun: next, repeats, lastTaskId: taskId, lastRunAt: now };
  }
}
