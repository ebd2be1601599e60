import type { KeyedLimit } from '../broker/broker.js';
import type { ErrorInfo } from '../errors.js';

/** How a failed task is retried by taskq itself (beyond broker redelivery). */
export interface RetryPolicy {
  /** `fixed`: always `delayMs`; `exponential`: delayMs * 2^(attempt-1), capped at maxDelayMs. */
  backoff: 'fixed' | 'exponential';
  delayMs: number;
  maxDelayMs?: number;
  /** Add up to this fraction of random jitter (0..1). Default 0. */
  jitter?: number;
}

/** One link of a chain: a task name and its arguments, plus per-link options. */
export interface ChainLink {
  func: string;
  args: unknown[];
  options?: LinkOptions;
}

/** The task options that travel inside a package (Django Q's `q_options`). */
export interface LinkOptions {
  hook?: string;
  group?: string;
  timeout?: number | null;
  save?: boolean;
  ackFailure?: boolean;
  maxAttempts?: number;
  cached?: boolean | number;
  taskName?: string;
  retry?: RetryPolicy;
  priority?: number;
}

/** Iter bookkeeping: each sub-task knows its place so results collate in input order. */
export interface IterInfo {
  count: number;
  index: number;
  /** The iter's own id; the collated record is saved under it. */
  id: string;
  cached?: boolean | number;
}

/**
 * The task message: what a signed package carries (Django Q's task dict).
 * Times are ms since the epoch.
 */
export interface TaskMessage {
  id: string;
  name: string;
  func: string;
  args: unknown[];
  enqueuedAt: number;
  hook?: string;
  group?: string;
  save?: boolean;
  ackFailure?: boolean;
  /** Seconds; `null` means no timeout even if the cluster has one. */
  timeout?: number | null;
  maxAttempts?: number;
  cached?: boolean | number;
  retry?: RetryPolicy;
  /** Which execution this is when taskq re-enqueued it for a retry policy (1-based). */
  attempt?: number;
  chain?: ChainLink[];
  iter?: IterInfo;
  /** The queue (cluster name) the task was routed to. */
  cluster?: string;
  priority?: number;
  /** The enqueuer's trace context (W3C `traceparent`/`tracestate`), only when an OpenTelemetry propagator is active. */
  trace?: Record<string, string>;
  /** Idempotent enqueue: the key this task holds, and until when (see `dedupKey`). */
  dedup?: { key: string; mode: DedupMode };
  /** ms since the epoch: a task not started by then never runs and is saved as expired. */
  expiresAt?: number;
  /** Member of a fan-in group (`q.group(…, { then })`): the group's id, this member's position, the member count. */
  fanIn?: { id: string; index: number; count: number };
  /** The dead letter this task was redriven from. */
  redrivenFrom?: string;
  /** Its keyed limit (concurrency and rate per key), given again with every re-enqueue (retries, redrive). */
  limit?: KeyedLimit;
}

/**
 * How long a dedup key holds: `'queued'` until the task starts, `'active'` until it finishes for good,
 * `{ ttlMs }` for that long after the enqueue (whatever the task does).
 */
export type DedupMode = 'queued' | 'active' | { ttlMs: number };

/** A saved task: what result stores keep and the client API returns from `fetch`. */
export interface TaskRecord {
  id: string;
  name: string;
  func: string;
  /** The arguments, serialized by the cluster's serializer (readable JSON for the default one). */
  args: string;
  /** The return value, serialized; `null` for failures. */
  result: string | null;
  error: ErrorInfo | null;
  success: boolean;
  group: string | null;
  hook: string | null;
  cluster: string | null;
  enqueuedAt: Date;
  startedAt: Date;
  stoppedAt: Date;
  attemptCount: number;
  /**
   * What job control adds to a record, when there is any: the task's last progress and its log lines (see
   * {@link TaskMeta}), and the dead letter it was redriven from. Stores keep it as one opaque JSON value and
   * return the key only when it was saved.
   */
  meta?: TaskMeta;
}

/** Progress, logs and links kept with a task record. */
export interface TaskMeta {
  /** The last value the task passed to `progress()` (a number or small JSON). */
  progress?: unknown;
  /** The task's newest log lines, oldest first (at most MAX_TASK_LOGS; older ones are dropped and counted). */
  logs?: TaskLogEntry[];
  /** How many older log lines were dropped to keep the bound. */
  droppedLogs?: number;
  /** The dead letter (a task id) this task was redriven from. */
  redrivenFrom?: string;
}

export type TaskLogLevel = 'debug' | 'info' | 'warn' | 'error';

/** One line a task logged with `log(level, message, fields)`. */
export interface TaskLogEntry {
  /** ms since the epoch. */
  at: number;
  level: TaskLogLevel;
  message: string;
  fields?: Record<string, unknown>;
}

/** The record as the client API hands it to users: args and result decoded. */
export interface TaskResult<R = unknown> extends Omit<TaskRecord, 'args' | 'result'> {
  args: unknown[];
  result: R | undefined;
  /** Seconds from start to stop. */
  timeTaken: number;
}
