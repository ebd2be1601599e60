import type { BatchJob, ExecuteJob, RejectedHandOff, TaskHandOff, WorkerMessage, WorkerOutcome } from './jobs.js';
import { toErrorInfo } from '../errors.js';
import type { TaskMessage } from '../task/task.js';

/** What a worker thread gives its batch runner. */
export interface BatchRunnerDeps {
  threadId: number;
  /** Executions this thread runs at once. */
  concurrency: number;
  /** Verifies and decodes a package (throws a typed error when it is forged or broken). */
  decode(payload: string): TaskMessage;
  /** The task id a package claims, unverified (for the rejection record). */
  peekTaskId(payload: string): string | null;
  toJob(message: TaskMessage, item: TaskHandOff): ExecuteJob;
  execute(job: ExecuteJob, message: TaskMessage): Promise<WorkerOutcome>;
  post(message: WorkerMessage): void;
  /** Counts one more execution started here; false once the thread retires (recycle): it starts nothing more. */
  mayStart(): boolean;
}

interface Execution {
  job: ExecuteJob;
  message: TaskMessage;
  done: () => void;
}

/**
 * Runs the batches a worker thread receives: verifies and decodes every package of a batch, reports what it
 * accepted and rejected in one message, runs at most `concurrency` executions at once (the rest wait here), and
 * sends outcomes back together, one message per turn of the event loop instead of one per task.
 *
 * An execution is reported as started before it starts (in `accepted`, or in the `outcomes` message whose
 * finished task freed its slot), so when the thread dies the main thread knows exactly which ones ran: the others
 * are sent again without costing an attempt.
 */
export class BatchRunner {
  #running = 0;
  readonly #waiting: Execution[] = [];
  #outcomes: [string, WorkerOutcome][] = [];
  #started: string[] = [];
  #refused: string[] = [];
  /** Executions given a free slot: they start right after the message that reports them is posted. */
  #starting: Execution[] = [];
  #flushQueued = false;

  constructor(private readonly deps: BatchRunnerDeps) {}

  /** Resolves when every execution of the batch has finished or been refused, and its outcomes are posted. */
  async run(batch: BatchJob): Promise<void> {
    const { deps } = this;
    const tasks: { key: string; message: TaskMessage }[] = [];
    const rejected: RejectedHandOff[] = [];
    const executions: Execution[] = [];
    const settled: Promise<void>[] = [];
    for (const item of batch.items) {
      let message = item.message;
      if (message === undefined) {
        const payload = item.payload as string;
        try {
          message = deps.decode(payload);
        } catch (error) {
          rejected.push({ key: item.key, error: toErrorInfo(error), claimedId: deps.peekTaskId(payload) });
          continue;
        }
        tasks.push({ key: item.key, message });
      }
      const execution: Execution = { job: deps.toJob(message, item), message, done: () => {} };
      settled.push(new Promise<void>((resolve) => (execution.done = resolve)));
      executions.push(execution);
    }
    const startNow: Execution[] = [];
    this.#waiting.push(...executions);
    this.#fillSlots(startNow);
    deps.post({ taskq: 'accepted', threadId: deps.threadId, tasks, rejected, started: startNow.map((e) => e.job.key) });
    for (const execution of startNow) this.#start(execution);
    await Promise.all(settled);
    this.flush();
  }

  /** Posts the outcomes, start reports and refusals collected so far, then starts the executions it reported. */
  flush(): void {
    if (this.#outcomes.length === 0 && this.#started.length === 0 && this.#refused.length === 0) return;
    this.deps.post({
      taskq: 'outcomes',
      threadId: this.deps.threadId,
      outcomes: this.#outcomes,
      started: this.#started,
      refused: this.#refused,
    });
    this.#outcomes = [];
    this.#started = [];
    this.#refused = [];
    const starting = this.#starting;
    this.#starting = [];
    for (const execution of starting) this.#start(execution);
  }

  #start(execution: Execution): void {
    const { deps } = this;
    void deps
      .execute(execution.job, execution.message)
      // execute() turns task errors into outcomes; this is for its own failures (a tracing module that fails to load).
      .catch((error: unknown): WorkerOutcome => {
        const now = Date.now();
        return { ok: false, error: toErrorInfo(error), startedAt: now, stoppedAt: now, threadId: deps.threadId };
      })
      .then((outcome) => {
        this.#running--;
        this.#outcomes.push([execution.job.key, outcome]);
        this.#fillSlots(this.#starting);
        execution.done();
        this.#queueFlush();
      });
  }

  /**
   * Gives free slots to waiting executions (into `into`, to be reported and then started), or refuses every
   * waiting one once the thread retires (recycle).
   */
  #fillSlots(into: Execution[]): void {
    while (this.#running < this.deps.concurrency && this.#waiting.length > 0) {
      if (!this.deps.mayStart()) {
        for (const execution of this.#waiting.splice(0)) {
          this.#refused.push(execution.job.key);
          execution.done();
        }
        this.#queueFlush();
        return;
      }
      const execution = this.#waiting.shift() as Execution;
      this.#running++;
      into.push(execution);
      if (into === this.#starting) this.#started.push(execution.job.key);
    }
  }

  #queueFlush(): void {
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    setImmediate(() => {
      this.#flushQueued = false;
      this.flush();
    });
  }
}
