import { ErrorCodes, TaskqError, type ErrorCode } from '@taskq/core';

/**
 * Replies that mean "not now" rather than "wrong": a Redis Cluster mid-failover or resharding (CLUSTERDOWN,
 * TRYAGAIN, MOVED/ASK left after the client's retries), a replica being promoted (READONLY, MASTERDOWN), or a
 * server still loading its data. They are outages, like a dropped connection.
 */
const TRANSIENT_REPLY = /^(CLUSTERDOWN|TRYAGAIN|MOVED|ASK|READONLY|MASTERDOWN|LOADING)\b/;

/** Redis answered with an error (a bug or a misconfiguration): keep it as is. */
function isReplyError(error: unknown): boolean {
  return error instanceof Error && error.name === 'ReplyError' && !TRANSIENT_REPLY.test(error.message);
}

/** Maps connection failures to a stable taskq code; reply errors pass through. */
export async function guard<T>(
  code: ErrorCode,
  what: string,
  closed: () => boolean,
  call: () => Promise<T>,
): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof TaskqError || isReplyError(error)) throw error;
    if (closed()) {
      const closedCode = code === ErrorCodes.BROKER_UNAVAILABLE ? ErrorCodes.BROKER_CLOSED : ErrorCodes.STORE_CLOSED;
      throw new TaskqError(closedCode, `${what} was closed during the call.`, { cause: error });
    }
    throw new TaskqError(code, `${what}: Redis is unreachable (${(error as Error).message}).`, { cause: error });
  }
}

/** Rejects with `code` when `promise` takes longer than `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, code: ErrorCode, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TaskqError(code, message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
