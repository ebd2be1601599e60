import { ErrorCodes, TaskqError } from '@taskq/core';

/** IronMQ answered with a non-2xx status; `msg` is the `{"msg": …}` of its body. */
export class IronMqHttpError extends Error {
  override readonly name = 'IronMqHttpError';

  constructor(
    readonly status: number,
    readonly msg: string,
    readonly method: string,
    readonly path: string,
  ) {
    super(`IronMQ ${method} ${path}: ${status} ${msg}`);
  }
}

/** True when `error` is an IronMQ answer with one of `statuses`. */
export function hasStatus(error: unknown, ...statuses: number[]): error is IronMqHttpError {
  return error instanceof IronMqHttpError && statuses.includes(error.status);
}

/** A reservation that lapsed or moved on, or a message already gone: nothing left for this receipt to do. */
export function isStaleReservation(error: unknown): boolean {
  return hasStatus(error, 403, 404);
}

/** Maps an IronMQ or network failure to a TaskqError with a stable code; the original is kept as `cause`. */
export function toTaskqError(error: unknown, what: string, closed: boolean): TaskqError {
  if (error instanceof TaskqError) return error;
  if (closed) return new TaskqError(ErrorCodes.BROKER_CLOSED, `${what} was closed during the call.`, { cause: error });
  if (error instanceof IronMqHttpError) {
    const answer = `${error.status} ${error.msg}`;
    switch (error.status) {
      case 401:
        return new TaskqError(
          ErrorCodes.CONFIG,
          `${what}: IronMQ refused the token (${answer}): check the token in the URL (ironmq://TOKEN@…) or IRON_TOKEN.`,
          { cause: error },
        );
      case 403:
        return new TaskqError(
          ErrorCodes.CONFIG,
          `${what}: IronMQ refused the call (${answer}): check that the token may use this project.`,
          { cause: error },
        );
      case 404:
        return new TaskqError(
          ErrorCodes.CONFIG,
          `${what}: IronMQ answered ${answer} for ${error.method} ${error.path}: check the project id and host.`,
          { cause: error },
        );
      case 413:
        return new TaskqError(
          ErrorCodes.PAYLOAD_TOO_LARGE,
          `${what}: IronMQ refused the message (${answer}): send a smaller package or a reference to the data.`,
          { cause: error },
        );
      case 400:
        return new TaskqError(
          ErrorCodes.INVALID_ARGUMENT,
          `${what}: IronMQ rejected the request (${answer}).` +
            (/timeout/i.test(error.msg) ? ' IronMQ reservations last 30 s to 24 h: set `retry` to 30 or more.' : ''),
          { cause: error },
        );
      default:
        if (error.status >= 400 && error.status < 500 && error.status !== 408 && error.status !== 429) {
          return new TaskqError(ErrorCodes.INVALID_ARGUMENT, `${what}: IronMQ rejected the request (${answer}).`, {
            cause: error,
          });
        }
    }
    return new TaskqError(ErrorCodes.BROKER_UNAVAILABLE, `${what}: IronMQ is unavailable (${answer}).`, {
      cause: error,
    });
  }
  const reason = describeNetworkError(error);
  return new TaskqError(ErrorCodes.BROKER_UNAVAILABLE, `${what}: IronMQ is unreachable (${reason}).`, { cause: error });
}

/** `fetch failed` says little; the cause (ECONNREFUSED, a timeout, a reset) says what happened. */
export function describeNetworkError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (error.name === 'TimeoutError') return 'the request timed out';
  const cause = (error as { cause?: unknown }).cause;
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${cause.message}` : cause.message;
  }
  return error.message;
}

/** A connection that broke under the request (e.g. a pooled keep-alive socket the server closed). */
export function isConnectionReset(error: unknown): boolean {
  if (!(error instanceof Error) || error.name === 'AbortError' || error.name === 'TimeoutError') return false;
  const cause = (error as { cause?: { code?: unknown } }).cause;
  const code = cause?.code;
  return code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE';
}
