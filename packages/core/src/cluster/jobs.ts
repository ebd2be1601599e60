import type { ErrorInfo } from '../errors.js';
import type { CodecRecipe } from '../signing/package-codec.js';
import type { TaskLogEntry, TaskMessage, TaskMeta, TaskRecord } from '../task/task.js';

/**
 * One task handed to the pool: the broker's package as it came (the thread verifies and decodes it), or, when the
 * main thread had to decode it first (a possible replay, cancel marks to check), the decoded message.
 */
export interface TaskHandOff {
  /** Unique per execution in this cluster: outcomes, start reports and cancel notices name it. */
  key: string;
  payload?: string;
  message?: TaskMessage;
  /** How many times the broker has delivered it (counts towards `maxAttempts`). */
  deliveries: number;
  /** When this cluster received the delivery from the broker (ms). */
  deliveredAt: number;
}

/** Many tasks in one Piscina job: one message to the thread instead of one per task. */
export interface BatchJob {
  kind: 'batch';
  items: TaskHandOff[];
}

/** What a batch job returns; the outcomes themselves travel as `outcomes` messages. */
export interface BatchAnswer {
  threadId: number;
  /** The thread is retiring (recycle) and took none of the batch: send it again. */
  refused?: boolean;
}

/** A package the thread could not verify or decode: the main thread records it and removes it from the broker. */
export interface RejectedHandOff {
  key: string;
  error: ErrorInfo;
  /** The task id the package claims (unverified), when it can be read. */
  claimedId: string | null;
}

/** The execution a thread runs, built from a verified message (also what tracing reads). */
export interface ExecuteJob {
  kind: 'execute';
  /** Unique per execution, so start reports match the right run. */
  key: string;
  id: string;
  name: string;
  func: string;
  args: unknown[];
  group: string | null;
  attempt: number;
  timeoutMs: number | null;
  /** When the task was enqueued (ms): cancel marks apply to tasks enqueued before them. */
  enqueuedAt: number;
  /** When this cluster received the delivery from the broker (ms). */
  deliveredAt: number;
  /** Present only when the task message carries a trace context: the thread starts a span as its child. */
  trace?: { carrier: Record<string, string>; queue: string };
}

/** Run a hook task with the finished task's record. */
export interface HookJob {
  kind: 'hook';
  func: string;
  record: TaskRecord;
  /** The finished task's trace context, when it had one: the hook's span continues it. */
  trace?: Record<string, string>;
}

export type WorkerJob = BatchJob | HookJob;

/** The cluster settings an execution falls back on: its `timeout` in ms (null: none) and its name (trace queue). */
export interface ExecutionDefaults {
  timeoutMs: number | null;
  cluster: string;
}

/** The execution a verified message describes. */
export function executeJobOf(message: TaskMessage, item: TaskHandOff, defaults: ExecutionDefaults): ExecuteJob {
  const own = message.timeout;
  const timeoutMs = own === undefined ? defaults.timeoutMs : own === null ? null : own * 1000;
  const job: ExecuteJob = {
    kind: 'execute',
    key: item.key,
    id: message.id,
    name: message.name,
    func: message.func,
    args: message.args,
    group: message.group ?? null,
    attempt: Math.max(message.attempt ?? 1, item.deliveries),
    timeoutMs,
    enqueuedAt: message.enqueuedAt,
    deliveredAt: item.deliveredAt,
  };
  if (message.trace !== undefined) job.trace = { carrier: message.trace, queue: message.cluster ?? defaults.cluster };
  return job;
}

export interface WorkerOutcome {
  ok: boolean;
  /** A hook job the thread refused because it is retiring (recycle): send it again. */
  refused?: boolean;
  /** The task's arguments, serialized in the worker so the main thread need not. */
  argsText?: string;
  /** Serialized return value when ok. */
  result?: string;
  error?: ErrorInfo;
  /** The task's own AbortSignal fired at its timeout and the task gave up. */
  timedOut?: boolean;
  /** Not run to its end on purpose: cancelled (while waiting or running) or expired before it started. Final. */
  stopped?: 'cancelled' | 'expired';
  /**
   * What the task reported with `progress()`/`log()`, complete: the live reports are throttled on their way to the
   * store, so the record takes this copy.
   */
  meta?: TaskMeta;
  startedAt: number;
  stoppedAt: number;
  threadId: number;
  /** The execution span's context when the thread recorded one (chain links and hooks continue from it). */
  trace?: Record<string, string>;
}

/** Messages a worker thread posts to the main thread (all on one port, so they arrive in the order sent). */
export type WorkerMessage =
  /**
   * A batch arrived: the messages it verified and decoded (`tasks`), the packages it rejected, and the executions
   * it is about to start (sent before they start, so a thread that dies afterwards is known to have run them).
   */
  | {
      taskq: 'accepted';
      threadId: number;
      tasks: { key: string; message: TaskMessage }[];
      rejected: RejectedHandOff[];
      started: string[];
    }
  /**
   * Finished executions, collected over one turn of the thread's event loop; `started` names queued executions it
   * is about to start, `refused` those it will not start because it is retiring (send them again).
   */
  | {
      taskq: 'outcomes';
      threadId: number;
      outcomes: [key: string, outcome: WorkerOutcome][];
      started: string[];
      refused: string[];
    }
  /** A task with a timeout started (its clock runs from `at`). */
  | { taskq: 'started'; key: string; threadId: number; at: number; timeoutMs: number }
  | { taskq: 'memory'; threadId: number; heapUsedBytes: number; heapTotalBytes: number }
  /** A running task called `progress(value)` (already checked and bounded in the thread). */
  | { taskq: 'progress'; key: string; taskId: string; value: unknown }
  /** A running task called `log(level, message, fields)`. */
  | { taskq: 'log'; key: string; taskId: string; entry: TaskLogEntry }
  | { taskq: 'spawned'; threadId: number }
  /** The thread runs the execution named in a cancel notice and aborted its signal. */
  | { taskq: 'cancelling'; key: string; threadId: number }
  /** The thread imported the task modules and the serializer (once, at start-up), or could not. */
  | { taskq: 'loaded'; threadId: number }
  | { taskq: 'load-failed'; threadId: number; error: ErrorInfo }
  /** The thread ran `recycle` tasks, has none left running and refuses new ones: terminate it. */
  | { taskq: 'retire'; threadId: number; tasks: number; answered: number };

export interface WorkerData {
  /** Task module URLs. */
  tasks: string[];
  /** Serializer module URL, or null for tagged JSON. */
  serializer: string | null;
  memoryReportMs: number;
  /** Retire the thread after this many tasks (0 = never). */
  recycle: number;
  /** Executions a thread runs at once; batch items beyond it wait in the thread. */
  concurrency: number;
  /** How the thread rebuilds the package codec; null: every hand-off carries a decoded message. */
  codec: CodecRecipe | null;
  defaults: ExecutionDefaults;
  /** The BroadcastChannel on which the main thread names running executions to cancel (their `key`). */
  cancelChannel: string;
}

/** What the main thread posts on the cancel channel. */
export interface CancelNotice {
  key: string;
}
