import type { Delivery } from '../broker/broker.js';
import { toErrorInfo, type ErrorInfo } from '../errors.js';
import type { TaskMessage, TaskRecord } from '../task/task.js';
import { createHash } from 'node:crypto';
import type { ExecuteJob } from './jobs.js';
import type { LeaseKeeper } from './lease-keeper.js';
import type { Monitor } from './monitor.js';
import type { WorkerPool } from './pool.js';
import type { Runtime } from './runtime.js';

/** How long one dequeue call may block; bounds how quickly an idle pusher notices a stop. */
const DEQUEUE_WAIT_MS = 1000;
const MAX_OUTAGE_BACKOFF_MS = 10_000;

/**
 * Pulls packages from the broker in bulk, verifies and unpacks them, and hands
 * tasks to the worker pool. It stops pulling while `queueLimit` tasks are held
 * (back-pressure). A package that fails verification or decoding is failed at
 * the broker, recorded as a failed task, and never executed. A broker outage
 * pauses pulling with backoff; nothing is lost because nothing was taken.
 */
export class Pusher {
  #spaceWaiter: (() => void) | null = null;
  #executions = 0;
  rejected = 0;
  /** When the current broker outage began (ms), or null while the broker answers. */
  outageSince: number | null = null;

  constructor(
    private readonly runtime: Runtime,
    private readonly pool: WorkerPool,
    private readonly monitor: Monitor,
    private readonly leases: LeaseKeeper,
  ) {}

  get capacity(): number {
    const { queueLimit, workers, concurrency } = this.runtime.config;
    return queueLimit + workers * concurrency - this.pool.size - this.monitor.size;
  }

  async run(signal: AbortSignal): Promise<void> {
    const { broker, config, logger } = this.runtime;
    let backoffMs = 0;
    while (!signal.aborted) {
      if (this.capacity <= 0) {
        await this.#waitForSpace(signal);
        continue;
      }
      let deliveries: Delivery[];
      try {
        deliveries = await broker.dequeue({
          max: Math.min(config.bulk, this.capacity),
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
      for (const delivery of deliveries) await this.#accept(delivery);
    }
  }

  /** Called whenever a task finishes, to resume a pusher blocked on a full queue. */
  notifySpace(): void {
    const wake = this.#spaceWaiter;
    this.#spaceWaiter = null;
    wake?.();
  }

  async #accept(delivery: Delivery): Promise<void> {
    let message: TaskMessage;
    try {
      message = this.runtime.codec.unpack(delivery.payload);
    } catch (error) {
      await this.#reject(delivery, toErrorInfo(error));
      return;
    }
    this.leases.hold(delivery.receipt);
    const { config, events } = this.runtime;
    const timeout = message.timeout === undefined ? config.timeout : message.timeout;
    const job: ExecuteJob = {
      kind: 'execute',
      key: `${message.id}:${++this.#executions}`,
      id: message.id,
      name: message.name,
      func: message.func,
      args: message.args,
      group: message.group ?? null,
      attempt: Math.max(message.attempt ?? 1, delivery.deliveries ?? 1),
      timeoutMs: timeout === null ? null : timeout * 1000,
    };
    if (message.trace !== undefined) job.trace = { carrier: message.trace, queue: message.cluster ?? config.cluster };
    events.emit('preExecute', message);
    void this.pool.execute(job).then((outcome) => {
      // Aborted by a hard stop: no result, no acknowledgement; the broker delivers it again.
      if (outcome.aborted) this.leases.release(delivery.receipt);
      else this.monitor.push({ message, receipt: delivery.receipt, outcome });
      this.notifySpace();
    });
  }

  /** Forged, foreign or broken packages: fail them at the broker and keep a failed record. */
  async #reject(delivery: Delivery, error: ErrorInfo): Promise<void> {
    const { broker, store, logger, events, config } = this.runtime;
    this.rejected++;
    logger.error('rejected a package that failed verification', { code: error.code, error: error.message });
    events.emit('rejectedPackage', { receipt: delivery.receipt, error });
    const now = new Date();
    const record: TaskRecord = {
      id: createHash('sha256').update(delivery.payload).digest('hex').slice(0, 32),
      name: 'rejected-package',
      func: '(rejected package)',
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
    try {
      await store.saveMany([record]);
      await broker.fail(delivery.receipt);
    } catch (e) {
      // The package stays on the broker and is rejected again on redelivery.
      logger.warn('could not record a rejected package', { error: (e as Error).message });
    }
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
