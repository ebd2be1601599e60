import type { Logger } from '../logger.js';
import type { Broker } from '../broker/broker.js';
import type { LeaseKeeper } from './lease-keeper.js';
import { ErrorCodes } from '../errors.js';
import type { FinishedTask, TaskFinisher } from './finisher.js';

const MAX_BATCH = 500;
const PRUNE_EVERY_MS = 1000;

/**
 * The result queue (RQ) and its consumer: finished tasks are saved and
 * acknowledged in batches. A saved batch is acknowledged in the background
 * while the next one is saved (one acknowledgement in flight at a time). When
 * the store or broker is down, the batch stays queued and is retried with
 * backoff, so no result is dropped and nothing is acknowledged before it is
 * saved.
 */
export class Monitor {
  readonly #queue: FinishedTask[] = [];
  /** Receipts of saved tasks not yet acknowledged (waiting for the acknowledgement in flight, or its retry). */
  readonly #pendingAcks: string[] = [];
  #flushing: Promise<void> | null = null;
  #acking: Promise<void> | null = null;
  #ackRetry: NodeJS.Timeout | null = null;
  #ackBackoffMs = 0;
  #backoffMs = 0;
  #lastPrune = 0;
  #pruneDue = false;
  #pruneTimer: NodeJS.Timeout | null = null;
  #idleWaiters: (() => void)[] = [];
  #abandoned = false;
  processed = 0;
  failed = 0;
  /** Called after each saved batch: the pusher may pull again. */
  onSaved: () => void = () => {};

  constructor(
    private readonly finisher: TaskFinisher,
    private readonly broker: Broker,
    private readonly leases: LeaseKeeper,
    private readonly logger: Logger,
    private readonly prune: (() => Promise<number>) | null,
  ) {}

  push(item: FinishedTask): void {
    this.#queue.push(item);
    this.#schedule();
  }

  /** Finished tasks not yet saved and acknowledged (RQ). */
  get size(): number {
    return this.#queue.length;
  }

