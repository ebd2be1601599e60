import { ErrorCodes, TaskqError, isTaskqError } from '@taskq/core';

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EPIPE',
  'PROTOCOL_CONNECTION_LOST',
  'ER_ACCESS_DENIED_ERROR',
  'ER_BAD_DB_ERROR',
  '57P01', // admin_shutdown
  '3D000', // invalid_catalog_name (no such database)
  '28000', // invalid_authorization_specification
  '28P01',
  'SQLITE_CANTOPEN',
]);

/** Whether an error means "cannot reach the database" rather than a bug in a query. */
export function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && CONNECTION_CODES.has(code)) return true;
  const message = String((error as Error | null)?.message ?? '');
  return /connect|terminat|closed|Connection lost/i.test(message) && !isTaskqError(error);
}

/** Wraps connection failures as TASKQ_BROKER_UNAVAILABLE (or the store's code); other errors pass through. */
export function unavailable(error: unknown, doing: string, store = false): unknown {
  if (isTaskqError(error) || !isConnectionError(error)) return error;
  return new TaskqError(
    store ? ErrorCodes.STORE_UNAVAILABLE : ErrorCodes.BROKER_UNAVAILABLE,
    `Cannot reach the database while ${doing}: ${(error as Error).message ?? String(error)}`,
    { cause: error },
  );
}
