import { Piscina } from 'piscina';
import { randomUUID } from 'node:crypto';
import { BroadcastChannel, type Worker } from 'node:worker_threads';
import type { ProgressUpdate } from '../control/progress-keeper.js';
import { ErrorCodes, TaskqError, toErrorInfo, type ErrorCode } from '../errors.js';
import type { TaskqEmitter } from '../events.js';
import type { Logger } from '../logger.js';
import type { ThreadMemory } from '../stats/cluster-stat.js';
import type { ExecuteJob, HookJob, WorkerData, WorkerMessage, WorkerOutcome } from './jobs.js';

export interface WorkerPoolOptions {
  workers: number;
  concurrency: number;
  /** Replace a thread after this many tasks (0 = never). */
  recycle: number;
  maxHeapMb: number | null;
  taskModules: string[];
  serializer: string | null;
  execArgv: string[];
  events: TaskqEmitter;
  logger: Logger;
  /** Receives running tasks' `progress()` and `log()` calls. */
  onProgress?: (update: ProgressUpdate) => void;
}

/** How long a task may ignore its aborted signal before its thread is terminated. */
const HARD_KILL_GRACE_MS = 250;
/** A job refused by a retiring thread is sent again; this bounds the loop. */
const MAX_RESUBMITS = 100;
/** How many times a hook may lose its thread before it is given up (and logged as failed). */
const HOOK_THREAD_DEATHS = 3;

interface InFlight {
  job: ExecuteJob;
  threadId: number | null;
  startedAt: number | null;
  timedOut: boolean;
  /** Cancelled while in the pool: its thread is told, and terminated if the task does not stop in time. */
  cancelled: boolean;
  killTimer?: NodeJS.Timeout;
}

/** The outcome of an execution, including failures the task never saw (its thread died). */
export type ExecutionOutcome = WorkerOutcome & {
  /** The thread died while the task ran (another task's timeout, out of memory, crash). */
  lost?: boolean;
  /** The pool was destroyed (stop deadline): not the task's failure; leave it for redelivery. */
  aborted?: boolean;
};

/**
 * The Piscina pool plus what Piscina does not do for us: hard per-task
 * timeouts with several tasks per thread (terminate the thread, fail its other
 * tasks as "worker lost"), recycling after N tasks, and per-thread memory.
 */
export class WorkerPool {
  readonly #piscina: Piscina;
  readonly #options: WorkerPoolOptions;
  readonly #inFlight = new Map<string, InFlight>();
  readonly #memory = new Map<number, ThreadMemory & { at: number }>();
  #replaced = 0;
  #destroyed = false;
  /**
   * Why the thread whose exit is being handled was terminated. Piscina rejects
   * a dead thread's jobs while handling its 'exit' event; our listener runs in
   * the same turn, so the rejections that follow belong to that exit.
   */
  #exitReason: 'recycle' | 'timeout' | null = null;
  /** Answers read per thread, and threads waiting to be recycled once all their answers are read. */
  readonly #answers = new Map<number, number>();
  readonly #retiring = new Map<number, number>();
  /** Settles when the first thread has imported the task modules, or one could not. */
  readonly #loaded: Promise<void>;
  #settleLoaded: (error?: TaskqError) => void = () => {};
  #loadSettled = false;
  /** How cancel notices reach the threads (each thread aborts the signal of the execution it runs). */
  readonly #cancelChannel: BroadcastChannel;

