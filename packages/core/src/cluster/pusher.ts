import type { Delivery } from '../broker/broker.js';
import { toErrorInfo, type ErrorInfo } from '../errors.js';
import type { TaskMessage, TaskRecord } from '../task/task.js';
import type { TaskState } from '../store/result-store.js';
import { isFinalState } from './finisher.js';
import { createHash } from 'node:crypto';
import type { TaskHandOff } from './jobs.js';
import type { LeaseKeeper } from './lease-keeper.js';
import type { Monitor } from './monitor.js';
import type { PoolResult, WorkerPool } from './pool.js';
import type { Runtime } from './runtime.js';
import type { ControlView } from '../control/control-view.js';
import { controlKeys } from '../control/keys.js';
import type { ProgressKeeper } from '../control/progress-keeper.js';
import { stoppedOutcome, type StopReason } from '../control/stopped.js';
import type { TaskFinisher } from './finisher.js';

/** What the pusher needs of job control: the cancel/pause marks, progress reports, and the replay repairs. */
export interface PusherJobControl {
  view: ControlView;
  progress: ProgressKeeper;
  finisher: TaskFinisher;
}

/** Rejection records are failures with this func; only the newest MAX_REJECTION_RECORDS are kept. */
export const REJECTED_FUNC = '(rejected package)';
const REJECTED_NAME = 'rejected-package';
export const MAX_REJECTION_RECORDS = 1000;
const REJECTION_PRUNE_EVERY_MS = 5000;

interface Rejection {
  delivery: Delivery;
  error: ErrorInfo;
  /** The task id the package claims (unverified), when it can be read. */
  claimedId: string | null;
}

/** Deletes rejection records past the newest MAX_REJECTION_RECORDS (a forged flood must not grow the store). */
async function pruneRejections(runtime: Runtime): Promise<void> {
  for (;;) {
    const { records } = await runtime.store.list({ func: REJECTED_FUNC, offset: MAX_REJECTION_RECORDS, limit: 500 });
    if (records.length === 0) return;
    for (const record of records) await runtime.store.delete(record.id);
  }
}

/** How long one dequeue call may block; bounds how quickly an idle pusher notices a stop. */
const DEQUEUE_WAIT_MS = 1000;
const MAX_OUTAGE_BACKOFF_MS = 10_000;

/**
 * Pulls packages from the broker in bulk and hands them to the worker pool,
 * whose threads verify and unpack them. It stops pulling while `queueLimit` tasks are held
 * (back-pressure). A package that fails verification or decoding is failed at
 * the broker, recorded as a failed task, and never executed. A broker outage
 * pauses pulling with backoff; nothing is lost because nothing was taken.
 */
export class Pusher {
  #spaceWaiter: (() => void) | null = null;
  #executions = 0;
  /** The pulled batch being accepted (its replay check in flight), and how many deliveries it holds. */
  #acceptance: Promise<void> = Promise.resolve();
  #accepting = 0;
  readonly #rejections: Rejection[] = [];
  #rejecting: Promise<void> = Promise.resolve();
  rejected = 0;
  /** Packages acknowledged without running because their task had already finished. */
  replayed = 0;
  #pruneTimer: NodeJS.Timeout | null = null;
  #lastPrune = 0;
  /** When the current broker outage began (ms), or null while the broker answers. */
  outageSince: number | null = null;
  /** The queue is paused (a `ctl:pause:` mark): nothing is claimed until it is resumed. */
  paused = false;

  constructor(
    private readonly runtime: Runtime,
    private readonly pool: WorkerPool,
    private readonly monitor: Monitor,
    private readonly leases: LeaseKeeper,
    private readonly control: PusherJobControl,
  ) {}

  get capacity(): number {
    const { queueLimit, workers, concurrency } = this.runtime.config;
    return queueLimit + workers * concurrency - this.pool.size - this.monitor.size - this.#accepting;
  }

  async run(signal: AbortSignal): Promise<void> {
    try {
      await this.#pull(signal);
    } finally {
      // Whatever was pulled reaches the pool before the pusher stops.
      await this.#acceptance;
    }
  }

