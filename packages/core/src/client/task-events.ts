import { awaitsRetry } from '../cluster/finisher.js';
import type { Runtime } from '../cluster/runtime.js';
import {
  eventChannelOf,
  finishedEventOf,
  type TaskEventChannel,
  type TaskFinishedEvent,
  type TaskqEmitter,
} from '../events.js';

/** How often the store is searched for new records where no event channel exists. */
const POLL_MS = 1000;
/** Records that stopped longer ago than this are not looked for (clocks and slow saves get this much slack). */
const POLL_WINDOW_MS = 5 * 60_000;

/**
 * Brings `taskFinished`/`taskFailed` from every process into this client's emitter: through the broker's
 * (or store's) event channel when it has one, else by searching the store every second. One per client,
 * started by the first listener or the first waiting `fetch`.
 */
export class TaskEventBridge {
  readonly channel: TaskEventChannel | null;
  readonly #waiters = new Set<(event: TaskFinishedEvent) => void>();
  #stop: (() => Promise<void>) | null = null;

  constructor(
    private readonly runtime: Runtime,
    private readonly emitter: TaskqEmitter,
  ) {
    this.channel = eventChannelOf(runtime.broker, runtime.store);
  }

  async start(): Promise<void> {
    if (this.channel) {
      this.#stop = await this.channel.subscribeFinished((events) => events.forEach((e) => this.#dispatch(e)));
    } else {
      this.#stop = this.#poll();
    }
  }

  /** Calls `listener` for every event from now on (the waiting `fetch` uses it); returns the unsubscribe. */
  onEvent(listener: (event: TaskFinishedEvent) => void): () => void {
    this.#waiters.add(listener);
    return () => this.#waiters.delete(listener);
  }

  async close(): Promise<void> {
    const stop = this.#stop;
    this.#stop = null;
    await stop?.();
  }

  #dispatch(event: TaskFinishedEvent): void {
    this.emitter.emit('taskFinished', event);
    if (!event.success) this.emitter.emit('taskFailed', event);
    for (const waiter of this.#waiters) waiter(event);
  }

  /** No channel: search the store for records saved since the last look (id + attempt tell a new one). */
  #poll(): () => Promise<void> {
    const seen = new Map<string, { attempt: number; stoppedAt: number }>();
    const startedAt = Date.now();
    let first = true;
    let running: Promise<void> = Promise.resolve();
    const look = async () => {
      const now = Date.now();
      const { records } = await this.runtime.store.search({ since: new Date(now - POLL_WINDOW_MS), limit: 1000 });
      for (const record of [...records].reverse()) {
        const known = seen.get(record.id);
        if (known?.attempt === record.attemptCount) continue;
        seen.set(record.id, { attempt: record.attemptCount, stoppedAt: record.stoppedAt.getTime() });
        // What was saved before anyone listened is history, not an event.
        const final = record.success || !awaitsRetry(record);
        if (!first || record.stoppedAt.getTime() >= startedAt) this.#dispatch(finishedEventOf(record, final));
      }
      first = false;
      for (const [id, entry] of seen) if (entry.stoppedAt < now - POLL_WINDOW_MS) seen.delete(id);
    };
    const timer = setInterval(() => {
      running = running.then(look).catch((error: unknown) => {
        this.emitter.emit('error', error instanceof Error ? error : new Error(String(error)));
      });
    }, POLL_MS);
    timer.unref();
    running = look().catch(() => undefined);
    return async () => {
      clearInterval(timer);
      await running;
    };
  }
}
