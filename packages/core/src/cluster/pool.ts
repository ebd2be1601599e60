import { Piscina } from 'piscina';
import { randomUUID } from 'node:crypto';
import { BroadcastChannel, type Worker } from 'node:worker_threads';
import type { ProgressUpdate } from '../control/progress-keeper.js';
import { stoppedOutcome } from '../control/stopped.js';
import { ErrorCodes, TaskqError, toErrorInfo, type ErrorCode, type ErrorInfo } from '../errors.js';
import type { TaskqEmitter } from '../events.js';
import type { Logger } from '../logger.js';
import type { CodecRecipe } from '../signing/package-codec.js';
import type { ThreadMemory } from '../stats/cluster-stat.js';
import type { TaskMessage } from '../task/task.js';
import {
  type BatchAnswer,
  type BatchJob,
  type CancelNotice,
  type ExecutionDefaults,
  type HookJob,
  type TaskHandOff,
  type WorkerData,
  type WorkerMessage,
  type WorkerOutcome,
} from './jobs.js';

export interface WorkerPoolOptions {
  workers: number;
  concurrency: number;
  /** Replace a thread after this many tasks (0 = never). */
  recycle: number;
  maxHeapMb: number | null;
  taskModules: string[];
  serializer: string | null;
  /** How the threads rebuild the package codec; null: the main thread decodes and hands over messages. */
  codec: CodecRecipe | null;
  defaults: ExecutionDefaults;
  execArgv: string[];
  events: TaskqEmitter;
  logger: Logger;
  /** Receives running tasks' `progress()` and `log()` calls. */
  onProgress?: (update: ProgressUpdate) => void;
  /**
   * Which tasks cancel marks name, and what to do when one is cancelled while in the pool: checked by
   * {@link WorkerPool.applyCancels} and for every task a thread reports it decoded.
   */
  cancels?: { matches(task: TaskMessage): boolean; cancelled(task: TaskMessage): void };
}

/** How long a task may ignore its aborted signal before its thread is terminated. */
const HARD_KILL_GRACE_MS = 250;
/** A job refused by a retiring thread is sent again; this bounds the loop. */
const MAX_RESUBMITS = 100;
/** How many times a hook may lose its thread before it is given up (and logged as failed). */
const HOOK_THREAD_DEATHS = 3;
/** Executions handed to the threads at once, per slot: the second half waits in the threads for a free slot. */
const HANDED_PER_SLOT = 2;

/** The outcome of an execution, including failures the task never saw (its thread died). */
export type ExecutionOutcome = WorkerOutcome & {
  /** The thread died while the task ran (another task's timeout, out of memory, crash). */
  lost?: boolean;
};

/** What became of a task handed to the pool. */
export type PoolResult =
  | { kind: 'done'; message: TaskMessage; outcome: ExecutionOutcome }
  /** The package failed verification or decoding in the thread: never run. */
  | { kind: 'rejected'; error: ErrorInfo; claimedId: string | null }
  /** The pool was destroyed (stop deadline) before the task finished: leave it for redelivery. */
  | { kind: 'aborted' };

interface Entry {
  item: TaskHandOff;
  /** The verified message, once known (decoded by the main thread, or reported by a thread). */
  message: TaskMessage | null;
  /** Its timeout in ms, reported by its thread when a task with a timeout starts. */
  timeoutMs: number | null;
  onAccepted: ((message: TaskMessage) => void) | undefined;
  /** In a batch sent to a thread (not waiting here). */
  handed: boolean;
  /** Its batch was answered: its outcome is on its way on the thread's message port. */
  answered: boolean;
  /** The thread reported it started (reports come before the start). */
  started: boolean;
  threadId: number | null;
  startedAt: number | null;
  timedOut: boolean;
  /** Cancelled while in the pool: its thread is told, and terminated if the task does not stop in time. */
  cancelled: boolean;
  killTimer?: NodeJS.Timeout;
  resubmits: number;
  settle(result: PoolResult): void;
}

/**
 * The Piscina pool plus what Piscina does not do for us: hand-off in batches (one message carries many tasks to a
 * thread, outcomes come back together), hard per-task timeouts with several tasks per thread (terminate the
 * thread, fail its other running tasks as "worker lost", send its not-yet-started ones again), recycling after N
 * tasks, cancel, and per-thread memory.
 */
