import { ErrorCodes, TaskqError } from '@taskq/core';

/** Disque answered with an error reply (as opposed to a lost connection). */
export function isReplyError(error: unknown): error is Error {
  return error instanceof Error && error.name === 'ReplyError';
}

/**
 * Error replies that mean "the cluster cannot take this now" become
 * TASKQ_BROKER_UNAVAILABLE; a bad id or option becomes TASKQ_INVALID_ARGUMENT.
 * Anything else is a bug and passes through as ioredis raised it.
 */
export function mapReplyError(error: Error, what: string): Error {
  const message = error.message;
  if (/^(NOREPL|PAUSED|LEAVING)\b/.test(message)) {
    return new TaskqError(
      ErrorCodes.BROKER_UNAVAILABLE,
      `${what}: Disque refused the job (${message}). With nodes down, bring them back or lower \`replicate\` ` +
        '(e.g. ?replicate=1 in the URL).',
      { cause: error },
    );
  }
  if (/^BADID\b/.test(message)) {
    return new TaskqError(ErrorCodes.INVALID_ARGUMENT, `${what}: not a Disque job id (${message}).`, { cause: error });
  }
  if (/DELAY is greater than TTL/.test(message)) {
    return new TaskqError(
      ErrorCodes.INVALID_ARGUMENT,
      `${what}: the delay is not shorter than the job TTL; raise \`ttlSeconds\` or shorten the delay.`,
      { cause: error },
    );
  }
  return error;
}

export function unavailable(what: string, cause: unknown): TaskqError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new TaskqError(ErrorCodes.BROKER_UNAVAILABLE, `${what}: no Disque node answered (${reason}).`, { cause });
}

/** Rejects with TASKQ_BROKER_UNAVAILABLE when `promise` takes longer than `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TaskqError(ErrorCodes.BROKER_UNAVAILABLE, message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