  /**
   * Gives up on what is not yet saved and acknowledged (a stop past its limit): the loop ends, and the broker
   * redelivers those tasks after their lease. Returns how many results were dropped unsaved.
   */
  abandon(): number {
    this.#abandoned = true;
    const dropped = this.#queue.length;
    this.#queue.length = 0;
    this.#pendingAcks.length = 0;
    if (this.#ackRetry) clearTimeout(this.#ackRetry);
    for (const wake of this.#idleWaiters.splice(0)) wake();
    return dropped;
  }

  /** Resolves when everything pushed so far is saved and acknowledged. */
  async drain(): Promise<void> {
    while (!this.#idle) await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    await this.#maybePrune(true);
  }

  get #idle(): boolean {
    return (
      this.#abandoned ||
      (this.#queue.length === 0 && this.#pendingAcks.length === 0 && this.#flushing === null && this.#acking === null)
    );
  }

  #wakeIfIdle(): void {
    if (this.#idle) for (const wake of this.#idleWaiters.splice(0)) wake();
  }

  #schedule(): void {
    if (this.#flushing) return;
    this.#flushing = this.#loop().finally(() => {
      this.#flushing = null;
      if (this.#queue.length > 0) this.#schedule();
      else this.#wakeIfIdle();
    });
  }

  /**
   * Acknowledges saved results in the background, one call at a time, while the monitor saves the next batch.
   * A failed call keeps its receipts and is retried with backoff; the saves go on (they never wait for it).
   */
  #acknowledgeSaved(): void {
    if (this.#acking !== null || this.#ackRetry !== null || this.#pendingAcks.length === 0 || this.#abandoned) return;
    const receipts = this.#pendingAcks.splice(0);
    this.#acking = this.broker
      .acknowledgeMany(receipts)
      .then(
        () => {
          this.#ackBackoffMs = 0;
        },
        (error: unknown) => {
          if (this.#abandoned) return;
          this.#pendingAcks.unshift(...receipts);
          this.#ackBackoffMs = Math.min(Math.max(this.#ackBackoffMs * 2, 100), 5000);
          this.#backOffLog(0, this.#ackBackoffMs, error);
        },
      )
      .finally(() => {
        this.#acking = null;
        if (this.#ackBackoffMs > 0 && this.#pendingAcks.length > 0) {
          this.#ackRetry = setTimeout(() => {
            this.#ackRetry = null;
            this.#acknowledgeSaved();
          }, this.#ackBackoffMs);
        } else this.#acknowledgeSaved();
        this.#wakeIfIdle();
      });
  }

  async #loop(): Promise<void> {
    // Yield once so results that finish together are saved together.
    await new Promise((resolve) => setImmediate(resolve));
    while (!this.#abandoned && this.#queue.length > 0) {
      if (this.#backoffMs > 0) await new Promise((resolve) => setTimeout(resolve, this.#backoffMs));
      if (this.#abandoned) return;
      const batch = this.#queue.slice(0, MAX_BATCH);
      let finished: { count: number; acknowledged: string[] };
      try {
        finished = { count: batch.length, acknowledged: (await this.finisher.finish(batch)).acknowledged };
      } catch (error) {
        if (this.#abandoned) return;
        if (isOutage(error)) {
          this.#backOff(batch.length, error);
          continue;
        }
        // Not an outage: something in the batch itself is refused. Finish the tasks one at a time, so one
        // poisoned record can never hold back the results queued behind it.
        finished = await this.#finishOneByOne(batch);
        if (finished.count === 0) {
          this.#backOff(batch.length, error);
          continue;
        }
      }
      // Saved: from here on a failure only delays the acknowledgement, it never repeats the save.
      const done = this.#queue.splice(0, finished.count);
      this.#pendingAcks.push(...finished.acknowledged);
      this.#acknowledgeSaved();
      for (const item of done) {
        if (item.receipt !== undefined) this.leases.release(item.receipt);
        if (item.outcome.ok) this.processed++;
        else this.failed++;
        if (item.outcome.ok) this.#pruneDue = true;
      }
      this.#backoffMs = 0;
      this.onSaved();
      await this.#maybePrune(false);
    }
  }

  #backOff(tasks: number, error: unknown): void {
    this.#backoffMs = Math.min(Math.max(this.#backoffMs * 2, 100), 5000);
    this.#backOffLog(tasks, this.#backoffMs, error);
  }

  #backOffLog(tasks: number, retryInMs: number, error: unknown): void {
    this.logger.error(
      tasks > 0 ? 'could not save results; retrying' : 'could not acknowledge saved results; retrying',
      {
        tasks,
        retryInMs,
        code: (error as { code?: string }).code,
        error: (error as Error).message,
      },
    );
  }

  /**
   * Finishes each task on its own. A task whose record the store refuses is saved instead as a failure with
   * code TASKQ_RESULT_NOT_SAVED (without its result and args); if even that is refused, it is left
   * unacknowledged for the broker to deliver again, and logged. Stops at an outage: the rest wait for the retry.
   */
  async #finishOneByOne(batch: readonly FinishedTask[]): Promise<{ count: number; acknowledged: string[] }> {
    const acknowledged: string[] = [];
    let count = 0;
    for (const item of batch) {
      try {
        acknowledged.push(...(await this.finisher.finish([item])).acknowledged);
      } catch (error) {
        if (isOutage(error)) break;
        try {
          acknowledged.push(...(await this.finisher.finish([recordRefused(item, error)])).acknowledged);
          this.logger.error('the store refused a task record; saved it as a failure without its result', {
            task: item.message.id,
            func: item.message.func,
            code: ErrorCodes.RESULT_NOT_SAVED,
            error: (error as Error).message,
          });
        } catch (second) {
          if (isOutage(second)) break;
          this.logger.error('could not save a task record; leaving it for the broker to deliver again', {
            task: item.message.id,
            func: item.message.func,
            error: (second as Error).message,
          });
        }
      }
      count++;
    }
    return { count, acknowledged };
  }

  async #maybePrune(force: boolean): Promise<void> {
    if (!this.prune || !this.#pruneDue) return;
    const wait = PRUNE_EVERY_MS - (Date.now() - this.#lastPrune);
    if (!force && wait > 0) {
      // Throttled: prune once the interval has passed even if no more tasks finish.
      this.#pruneTimer ??= setTimeout(() => {
        this.#pruneTimer = null;
        void this.#maybePrune(true);
      }, wait).unref();
      return;
    }
    if (this.#pruneTimer) clearTimeout(this.#pruneTimer);
    this.#pruneTimer = null;
    this.#lastPrune = Date.now();
    this.#pruneDue = false;
    try {
      await this.prune();
    } catch (error) {
      this.#pruneDue = true;
      this.logger.warn('could not prune old successes', { error: (error as Error).message });
    }
  }
}

const OUTAGE_CODES: ReadonlySet<string> = new Set([
  ErrorCodes.BROKER_UNAVAILABLE,
  ErrorCodes.STORE_UNAVAILABLE,
  ErrorCodes.BROKER_CLOSED,
  ErrorCodes.STORE_CLOSED,
]);

/** An unreachable (or closed) broker or store: every record would fail alike, so retry the batch whole. */
function isOutage(error: unknown): boolean {
  return OUTAGE_CODES.has((error as { code?: string } | null)?.code ?? '');
}

/** The task as a failure that explains why its real record could not be kept. */
function recordRefused(item: FinishedTask, error: unknown): FinishedTask {
  const { result: _result, ...outcome } = item.outcome;
  return {
    ...item,
    outcome: {
      ...outcome,
      ok: false,
      argsText: '[]',
      error: {
        name: 'TaskqError',
        code: ErrorCodes.RESULT_NOT_SAVED,
        message: `The result store refused this task's record (${(error as Error).message}); it is kept as this failure instead, without its result and arguments.`,
      },
    },
  };
}