  constructor(options: WorkerPoolOptions) {
    this.#options = options;
    this.#loaded = new Promise<void>((resolve, reject) => {
      this.#settleLoaded = (error) => {
        this.#loadSettled = true;
        if (error) reject(error);
        else resolve();
      };
    });
    this.#loaded.catch(() => {}); // for ready(); never an unhandled rejection when nobody waits
    const cancelChannel = `taskq-cancel:${randomUUID()}`;
    this.#cancelChannel = new BroadcastChannel(cancelChannel);
    this.#cancelChannel.unref();
    const workerData: WorkerData = {
      tasks: options.taskModules,
      serializer: options.serializer,
      memoryReportMs: 1000,
      recycle: options.recycle,
      cancelChannel,
    };
    this.#piscina = new Piscina({
      filename: new URL('./worker-thread.js', import.meta.url).href,
      minThreads: options.workers,
      maxThreads: options.workers,
      concurrentTasksPerWorker: options.concurrency,
      idleTimeout: Number.POSITIVE_INFINITY,
      // Tasks are async and may share a thread: never block its event loop between tasks.
      atomics: 'async',
      workerData,
      execArgv: options.execArgv,
      ...(options.maxHeapMb === null ? {} : { resourceLimits: { maxOldGenerationSizeMb: options.maxHeapMb } }),
    });
    this.#piscina.on('message', (message: WorkerMessage) => this.#onMessage(message));
    this.#piscina.on('error', (error: Error) => options.logger.error('worker pool error', { error: error.message }));
  }

  /**
   * Resolves once a worker thread has imported the task modules and the serializer; rejects
   * (TASKQ_TASK_MODULE_FAILED) when one could not, so the cluster refuses to start.
   */
  ready(): Promise<void> {
    // Piscina's idle threads do not hold the process open: keep it alive while they load.
    const keepAlive = setInterval(() => {}, 60_000);
    return this.#loaded.finally(() => clearInterval(keepAlive));
  }

  /** Executes a task; never rejects: failures, timeouts and lost threads come back as outcomes. */
  async execute(job: ExecuteJob): Promise<ExecutionOutcome> {
    const entry: InFlight = { job, threadId: null, startedAt: null, timedOut: false, cancelled: false };
    this.#inFlight.set(job.key, entry);
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          const outcome = (await this.#piscina.run(job)) as WorkerOutcome;
          this.#answered(outcome.threadId);
          if (outcome.refused && attempt < MAX_RESUBMITS) continue; // a retiring thread: send it elsewhere
          return outcome;
        } catch (error) {
          if (this.#destroyed) return { ...this.#lostOutcome(entry, error), aborted: true };
          if (entry.cancelled && entry.killTimer !== undefined && !entry.timedOut) return this.#cancelledOutcome(entry);
          if (entry.timedOut) return this.#timeoutOutcome(entry);
          // A recycled thread runs nothing when it is terminated: what it held never started.
          if (this.#exitReason === 'recycle' && attempt < MAX_RESUBMITS) continue;
          return this.#lostOutcome(entry, error);
        } finally {
          clearTimeout(entry.killTimer);
        }
      }
    } finally {
      this.#inFlight.delete(job.key);
    }
  }

  /**
   * Cancels the executions in the pool that `match` picks: each one's thread aborts its signal (with
   * TASKQ_TASK_CANCELLED) or, if it has not started yet, does not run it. A task that has not stopped
   * {@link HARD_KILL_GRACE_MS} after its thread confirmed has its thread terminated, exactly like a timeout.
   * Returns how many were newly cancelled.
   */
  cancel(match: (job: ExecuteJob) => boolean): number {
    let cancelled = 0;
    for (const entry of this.#inFlight.values()) {
      if (entry.cancelled || !match(entry.job)) continue;
      entry.cancelled = true;
      cancelled++;
      this.#cancelChannel.postMessage({ key: entry.job.key });
      // A task with a timeout reported its thread when it started: no need to wait for the confirmation.
      if (entry.threadId !== null) this.#armCancelKill(entry);
    }
    return cancelled;
  }

  #armCancelKill(entry: InFlight): void {
    if (entry.killTimer !== undefined && !entry.timedOut) clearTimeout(entry.killTimer);
    entry.killTimer = setTimeout(() => {
      if (!this.#inFlight.has(entry.job.key) || entry.threadId === null) return;
      this.#options.logger.warn('cancelled task did not stop: terminating its worker thread', {
        task: entry.job.name,
        func: entry.job.func,
        thread: entry.threadId,
      });
      this.#terminate(entry.threadId, 'timeout');
    }, HARD_KILL_GRACE_MS);
  }

  /** Runs a hook with a finished task's record; failures are logged by the caller. */
  async runHook(job: HookJob): Promise<WorkerOutcome> {
    let deaths = 0;
    for (let attempt = 0; ; attempt++) {
      try {
        const outcome = (await this.#piscina.run(job)) as WorkerOutcome;
        this.#answered(outcome.threadId);
        if (outcome.refused && attempt < MAX_RESUBMITS) continue;
        return outcome;
      } catch (error) {
        if (this.#exitReason === 'recycle' && attempt < MAX_RESUBMITS) continue;
        // The thread died under the hook (terminated for another task's timeout, out of memory): a hook has no
        // broker delivery to fall back on, so run it again on another thread — a few times, in case it is the
        // hook itself that kills its thread.
        if (++deaths < HOOK_THREAD_DEATHS) continue;
        return { ok: false, error: toErrorInfo(error), startedAt: Date.now(), stoppedAt: Date.now(), threadId: -1 };
      }
    }
  }

  /** Tasks running now (the pool's capacity bounds it; jobs beyond it wait in Piscina's queue). */
  get running(): number {
    return Math.min(this.#inFlight.size, this.#options.workers * this.#options.concurrency);
  }

  /** Tasks handed to the pool that have not started yet. */
  get waiting(): number {
    return this.#inFlight.size - this.running;
  }

  get size(): number {
    return this.#inFlight.size;
  }

  /** Threads replaced after a timeout, a crash or a recycle. */
  get replacedThreads(): number {
    return this.#replaced;
  }

  threadMemory(): ThreadMemory[] {
    const cutoff = Date.now() - 3000;
    const out: ThreadMemory[] = [];
    for (const [threadId, entry] of this.#memory) {
      if (entry.at < cutoff) this.#memory.delete(threadId);
      else out.push({ threadId, heapUsedBytes: entry.heapUsedBytes, heapTotalBytes: entry.heapTotalBytes });
    }
    return out;
  }

  /** Waits for queued and running tasks, then stops the threads. */
  async close(): Promise<void> {
    await this.#piscina.close();
    this.#cancelChannel.close();
  }

  /** Stops every thread now; running tasks come back as lost. */
  async destroy(): Promise<void> {
    this.#destroyed = true;
    this.#cancelChannel.close();
    await this.#piscina.destroy();
  }

  #onMessage(message: WorkerMessage): void {
    switch (message.taskq) {
      case 'started':
        this.#onStarted(message.key, message.threadId, message.at);
        break;
      case 'memory':
        this.#memory.set(message.threadId, { ...message, at: Date.now() });
        break;
      case 'progress':
        this.#options.onProgress?.({
          key: message.key,
          taskId: message.taskId,
          kind: 'progress',
          value: message.value,
        });
        break;
      case 'log':
        this.#options.onProgress?.({ key: message.key, taskId: message.taskId, kind: 'log', entry: message.entry });
        break;
      case 'cancelling': {
        // The thread running a cancelled execution confirmed: now we know which thread to terminate if need be.
        const entry = this.#inFlight.get(message.key);
        if (entry === undefined) break;
        entry.threadId = message.threadId;
        entry.startedAt ??= Date.now();
        this.#armCancelKill(entry);
        break;
      }
      case 'spawned':
        this.#options.events.emit('postSpawn', { threadId: message.threadId });
        break;
      case 'loaded':
        this.#settleLoaded();
        break;
      case 'load-failed': {
        const { code, message: text } = message.error;
        if (this.#loadSettled) {
          // A thread started later (a replacement) whose load failed: its tasks fail with this error.
          this.#options.logger.error('a worker thread could not load the task modules', {
            thread: message.threadId,
            error: text,
          });
          break;
        }
        const taskqCode = (code?.startsWith('TASKQ_') ? code : ErrorCodes.TASK_MODULE) as ErrorCode;
        this.#settleLoaded(new TaskqError(taskqCode, `${text.replace(/\.$/, '')} (in a worker thread).`));
        break;
      }
      case 'retire':
        this.#options.events.emit('recycle', { threadId: message.threadId, tasks: message.tasks });
        this.#options.logger.debug('recycling worker thread', { thread: message.threadId, tasks: message.tasks });
        // Its last results may still be on their way (another port): terminate once they are read.
        this.#retiring.set(message.threadId, message.answered);
        this.#answered(message.threadId, 0);
        break;
    }
  }

  #onStarted(key: string, threadId: number, at: number): void {
    const entry = this.#inFlight.get(key);
    if (entry === undefined) return; // its result arrived first
    entry.threadId = threadId;
    entry.startedAt = at;
    if (entry.job.timeoutMs !== null) {
      // The clock starts when the task starts; measured from the main thread's receipt for safety.
      const remaining = Math.max(0, at + entry.job.timeoutMs - Date.now());
      entry.killTimer = setTimeout(() => this.#kill(entry), remaining + HARD_KILL_GRACE_MS);
    }
  }

  #kill(entry: InFlight): void {
    entry.timedOut = true;
    const { job } = entry;
    this.#options.logger.warn('task timed out: terminating its worker thread', {
      task: job.name,
      func: job.func,
      timeout: (job.timeoutMs ?? 0) / 1000,
      thread: entry.threadId,
    });
    this.#options.events.emit('timeout', {
      taskId: job.id,
      name: job.name,
      func: job.func,
      seconds: (job.timeoutMs ?? 0) / 1000,
    });
    // The thread's other tasks are rejected by Piscina and come back as lost (see #lostOutcome).
    if (entry.threadId !== null) this.#terminate(entry.threadId, 'timeout');
  }

  #answered(threadId: number, count = 1): void {
    const answers = (this.#answers.get(threadId) ?? 0) + count;
    this.#answers.set(threadId, answers);
    const expected = this.#retiring.get(threadId);
    if (expected !== undefined && answers >= expected) {
      this.#retiring.delete(threadId);
      this.#answers.delete(threadId);
      this.#terminate(threadId, 'recycle');
    }
  }

  #terminate(threadId: number, reason: 'recycle' | 'timeout'): void {
    const worker = this.#threadById(threadId);
    if (!worker) return;
    this.#replaced++;
    this.#memory.delete(threadId);
    this.#answers.delete(threadId);
    this.#retiring.delete(threadId);
    worker.once('exit', () => {
      this.#exitReason = reason;
      setImmediate(() => (this.#exitReason = null));
    });
    void worker.terminate();
  }

  #threadById(threadId: number): Worker | undefined {
    return (this.#piscina.threads as Worker[]).find((w) => w.threadId === threadId);
  }

  #cancelledOutcome(entry: InFlight): ExecutionOutcome {
    const error = new TaskqError(
      ErrorCodes.TASK_CANCELLED,
      'The task was cancelled while it ran and did not stop in time.',
    );
    return {
      ok: false,
      stopped: 'cancelled',
      error: toErrorInfo(error),
      startedAt: entry.startedAt ?? Date.now(),
      stoppedAt: Date.now(),
      threadId: entry.threadId ?? -1,
    };
  }

  #timeoutOutcome(entry: InFlight): ExecutionOutcome {
    const seconds = (entry.job.timeoutMs ?? 0) / 1000;
    const error = new TaskqError(ErrorCodes.TASK_TIMEOUT, `Task exceeded its timeout of ${seconds} s and was stopped.`);
    return {
      ok: false,
      timedOut: true,
      error: toErrorInfo(error),
      startedAt: entry.startedAt ?? Date.now(),
      stoppedAt: Date.now(),
      threadId: entry.threadId ?? -1,
    };
  }

  #lostOutcome(entry: InFlight, cause: unknown): ExecutionOutcome {
    const reason = (cause as Error)?.message ?? String(cause);
    const error = new TaskqError(ErrorCodes.WORKER_LOST, `The worker thread running this task died (${reason}).`);
    if (!this.#destroyed) {
      this.#options.events.emit('workerLost', { threadId: entry.threadId ?? -1, taskIds: [entry.job.id], reason });
    }
    return {
      ok: false,
      lost: true,
      error: toErrorInfo(error),
      startedAt: entry.startedAt ?? Date.now(),
      stoppedAt: Date.now(),
      threadId: entry.threadId ?? -1,
    };
  }
}