export class WorkerPool {
  readonly #piscina: Piscina;
  readonly #options: WorkerPoolOptions;
  /** Every execution in the pool, waiting here or handed to a thread, by key. */
  readonly #entries = new Map<string, Entry>();
  /** Executions not yet handed to a thread, oldest first. */
  #pending: Entry[] = [];
  #handed = 0;
  #running = 0;
  #dispatchQueued = false;
  readonly #memory = new Map<number, ThreadMemory & { at: number }>();
  #replaced = 0;
  #destroyed = false;
  #idleWaiters: (() => void)[] = [];
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
      concurrency: options.concurrency,
      codec: options.codec,
      defaults: options.defaults,
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

  /** Whether the threads verify and decode packages (else every hand-off must carry a decoded message). */
  get decodesPackages(): boolean {
    return this.#options.codec !== null;
  }

  /**
   * Runs a task; never rejects: failures, timeouts and lost threads come back as outcomes. Hand-offs made in the
   * same turn go to the threads together. `onAccepted` runs once the message is known and verified, before the
   * task starts (at once for a hand-off that carries its message).
   */
  execute(item: TaskHandOff, onAccepted?: (message: TaskMessage) => void): Promise<PoolResult> {
    return new Promise<PoolResult>((resolve) => {
      const entry: Entry = {
        item,
        message: null,
        timeoutMs: null,
        onAccepted,
        handed: false,
        answered: false,
        started: false,
        threadId: null,
        startedAt: null,
        timedOut: false,
        cancelled: false,
        resubmits: 0,
        settle: resolve,
      };
      this.#entries.set(item.key, entry);
      if (item.message !== undefined) this.#accept(entry, item.message);
      if (this.#entries.has(item.key)) {
        this.#pending.push(entry);
        this.#queueDispatch();
      }
    });
  }

  #queueDispatch(): void {
    if (this.#dispatchQueued) return;
    this.#dispatchQueued = true;
    queueMicrotask(() => {
      this.#dispatchQueued = false;
      this.#dispatch();
    });
  }

  /**
   * Hands waiting executions to the threads in batches of at most `concurrency` (one Piscina job each), keeping
   * up to twice the pool's slots handed so a thread has its next tasks while the main thread reads its outcomes.
   */
  #dispatch(): void {
    const { workers, concurrency } = this.#options;
    const limit = HANDED_PER_SLOT * workers * concurrency;
    while (this.#pending.length > 0 && this.#handed < limit && !this.#destroyed) {
      const size = Math.min(
        this.#pending.length,
        limit - this.#handed,
        concurrency,
        Math.ceil(this.#pending.length / workers),
      );
      const batch = this.#pending.splice(0, size);
      for (const entry of batch) entry.handed = true;
      this.#handed += batch.length;
      void this.#runBatch(batch);
    }
  }

