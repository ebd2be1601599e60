import { Piscina } from 'piscina';
import type { Worker } from 'node:worker_threads';
import { ErrorCodes, TaskqError, toErrorInfo } from '../errors.js';
import type { TaskqEmitter } from '../events.js';
import type { Logger } from '../logger.js';
import type { ThreadMemory } from './stat.js';
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
}

/** How long a task may ignore its aborted signal before its thread is terminated. */
const HARD_KILL_GRACE_MS = 250;
/** A job whose thread died before it started is resubmitted; this bounds the loop. */
const MAX_RESUBMITS = 5;

interface InFlight {
  job: ExecuteJob;
  threadId: number | null;
  startedAt: number | null;
  timedOut: boolean;
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
  readonly #completedByThread = new Map<number, number>();
  readonly #retiring = new Set<number>();
  readonly #memory = new Map<number, ThreadMemory & { at: number }>();
  #replaced = 0;
  #destroyed = false;

  constructor(options: WorkerPoolOptions) {
    this.#options = options;
    const workerData: WorkerData = { tasks: options.taskModules, serializer: options.serializer, memoryReportMs: 1000 };
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

  /** Executes a task; never rejects: failures, timeouts and lost threads come back as outcomes. */
  async execute(job: ExecuteJob): Promise<ExecutionOutcome> {
    const entry: InFlight = { job, threadId: null, startedAt: null, timedOut: false };
    this.#inFlight.set(job.key, entry);
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          const outcome = (await this.#piscina.run(job)) as WorkerOutcome;
          this.#countCompletion(outcome.threadId);
          return outcome;
        } catch (error) {
          if (this.#destroyed) return { ...this.#lostOutcome(entry, error), aborted: true };
          if (entry.timedOut) return this.#timeoutOutcome(entry);
          if (entry.startedAt === null && attempt < MAX_RESUBMITS) continue; // thread died before it began: run again
          return this.#lostOutcome(entry, error);
        } finally {
          clearTimeout(entry.killTimer);
        }
      }
    } finally {
      this.#inFlight.delete(job.key);
      this.#retireIdleThreads();
    }
  }

  /** Runs a hook with a finished task's record; failures are logged by the caller. */
  async runHook(job: HookJob): Promise<WorkerOutcome> {
    try {
      return (await this.#piscina.run(job)) as WorkerOutcome;
    } catch (error) {
      return { ok: false, error: toErrorInfo(error), startedAt: Date.now(), stoppedAt: Date.now(), threadId: -1 };
    }
  }

  /** Tasks started and not finished. */
  get running(): number {
    let running = 0;
    for (const entry of this.#inFlight.values()) if (entry.startedAt !== null) running++;
    return running;
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
  }

  /** Stops every thread now; running tasks come back as lost. */
  async destroy(): Promise<void> {
    this.#destroyed = true;
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
      case 'spawned':
        this.#options.events.emit('postSpawn', { threadId: message.threadId });
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
    const others = [...this.#inFlight.values()]
      .filter((e) => e !== entry && e.threadId === entry.threadId && e.startedAt !== null)
      .map((e) => e.job.id);
    if (entry.threadId !== null) this.#terminate(entry.threadId, `timeout of task ${job.id}`, others);
  }

  #terminate(threadId: number, reason: string, taskIds: string[]): void {
    const worker = this.#threadById(threadId);
    if (!worker) return;
    this.#replaced++;
    this.#completedByThread.delete(threadId);
    this.#retiring.delete(threadId);
    this.#memory.delete(threadId);
    if (taskIds.length > 0) this.#options.events.emit('workerLost', { threadId, taskIds, reason });
    void worker.terminate();
  }

  #threadById(threadId: number): Worker | undefined {
    return (this.#piscina.threads as Worker[]).find((w) => w.threadId === threadId);
  }

  #countCompletion(threadId: number): void {
    if (this.#options.recycle <= 0) return;
    const count = (this.#completedByThread.get(threadId) ?? 0) + 1;
    this.#completedByThread.set(threadId, count);
    if (count >= this.#options.recycle) this.#retiring.add(threadId);
  }

  /** A thread that reached `recycle` is replaced once no started task runs on it. */
  #retireIdleThreads(): void {
    for (const threadId of this.#retiring) {
      const busy = [...this.#inFlight.values()].some((e) => e.threadId === threadId && e.startedAt !== null);
      if (busy) continue;
      const tasks = this.#completedByThread.get(threadId) ?? 0;
      this.#options.events.emit('recycle', { threadId, tasks });
      this.#options.logger.debug('recycling worker thread', { thread: threadId, tasks });
      this.#terminate(threadId, 'recycle', []);
    }
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
    const error = new TaskqError(
      ErrorCodes.WORKER_LOST,
      `The worker thread running this task died (${(cause as Error)?.message ?? String(cause)}).`,
    );
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
