import { ErrorCodes, TaskqError, toErrorInfo } from '../errors.js';
import type { WorkerOutcome } from '../cluster/jobs.js';

export type StopReason = 'cancelled' | 'expired';

const STOPPED_CODES: ReadonlySet<string> = new Set([ErrorCodes.TASK_CANCELLED, ErrorCodes.TASK_EXPIRED]);

/** Whether a saved error says the task was stopped on purpose (cancelled or expired): final, never retried. */
export function isStoppedCode(code: string | undefined): boolean {
  return code !== undefined && STOPPED_CODES.has(code);
}

/** The outcome saved for a task that was not run because it was cancelled or had expired when claimed. */
export function stoppedOutcome(reason: StopReason, expiresAt?: number): WorkerOutcome {
  const now = Date.now();
  const error =
    reason === 'cancelled'
      ? new TaskqError(ErrorCodes.TASK_CANCELLED, 'The task was cancelled before it started.')
      : new TaskqError(
          ErrorCodes.TASK_EXPIRED,
          `The task was not started before it expired (${new Date(expiresAt ?? now).toISOString()}), so it never ran.`,
        );
  return { ok: false, stopped: reason, error: toErrorInfo(error), startedAt: now, stoppedAt: now, threadId: -1 };
}
