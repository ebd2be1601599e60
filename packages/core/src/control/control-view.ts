import type { Logger } from '../logger.js';
import type { ResultStore } from '../store/result-store.js';
import { CONTROL_NAMESPACE, markTime, parseControlKey } from './keys.js';

/** What a cancel mark is matched against: a waiting or running task. */
export interface CancellableTask {
  id: string;
  name: string;
  group?: string | null | undefined;
  enqueuedAt: number;
}

/**
 * A cluster's view of the cancel and pause marks, refreshed once per guard cycle with one `listValues('ctl:')`,
 * so the claim → execute path checks them in memory and the plain path pays nothing per task. A mark cancels
 * the tasks enqueued up to the moment it was set (a later task with the same name or group is not cancelled).
 * With a store that has no job control the view stays empty: nothing can have been cancelled or paused there.
 */
export class ControlView {
  #cancels = new Map<string, number>();
  #paused = new Set<string>();
  #warned = false;
  #waiters = new Set<() => void>();
  #refreshing: Promise<void> | null = null;

  constructor(
    private readonly store: ResultStore,
    private readonly logger: Logger,
  ) {}

  get enabled(): boolean {
    return this.store.capabilities.control === true;
  }

  /** Reads the marks again (at most one read at a time); keeps the last view when the store does not answer. */
  refresh(): Promise<void> {
    if (!this.enabled) return Promise.resolve();
    this.#refreshing ??= this.#read().finally(() => (this.#refreshing = null));
    return this.#refreshing;
  }

  async #read(): Promise<void> {
    let values: Map<string, string>;
    try {
      values = await this.store.listValues(CONTROL_NAMESPACE);
      this.#warned = false;
    } catch (error) {
      if (!this.#warned) {
        this.#warned = true;
        this.logger.warn('could not read cancel and pause marks; using the last ones read', {
          error: (error as Error).message,
        });
      }
      return;
    }
    const cancels = new Map<string, number>();
    const paused = new Set<string>();
    for (const [key, value] of values) {
      const mark = parseControlKey(key);
      if (mark.kind === 'pause') paused.add(mark.queue);
      else if (mark.kind === 'cancel') cancels.set(`${mark.target}:${mark.value}`, markTime(value));
    }
    this.#cancels = cancels;
    this.#paused = paused;
    for (const wake of [...this.#waiters]) wake();
  }

  isPaused(queue: string): boolean {
    return this.#paused.has(queue);
  }

  /** Whether a cancel mark set after the task was enqueued names it (by id, name or group). */
  isCancelled(task: CancellableTask): boolean {
    if (this.#cancels.size === 0) return false;
    const candidates = [`name:${task.name}`];
    if (task.group) candidates.push(`group:${task.group}`);
    // An id is cancelled whatever the times say (a retry keeps its id and first enqueue time); names and groups
    // only for tasks enqueued up to the mark (same millisecond included).
    if (this.#cancels.has(`id:${task.id}`)) return true;
    return candidates.some((key) => {
      const at = this.#cancels.get(key);
      return at !== undefined && at >= task.enqueuedAt;
    });
  }

  get hasCancels(): boolean {
    return this.#cancels.size > 0;
  }

  /** Resolves at the next refresh (or when `signal` aborts): how a paused pusher waits. */
  nextRefresh(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.#waiters.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.#waiters.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
