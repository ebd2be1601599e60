import type { ErrorInfo } from '../errors.js';
import type { TaskLogEntry, TaskMeta, TaskRecord } from '../task/task.js';

/** What the main thread sends a worker thread: data only, nothing that needs `instanceof`. */
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

export type WorkerJob = ExecuteJob | HookJob;

export interface WorkerOutcome {
  ok: boolean;
  /** The thread is retiring (recycle) and did not run the job: send it again. */
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
   * What the task reported with `progress()`/`log()`, complete: the live reports travel on another port and may
   * arrive after the outcome, so the record takes this copy.
   */
  meta?: TaskMeta;
  startedAt: number;
  stoppedAt: number;
  threadId: number;
  /** The execution span's context when the thread recorded one (chain links and hooks continue from it). */
  trace?: Record<string, string>;
}

/** Messages a worker thread posts to the main thread outside of task results. */
export type WorkerMessage =
  | { taskq: 'started'; key: string; threadId: number; at: number }
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
  /** The BroadcastChannel on which the main thread names running executions to cancel (their `key`). */
  cancelChannel: string;
}

/** What the main thread posts on the cancel channel. */
export interface CancelNotice {
  key: string;
}
