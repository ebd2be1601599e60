import { ErrorCodes, TaskqError, isTaskqError, type ErrorCode } from '@taskq/core';
import { MongoError, MongoNetworkError, MongoServerError, MongoServerSelectionError } from 'mongodb';

/** Driver errors that mean "cannot reach MongoDB", as opposed to a rejected command. */
const UNREACHABLE = new Set([
  'MongoNetworkError',
  'MongoNetworkTimeoutError',
  'MongoServerSelectionError',
  'MongoTopologyClosedError',
  'MongoNotConnectedError',
  'MongoPoolClearedError',
  'MongoServerClosedError',
]);

export function isUnreachable(error: unknown): boolean {
  if (error instanceof MongoNetworkError || error instanceof MongoServerSelectionError) return true;
  return error instanceof MongoError && UNREACHABLE.has(error.name);
}

/** A duplicate key (E11000) from an insert, update or findOneAndUpdate. */
export function isDuplicateKey(error: unknown): boolean {
  return error instanceof MongoServerError && error.code === 11000;
}

/**
 * Runs a driver call and maps connection failures to `code` (BROKER_UNAVAILABLE
 * or STORE_UNAVAILABLE, the driver's error as `cause`), or to the closed code
 * when the adapter was closed during the call. Server errors pass through.
 */
export async function guard<T>(
  code: ErrorCode,
  what: string,
  closed: () => boolean,
  call: () => Promise<T>,
): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (isTaskqError(error)) throw error;
    if (closed()) {
      const closedCode = code === ErrorCodes.BROKER_UNAVAILABLE ? ErrorCodes.BROKER_CLOSED : ErrorCodes.STORE_CLOSED;
      throw new TaskqError(closedCode, `${what} was closed during the call.`, { cause: error });
    }
    if (isUnreachable(error)) {
      throw new TaskqError(code, `${what}: MongoDB is unreachable (${(error as Error).message}).`, { cause: error });
    }
    throw error;
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
