import type { Logger } from '../logger.js';
import type { Broker } from '../broker/broker.js';
import type { LeaseKeeper } from './lease-keeper.js';
import type { FinishedTask, TaskFinisher } from './finisher.js';

const MAX_BATCH = 500;
const PRUNE_EVERY_MS = 1000;

/**
 * The result queue (RQ) and its consumer: finished tasks are saved and
 * acknowledged in batches. When the store or broker is down, the batch stays
 * queued and is retried with backoff, so no result is dropped and nothing is
 * acknowledged before it is saved.
 */
export class Monitor {
  readonly #queue: FinishedTask[] = [];
  /** Receipts of saved tasks whose acknowledgement failed; retried before the next batch. */
  readonly #pendingAcks: string[] = [];
  #flushing: Promise<void> | null = null;
  #backoffMs = 0;
  #lastPrune = 0;
  #pruneDue = false;
  #pruneTimer: NodeJS.Timeout | null = null;
  #idleWaiters: (() => void)[] = [];
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

  /** Resolves when everything pushed so far is saved and acknowledged. */
  async drain(): Promise<void> {
    while (this.#queue.length > 0 || this.#pendingAcks.length > 0 || this.#flushing) {
      await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    }
    await this.#maybePrune(true);
  }

  #schedule(): void {
    if (this.#flushing) return;
    this.#flushing = this.#loop().finally(() => {
      this.#flushing = null;
      if (this.#queue.length > 0) this.#schedule();
      else for (const wake of this.#idleWaiters.splice(0)) wake();
    });
  }

  async #loop(): Promise<void> {
    // Yield once so results that finish together are saved together.
    await new Promise((resolve) => setImmediate(resolve));
    while (this.#queue.length > 0 || this.#pendingAcks.length > 0) {
      if (this.#backoffMs > 0) await new Promise((resolve) => setTimeout(resolve, this.#backoffMs));
      const batch = this.#queue.slice(0, MAX_BATCH);
      try {
        await this.#acknowledgePending();
        const report = await this.finisher.finish(batch);
        // Saved: from here on a failure only delays the acknowledgement, it never repeats the save.
        this.#queue.splice(0, batch.length);
        this.#pendingAcks.push(...report.acknowledged);
        await this.#acknowledgePending();
        for (const item of batch) {
          if (item.receipt !== undefined) this.leases.release(item.receipt);
          if (item.outcome.ok) this.processed++;
          else this.failed++;
          if (item.outcome.ok) this.#pruneDue = true;
        }
        this.#backoffMs = 0;
        this.onSaved();
        await this.#maybePrune(false);
      } catch (error) {
        this.#backoffMs = Math.min(Math.max(this.#backoffMs * 2, 100), 5000);
        this.logger.error('could not save results; retrying', {
          tasks: batch.length,
          retryInMs: this.#backoffMs,
          error: (error as Error).message,
        });
      }
    }
  }

  async #acknowledgePending(): Promise<void> {
    if (this.#pendingAcks.length === 0) return;
    await this.broker.acknowledgeMany(this.#pendingAcks);
    this.#pendingAcks.length = 0;
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
