import { ErrorCodes } from '../index.js';

/**
 * Exit codes of the `taskq` binary, one per class of failure so scripts and
 * process managers can tell "fix the config" from "the broker is down".
 */
export const ExitCodes = {
  OK: 0,
  /** An unexpected error (a bug, or an error with no taskq code). */
  FAILURE: 1,
  /** Bad command line: unknown command or option, missing or malformed argument. */
  USAGE: 2,
  /**
   * TASKQ_CONFIG_INVALID: the config file, a TASKQ_* variable or a flag is invalid; TASKQ_UNSUPPORTED: a
   * job-control command on a store without the `control` capability.
   */
  CONFIG: 3,
  /** TASKQ_NO_SECRET_KEY: no `secretKey` / TASKQ_SECRET_KEY. */
  NO_SECRET_KEY: 4,
  /** TASKQ_BROKER_UNAVAILABLE / TASKQ_STORE_UNAVAILABLE: the server cannot be reached. */
  UNAVAILABLE: 5,
  /** TASKQ_ADAPTER_MISSING: the URL scheme needs a package that is not installed. */
  ADAPTER_MISSING: 6,
  /** A schedule command failed: not found, invalid, duplicate name, or the store keeps no schedules. */
  SCHEDULE: 7,
  /** TASKQ_TASK_MODULE_FAILED / TASKQ_DUPLICATE_TASK: a task module in `tasks` cannot be loaded; the cluster did not start. */
  TASK_MODULE: 8,
} as const;

const BY_CODE: Record<string, number> = {
  [ErrorCodes.CONFIG]: ExitCodes.CONFIG,
  // A job-control command (cancel, queue, dead) on a store without the `control` capability: fix the config.
  [ErrorCodes.UNSUPPORTED]: ExitCodes.CONFIG,
  [ErrorCodes.NO_SECRET_KEY]: ExitCodes.NO_SECRET_KEY,
  [ErrorCodes.BROKER_UNAVAILABLE]: ExitCodes.UNAVAILABLE,
  [ErrorCodes.STORE_UNAVAILABLE]: ExitCodes.UNAVAILABLE,
  [ErrorCodes.ADAPTER_MISSING]: ExitCodes.ADAPTER_MISSING,
  [ErrorCodes.SCHEDULE_INVALID]: ExitCodes.SCHEDULE,
  [ErrorCodes.SCHEDULE_NOT_FOUND]: ExitCodes.SCHEDULE,
  [ErrorCodes.DUPLICATE_SCHEDULE]: ExitCodes.SCHEDULE,
  [ErrorCodes.TASK_MODULE]: ExitCodes.TASK_MODULE,
  [ErrorCodes.DUPLICATE_TASK]: ExitCodes.TASK_MODULE,
};

export function exitCodeFor(error: unknown): number {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? (BY_CODE[code] ?? ExitCodes.FAILURE) : ExitCodes.FAILURE;
}