  async #pull(signal: AbortSignal): Promise<void> {
    const { broker, config, logger } = this.runtime;
    let backoffMs = 0;
    while (!signal.aborted) {
      if (this.control.view.isPaused(broker.queue)) {
        if (!this.paused) logger.info('queue paused: claiming nothing until it is resumed', { queue: broker.queue });
        this.paused = true;
        await this.control.view.nextRefresh(signal);
        continue;
      }
      if (this.paused) logger.info('queue resumed: claiming again', { queue: broker.queue });
      this.paused = false;
      if (this.capacity <= 0) {
        await this.#waitForSpace(signal);
        continue;
      }
      let deliveries: Delivery[];
      const max = Math.min(config.bulk, this.capacity);
      try {
        deliveries = await broker.dequeue({
          max,
          waitMs: DEQUEUE_WAIT_MS,
          signal,
        });
        if (this.outageSince !== null) {
          logger.info('broker reachable again; pulling resumes', {
            queue: broker.queue,
            outageSeconds: Math.round((Date.now() - this.outageSince) / 100) / 10,
          });
          this.outageSince = null;
        }
        backoffMs = 0;
      } catch (error) {
        if (signal.aborted || broker.closed) return;
        backoffMs = Math.min(Math.max(backoffMs * 2, 250), MAX_OUTAGE_BACKOFF_MS);
        // Once per outage, not once per retry: the end is logged when a dequeue answers again.
        if (this.outageSince === null) {
          this.outageSince = Date.now();
          logger.warn('broker unreachable; pulling paused until it answers (nothing is lost)', {
            queue: broker.queue,
            code: (error as { code?: string }).code,
            error: (error as Error).message,
          });
        }
        await sleep(backoffMs, signal);
        continue;
      }
      if (deliveries.length > 0) {
        await this.#acceptance;
        this.#acceptance = this.#accept(deliveries, Date.now());
        // Under load (a full batch) the next claim overlaps this batch's replay check, and batches still reach the
        // pool in order; a partial batch means the queue is drained: hand it over first, for the lowest pickup latency.
        if (deliveries.length < max) await this.#acceptance;
      }
    }
  }

  async #accept(deliveries: readonly Delivery[], deliveredAt: number): Promise<void> {
    this.#accepting += deliveries.length;
    try {
      await this.#acceptBatch(deliveries, deliveredAt);
    } finally {
      this.#accepting -= deliveries.length;
      // Replays and rejections never enter the pool: their space is free now.
      this.notifySpace();
    }
  }

  /** Called whenever a task finishes, to resume a pusher blocked on a full queue. */
  notifySpace(): void {
    const wake = this.#spaceWaiter;
    this.#spaceWaiter = null;
    wake?.();
  }

  /**
   * Hands a pulled batch to the pool. The worker threads verify and decode the packages; the main thread reads
   * only each package's claimed task id, for the replay check (one store lookup for the whole batch). Packages
   * whose id has a saved state (possible replays), whose id cannot be read, and every package while cancel marks
   * exist, are verified and decoded here first ({@link #inspect}).
   */
  async #acceptBatch(deliveries: readonly Delivery[], deliveredAt: number): Promise<void> {
    if (!this.pool.decodesPackages || this.control.view.hasCancels) {
      await this.#inspect(deliveries, deliveredAt);
      return;
    }
    const { codec } = this.runtime;
    const claimed = deliveries.map((delivery) => codec.peekTaskId(delivery.payload));
    const asked = claimed.filter((id): id is string => id !== null);
    const states = await this.#statesOf(asked);
    const inspect: Delivery[] = [];
    deliveries.forEach((delivery, i) => {
      const id = claimed[i] as string | null;
      if (id === null || states.has(id)) inspect.push(delivery);
      else this.#handOff(delivery, { key: `${id}:${++this.#executions}`, payload: delivery.payload }, deliveredAt);
    });
    if (inspect.length > 0) await this.#inspect(inspect, deliveredAt, { asked: new Set(asked), states });
  }

  /**
   * Verifies and decodes packages here, then: packages that fail are rejected together (one save, one
   * acknowledgement); packages whose task already has a final record are replays and are acknowledged without
   * running (one store lookup, for the ids `known` did not already ask about); cancelled and expired ones are saved
   * as such; the rest go to the pool.
   */
  async #inspect(
    deliveries: readonly Delivery[],
    deliveredAt: number,
    known: { asked: ReadonlySet<string>; states: Map<string, TaskState> } = { asked: new Set(), states: new Map() },
  ): Promise<void> {
    const { codec } = this.runtime;
    const accepted: { delivery: Delivery; message: TaskMessage }[] = [];
    const rejected: Rejection[] = [];
    for (const delivery of deliveries) {
      try {
        accepted.push({ delivery, message: codec.unpack(delivery.payload) });
      } catch (error) {
        rejected.push({ delivery, error: toErrorInfo(error), claimedId: codec.peekTaskId(delivery.payload) });
      }
    }
    const unasked = accepted.map((a) => a.message.id).filter((id) => !known.asked.has(id));
    const states = unasked.length === 0 ? known.states : new Map([...known.states, ...(await this.#statesOf(unasked))]);
    const replays: { delivery: Delivery; message: TaskMessage }[] = [];
    for (const item of accepted) {
      const { delivery, message } = item;
      const state = states.get(message.id);
      // `lost: true`: a saved failure may have been a lost thread's (which ackFailure does not end), so only a
      // success or used-up attempts make a redelivered package a replay.
      if (state !== undefined && isFinalState(this.runtime.config, message, state, true)) replays.push(item);
      else {
        const stop = this.#stopReason(message);
        if (stop === null)
          this.#handOff(delivery, { key: `${message.id}:${++this.#executions}`, message }, deliveredAt);
        else this.#stop(delivery, message, stop);
      }
    }
    if (replays.length > 0) await this.#dropReplays(replays);
    if (rejected.length > 0) await this.#reject(rejected);
  }

  /** Saved states for the replay check; when the store cannot answer, the batch runs (at-least-once still holds). */
  async #statesOf(ids: string[]): Promise<Map<string, TaskState>> {
    try {
      return await this.runtime.store.getStates(ids);
    } catch (error) {
      this.runtime.logger.debug('replay check skipped: the store did not answer', { error: (error as Error).message });
      return new Map();
    }
  }

  /** Expired (`expiresAt` passed) or cancelled (a mark names it): saved as such without running. */
  #stopReason(message: TaskMessage): StopReason | null {
    if (message.expiresAt !== undefined && Date.now() > message.expiresAt) return 'expired';
    const { view } = this.control;
    if (!view.hasCancels) return null;
    return view.isCancelled(message) ? 'cancelled' : null;
  }

  /** Finishes a task that must not run: its record is saved (cancelled/expired), its hook runs, it is acknowledged. */
  #stop(delivery: Delivery, message: TaskMessage, reason: StopReason): void {
    this.leases.hold(delivery.receipt);
    this.#emitStopped(message, reason);
    this.monitor.push({ message, receipt: delivery.receipt, outcome: stoppedOutcome(reason, message.expiresAt) });
  }

  #emitStopped(message: TaskMessage, reason: StopReason): void {
    this.runtime.events.emit('taskStopped', {
      taskId: message.id,
      name: message.name,
      func: message.func,
      reason,
      running: false,
    });
  }

  /** Gives a task to the pool; its lease is kept until its result is saved (or it goes back to the broker). */
  #handOff(
    delivery: Delivery,
    task: { key: string; payload?: string; message?: TaskMessage },
    deliveredAt: number,
  ): void {
    this.leases.hold(delivery.receipt);
    const item: TaskHandOff = { ...task, deliveries: delivery.deliveries ?? 1, deliveredAt };
    void this.pool
      .execute(item, (message) => this.#starting(message))
      .then((result) => {
        this.#settled(delivery, item.key, result);
        this.notifySpace();
      });
  }

  /** A verified task is about to start. */
  #starting(message: TaskMessage): void {
    // A `'queued'` dedup key holds only until the task starts: free it now (the finisher frees it too, if this fails).
    if (message.dedup?.mode === 'queued') this.#releaseDedup(message);
    this.runtime.events.emit('preExecute', message);
  }

  #settled(delivery: Delivery, key: string, result: PoolResult): void {
    switch (result.kind) {
      case 'aborted':
        // A hard stop: no result, no acknowledgement; the broker delivers it again.
        this.leases.release(delivery.receipt);
        return;
      case 'rejected':
        this.leases.release(delivery.receipt);
        this.#queueRejection({ delivery, error: result.error, claimedId: result.claimedId });
        return;
      case 'done': {
        const { message, outcome } = result;
        if (outcome.stopped === 'expired') this.#emitStopped(message, 'expired');
        // The thread's copy of progress and logs is complete: the live keeper drops what it still holds for this run.
        // Only executions that reported anything pay for this.
        if (outcome.meta !== undefined) this.control.progress.finished(key);
        this.monitor.push({ message, receipt: delivery.receipt, outcome, meta: outcome.meta });
      }
    }
  }

  /** Rejections found by the threads are recorded together, once per turn of the event loop. */
  #queueRejection(rejection: Rejection): void {
    this.#rejections.push(rejection);
    if (this.#rejections.length > 1) return;
    setImmediate(() => void this.#reject(this.#rejections.splice(0)));
  }

  #releaseDedup(message: TaskMessage): void {
    const dedup = message.dedup as { key: string };
    this.runtime.store.deleteValue(controlKeys.dedup(dedup.key), message.id).catch((error: unknown) =>
      this.runtime.logger.warn('could not release a dedup key at task start', {
        id: message.id,
        error: (error as Error).message,
      }),
    );
  }

  /**
   * A package of a task that already has its final record (pushed twice, or redelivered after a lost ack). Its
   * job-control steps (dedup release, fan-in count) run again first: the crash that lost the ack may have come
   * before them, and they are idempotent.
   */
  async #dropReplays(replays: { delivery: Delivery; message: TaskMessage }[]): Promise<void> {
    this.replayed += replays.length;
    this.runtime.logger.warn('acknowledged packages of tasks that already finished, without running them again', {
      packages: replays.length,
    });
    await Promise.all(replays.flatMap(({ message }) => this.control.finisher.jobControlFollowUps(message, true)));
    try {
      await this.runtime.broker.acknowledgeMany(replays.map((r) => r.delivery.receipt));
    } catch (error) {
      // Delivered again later and dropped again: nothing runs twice.
      this.runtime.logger.warn('could not acknowledge replayed packages', { error: (error as Error).message });
    }
  }

  /**
   * Forged, foreign or broken packages: each is recorded as a failed task and removed from the broker, the whole
   * batch in one save and one acknowledgement. A package whose readable task id has no record yet is filed under
   * that id (so `fetch(id)` shows a client with the wrong secretKey why its task never ran); others under a hash.
   * Rejection records are pruned to the newest {@link MAX_REJECTION_RECORDS}.
   */
  #reject(rejected: readonly Rejection[]): Promise<void> {
    // One at a time, so two batches claiming the same id see each other's record.
    this.#rejecting = this.#rejecting.catch(() => {}).then(() => this.#recordRejections(rejected));
    return this.#rejecting;
  }

  async #recordRejections(rejected: readonly Rejection[]): Promise<void> {
    const { broker, store, logger, events, config } = this.runtime;
    this.rejected += rejected.length;
    const claimed = rejected.flatMap((r) => (r.claimedId === null ? [] : [r.claimedId]));
    // Ids that have a record, or are taken by an earlier package of this batch, are filed under a hash instead.
    const taken = new Set((await this.#statesOf(claimed)).keys());
    const now = new Date();
    const records = rejected.map(({ delivery, error, claimedId }): TaskRecord => {
      events.emit('rejectedPackage', { receipt: delivery.receipt, error });
      const filedUnderClaim = claimedId !== null && !taken.has(claimedId);
      if (filedUnderClaim) taken.add(claimedId);
      return {
        id: filedUnderClaim ? claimedId : createHash('sha256').update(delivery.payload).digest('hex').slice(0, 32),
        name: REJECTED_NAME,
        func: REJECTED_FUNC,
        args: '[]',
        result: null,
        error,
        success: false,
        group: null,
        hook: null,
        cluster: config.cluster,
        enqueuedAt: now,
        startedAt: now,
        stoppedAt: now,
        attemptCount: 1,
      };
    });
    logger.error('rejected packages that failed verification', {
      packages: rejected.length,
      code: rejected[0]?.error.code,
      error: rejected[0]?.error.message,
    });
    try {
      await store.saveMany(records);
      await broker.acknowledgeMany(rejected.map((r) => r.delivery.receipt));
      this.#pruneRejections();
    } catch (e) {
      // The packages stay on the broker and are rejected again on redelivery.
      logger.warn('could not record rejected packages', { error: (e as Error).message });
    }
  }

  /** Keeps rejection records bounded under a flood: one prune at a time, at most every few seconds, and once more after the last. */
  #pruneRejections(): void {
    if (this.#pruneTimer) return;
    const wait = Math.max(0, this.#lastPrune + REJECTION_PRUNE_EVERY_MS - Date.now());
    this.#pruneTimer = setTimeout(() => {
      this.#lastPrune = Date.now();
      void pruneRejections(this.runtime)
        .catch((error: unknown) =>
          this.runtime.logger.warn('could not prune rejection records', { error: (error as Error).message }),
        )
        .finally(() => (this.#pruneTimer = null));
    }, wait).unref();
  }

  #waitForSpace(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.#spaceWaiter = done;
      signal.addEventListener('abort', done, { once: true });
    });
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
