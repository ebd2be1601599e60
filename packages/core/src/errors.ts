/**
 * Every error taskq raises is a TaskqError with a stable `code`. Codes cross
 * thread and process boundaries as plain strings, so callers never rely on
 * `instanceof` to tell errors apart.
 */
export const ErrorCodes = {
  /** Configuration is invalid; the message names the option and the fix. */
  CONFIG: 'TASKQ_CONFIG_INVALID',
  /** No secret key was configured where signing is required. */
  NO_SECRET_KEY: 'TASKQ_NO_SECRET_KEY',
  /** A package's signature does not match (forged, or another key or cluster name). */
  BAD_SIGNATURE: 'TASKQ_BAD_SIGNATURE',
  /** A package is not in the taskq format (truncated, random bytes, bad encoding). */
  BAD_PACKAGE: 'TASKQ_BAD_PACKAGE',
  /** A package is older than `maxAge`. */
  PACKAGE_EXPIRED: 'TASKQ_PACKAGE_EXPIRED',
  /** A value cannot be serialized (functions, symbols, class instances with no encoding). */
  NOT_SERIALIZABLE: 'TASKQ_NOT_SERIALIZABLE',
  /** The task name is not exported by any configured task module. */
  UNKNOWN_TASK: 'TASKQ_UNKNOWN_TASK',
  /** Two task modules export the same task name. */
  DUPLICATE_TASK: 'TASKQ_DUPLICATE_TASK',
  /** A task module could not be imported. */
  TASK_MODULE: 'TASKQ_TASK_MODULE_FAILED',
  /** The task ran past its timeout and was stopped. */
  TASK_TIMEOUT: 'TASKQ_TASK_TIMEOUT',
  /** The worker thread running the task died (another task's timeout, out of memory, crash). */
  WORKER_LOST: 'TASKQ_WORKER_LOST',
  /** The task function threw (the original error is kept as `cause`). */
  TASK_FAILED: 'TASKQ_TASK_FAILED',
  /** The broker was closed; no further calls are accepted. */
  BROKER_CLOSED: 'TASKQ_BROKER_CLOSED',
  /** The broker could not be reached. */
  BROKER_UNAVAILABLE: 'TASKQ_BROKER_UNAVAILABLE',
  /** The payload exceeds the broker's `maxPayloadBytes`. */
  PAYLOAD_TOO_LARGE: 'TASKQ_PAYLOAD_TOO_LARGE',
  /** A broker or store URL names a scheme whose package is not installed. */
  ADAPTER_MISSING: 'TASKQ_ADAPTER_MISSING',
  /** The result store was closed. */
  STORE_CLOSED: 'TASKQ_STORE_CLOSED',
  /** The store could not be reached. */
  STORE_UNAVAILABLE: 'TASKQ_STORE_UNAVAILABLE',
  /** The store refused a task's record (too large, invalid for it): the task is saved as this failure instead. */
  RESULT_NOT_SAVED: 'TASKQ_RESULT_NOT_SAVED',
  /** A result was waited for and did not arrive in time. */
  WAIT_TIMEOUT: 'TASKQ_WAIT_TIMEOUT',
  /** The cluster is not in a state that allows the call (e.g. start twice). */
  CLUSTER_STATE: 'TASKQ_CLUSTER_STATE',
  /** A schedule is invalid (bad cron, unknown type, Minutes without minutes, …). */
  SCHEDULE_INVALID: 'TASKQ_SCHEDULE_INVALID',
  /** A schedule with that name already exists. */
  DUPLICATE_SCHEDULE: 'TASKQ_DUPLICATE_SCHEDULE',
  /** The schedule does not exist. */
  SCHEDULE_NOT_FOUND: 'TASKQ_SCHEDULE_NOT_FOUND',
  /** An argument to a public function is invalid. */
  INVALID_ARGUMENT: 'TASKQ_INVALID_ARGUMENT',
  /** The task was cancelled (`q.cancel`, `q.cancelGroup`, `taskq tasks cancel`) before or while it ran. */
  TASK_CANCELLED: 'TASKQ_TASK_CANCELLED',
  /** The task was not started before its `expiresAt`/`expiresIn` and never ran. */
  TASK_EXPIRED: 'TASKQ_TASK_EXPIRED',
  /** A fan-in callback did not run because a member failed (`onFailure: 'skip'`). */
  GROUP_MEMBER_FAILED: 'TASKQ_GROUP_MEMBER_FAILED',
  /** The configured parts cannot do what was asked (e.g. a store without job control). */
  UNSUPPORTED: 'TASKQ_UNSUPPORTED',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class TaskqError extends Error {
  override readonly name = 'TaskqError';
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** Stable codes survive `structuredClone` and JSON, so test the code, not the class. */
export function isTaskqError(error: unknown, code?: ErrorCode): error is TaskqError {
  if (typeof error !== 'object' || error === null) return false;
  const candidate = error as { code?: unknown };
  if (typeof candidate.code !== 'string' || !candidate.code.startsWith('TASKQ_')) return false;
  return code === undefined || candidate.code === code;
}

/** How an error is stored with a failed task: data, not a string. */
export interface ErrorInfo {
  name: string;
  message: string;
  stack?: string;
  code?: string;
  /** On a saved task failure: the retry budget it ran under (0 = unlimited); see `awaitsRetry`. */
  maxAttempts?: number;
  /** On a saved task failure: `ackFailure` made it final. */
  ackFailure?: boolean;
}

export function toErrorInfo(error: unknown): ErrorInfo {
  if (error instanceof Error) {
    const info: ErrorInfo = { name: error.name, message: error.message };
    if (error.stack !== undefined) info.stack = error.stack;
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string') info.code = code;
    return info;
  }
  return { name: 'NonError', message: String(error) };
}