  async #runBatch(batch: Entry[]): Promise<void> {
    let answer: BatchAnswer;
    try {
      answer = (await this.#piscina.run({
        kind: 'batch',
        items: batch.map((e) => e.item),
      } satisfies BatchJob)) as BatchAnswer;
    } catch (error) {
      this.#batchFailed(batch, error);
      return;
    }
    this.#answered(answer.threadId);
    for (const entry of batch) {
      if (!this.#isOpen(entry)) continue;
      // A retiring thread took none of it; otherwise its outcomes were posted before the answer and are on their way.
      if (answer.refused) this.#resubmit(entry);
      else entry.answered = true;
    }
  }

  /** The thread running the batch died (timeout, crash, recycle, destroy): settle or resend what it held. */
  #batchFailed(batch: Entry[], error: unknown): void {
    for (const entry of batch) {
      if (!this.#isOpen(entry)) continue;
      if (this.#destroyed) this.#finish(entry, { kind: 'aborted' });
      else if (entry.cancelled && entry.killTimer !== undefined && !entry.timedOut)
        this.#finishAs(entry, this.#cancelledOutcome(entry));
      else if (entry.timedOut) this.#finishAs(entry, this.#timeoutOutcome(entry));
      // It never started there (a recycled thread starts nothing more): it runs elsewhere without costing an attempt.
      else if (!entry.started) this.#resubmit(entry);
      else this.#finishAs(entry, this.#lostOutcome(entry, error));
    }
  }

  #isOpen(entry: Entry): boolean {
    return this.#entries.get(entry.item.key) === entry;
  }

  #resubmit(entry: Entry): void {
    if (++entry.resubmits > MAX_RESUBMITS) {
      this.#finishAs(entry, this.#lostOutcome(entry, new Error('no thread would take it')));
      return;
    }
    this.#release(entry);
    // Sent again with its message, so it is not verified (nor announced) twice.
    if (entry.message !== null)
      entry.item = { ...entry.item, message: entry.message, payload: undefined } as TaskHandOff;
    this.#pending.unshift(entry);
    this.#queueDispatch();
  }

  /** Takes an entry out of the handed and running counts (it leaves the pool, or goes back to waiting). */
  #release(entry: Entry): void {
    clearTimeout(entry.killTimer);
    if (entry.handed) this.#handed--;
    if (entry.started) this.#running--;
    entry.handed = false;
    entry.answered = false;
    entry.started = false;
    entry.threadId = null;
  }

  #finishAs(entry: Entry, outcome: ExecutionOutcome): void {
    if (entry.message === null) {
      // Only a started execution can fail this way, and a thread reports a message before it starts one.
      this.#finish(entry, { kind: 'aborted' });
      return;
    }
    this.#finish(entry, { kind: 'done', message: entry.message, outcome });
  }

  #finish(entry: Entry, result: PoolResult): void {
    this.#release(entry);
    this.#entries.delete(entry.item.key);
    entry.settle(result);
    if (this.#entries.size === 0) for (const wake of this.#idleWaiters.splice(0)) wake();
    if (this.#pending.length > 0) this.#queueDispatch();
  }

  /** The message is known and verified: matched against cancel marks, announced, ready to run. */
  #accept(entry: Entry, message: TaskMessage): void {
    entry.message = message;
    const onAccepted = entry.onAccepted;
    entry.onAccepted = undefined;
    onAccepted?.(message);
    const cancels = this.#options.cancels;
    if (cancels?.matches(message)) this.#cancelEntry(entry, message, cancels);
  }

  /**
   * Cancels the executions in the pool that the cancel marks name: each one's thread aborts its signal (with
   * TASKQ_TASK_CANCELLED) or, if it has not started yet, does not run it. A task that has not stopped
   * {@link HARD_KILL_GRACE_MS} after its thread confirmed has its thread terminated, exactly like a timeout.
   * Executions whose message a thread has not reported yet are checked when it does.
   */
  applyCancels(): void {
    const cancels = this.#options.cancels;
    if (cancels === undefined) return;
    for (const entry of [...this.#entries.values()]) {
      const task = entry.message;
      if (!entry.cancelled && task !== null && cancels.matches(task)) this.#cancelEntry(entry, task, cancels);
    }
  }

  #cancelEntry(entry: Entry, task: TaskMessage, cancels: NonNullable<WorkerPoolOptions['cancels']>): void {
    entry.cancelled = true;
    cancels.cancelled(task);
    if (!entry.handed) {
      // Still waiting here: it never reaches a thread.
      this.#pending = this.#pending.filter((e) => e !== entry);
      this.#finishAs(entry, { ...stoppedOutcome('cancelled'), threadId: -1 });
      return;
    }
    this.#cancelChannel.postMessage({ key: entry.item.key } satisfies CancelNotice);
    // A task with a timeout reported its thread when it started: no need to wait for the confirmation.
    if (entry.threadId !== null && entry.started) this.#armCancelKill(entry);
  }

  #armCancelKill(entry: Entry): void {
    if (entry.killTimer !== undefined && !entry.timedOut) clearTimeout(entry.killTimer);
    entry.killTimer = setTimeout(() => {
      if (!this.#isOpen(entry) || entry.threadId === null) return;
      this.#options.logger.warn('cancelled task did not stop: terminating its worker thread', {
        task: entry.message?.name,
        func: entry.message?.func,
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

  /** Tasks running now (reported started by their threads). */
  get running(): number {
    return this.#running;
  }

  /** Tasks handed to the pool that have not started yet. */
  get waiting(): number {
    return this.#entries.size - this.#running;
  }

  get size(): number {
    return this.#entries.size;
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

  /** Waits for waiting and running tasks, then stops the threads. */
  async close(): Promise<void> {
    while (this.#entries.size > 0) await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    await this.#piscina.close();
    this.#cancelChannel.close();
  }

  /** Stops every thread now; running tasks come back as aborted. */
  async destroy(): Promise<void> {
    this.#destroyed = true;
    this.#cancelChannel.close();
    for (const entry of this.#pending.splice(0)) this.#finish(entry, { kind: 'aborted' });
    await this.#piscina.destroy();
    // Answered batches whose outcomes were still on the threads' ports: those outcomes will not come now.
    for (const entry of [...this.#entries.values()]) this.#finish(entry, { kind: 'aborted' });
  }

  #onMessage(message: WorkerMessage): void {
    switch (message.taskq) {
      case 'accepted':
        this.#onAccepted(message);
        break;
      case 'outcomes':
        this.#onOutcomes(message);
        break;
      case 'started':
        this.#onStarted(message.key, message.threadId, message.at, message.timeoutMs);
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
        const entry = this.#entries.get(message.key);
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
        // Its last answers may still be on their way (another port): terminate once they are read.
        this.#retiring.set(message.threadId, message.answered);
        this.#answered(message.threadId, 0);
        break;
    }
  }

  #onAccepted(message: Extract<WorkerMessage, { taskq: 'accepted' }>): void {
    for (const { key, error, claimedId } of message.rejected) {
      const entry = this.#entries.get(key);
      if (entry !== undefined) this.#finish(entry, { kind: 'rejected', error, claimedId });
    }
    for (const { key, message: task } of message.tasks) {
      const entry = this.#entries.get(key);
      if (entry !== undefined && entry.message === null) this.#accept(entry, task);
    }
    this.#markStarted(message.started, message.threadId);
  }

  #onOutcomes(message: Extract<WorkerMessage, { taskq: 'outcomes' }>): void {
    this.#markStarted(message.started, message.threadId);
    for (const [key, outcome] of message.outcomes) {
      const entry = this.#entries.get(key);
      if (entry !== undefined) this.#finishAs(entry, outcome);
    }
    for (const key of message.refused) {
      const entry = this.#entries.get(key);
      if (entry !== undefined) this.#resubmit(entry);
    }
  }

  #markStarted(keys: readonly string[], threadId: number): void {
    for (const key of keys) {
      const entry = this.#entries.get(key);
      if (entry === undefined || entry.started) continue;
      entry.started = true;
      entry.threadId = threadId;
      this.#running++;
      // Cancelled before its thread reported its start: the notice already went out; arm the kill now.
      if (entry.cancelled) this.#armCancelKill(entry);
    }
  }

  #onStarted(key: string, threadId: number, at: number, timeoutMs: number): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return; // its result arrived first
    entry.threadId = threadId;
    entry.startedAt = at;
    entry.timeoutMs = timeoutMs;
    // The clock starts when the task starts; measured from the main thread's receipt for safety.
    const remaining = Math.max(0, at + timeoutMs - Date.now());
    entry.killTimer = setTimeout(() => this.#kill(entry), remaining + HARD_KILL_GRACE_MS);
  }

  #kill(entry: Entry): void {
    entry.timedOut = true;
    const task = entry.message as TaskMessage; // a thread reports a message before it starts it
    const seconds = (entry.timeoutMs ?? 0) / 1000;
    this.#options.logger.warn('task timed out: terminating its worker thread', {
      task: task.name,
      func: task.func,
      timeout: seconds,
      thread: entry.threadId,
    });
    this.#options.events.emit('timeout', { taskId: task.id, name: task.name, func: task.func, seconds });
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
      setImmediate(() => {
        this.#exitReason = null;
        this.#settleOrphans(threadId);
      });
    });
    void worker.terminate();
  }

  /**
   * Executions of a terminated thread whose batch was answered but whose outcome never arrived (it was still on
   * the thread's port): lost if they started, sent again if not.
   */
  #settleOrphans(threadId: number): void {
    for (const entry of [...this.#entries.values()]) {
      if (entry.threadId !== threadId || !entry.answered) continue;
      if (entry.started) this.#finishAs(entry, this.#lostOutcome(entry, new Error('its outcome was lost with it')));
      else this.#resubmit(entry);
    }
  }

  #threadById(threadId: number): Worker | undefined {
    return (this.#piscina.threads as Worker[]).find((w) => w.threadId === threadId);
  }

  #cancelledOutcome(entry: Entry): ExecutionOutcome {
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

  #timeoutOutcome(entry: Entry): ExecutionOutcome {
    const seconds = (entry.timeoutMs ?? 0) / 1000;
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

  #lostOutcome(entry: Entry, cause: unknown): ExecutionOutcome {
    const reason = (cause as Error)?.message ?? String(cause);
    const error = new TaskqError(ErrorCodes.WORKER_LOST, `The worker thread running this task died (${reason}).`);
    if (!this.#destroyed) {
      const taskIds = entry.message === null ? [] : [entry.message.id];
      this.#options.events.emit('workerLost', { threadId: entry.threadId ?? -1, taskIds, reason });
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
