import { ErrorCodes, TaskqError } from '@taskq/core';

/** What the AWS SDK puts on its errors (service exceptions and network failures alike). */
interface AwsErrorShape {
  name?: string;
  message?: string;
  code?: string;
  Code?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number };
}

const QUERY_PREFIX = 'AWS.SimpleQueueService.';

/**
 * The AWS error code: `QueueDoesNotExist`, `AccessDenied`, `ECONNREFUSED`, …
 * (the SDK's exception name; SQS's legacy query code when that is all there is).
 */
export function awsErrorCode(error: unknown): string {
  const e = (error ?? {}) as AwsErrorShape;
  const name = e.name && e.name !== 'Error' && e.name !== 'SQSServiceException' ? e.name : undefined;
  return (name ?? e.Code ?? e.code ?? 'Unknown').replace(QUERY_PREFIX, '');
}

/** Every code an error carries: the exception name and the legacy query code (`AWS.SimpleQueueService.…`). */
function codesOf(error: unknown): string[] {
  const e = (error ?? {}) as AwsErrorShape;
  return [e.name, e.Code, e.code]
    .filter((c): c is string => typeof c === 'string')
    .map((c) => c.replace(QUERY_PREFIX, ''));
}

const NO_QUEUE = new Set(['QueueDoesNotExist', 'NonExistentQueue']);
/** Receipts that are no longer in flight: acknowledging or extending them again is harmless. */
const STALE_RECEIPT = new Set(['ReceiptHandleIsInvalid', 'MessageNotInflight', 'InvalidReceiptHandle']);
const AUTH = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'InvalidClientTokenId',
  'SignatureDoesNotMatch',
  'UnrecognizedClientException',
  'MissingAuthenticationToken',
  'ExpiredToken',
  'CredentialsProviderError',
  'InvalidSecurity',
]);

export function isQueueMissing(error: unknown): boolean {
  return codesOf(error).some((c) => NO_QUEUE.has(c));
}

export function isStaleReceipt(error: unknown): boolean {
  const e = error as AwsErrorShape;
  // SQS reports an expired receipt handle as InvalidParameterValue with this wording.
  const codes = codesOf(error);
  if (codes.includes('InvalidParameterValue') && /receipt handle/i.test(e.message ?? '')) return true;
  return codes.some((c) => STALE_RECEIPT.has(c));
}

export function isAbort(error: unknown): boolean {
  return codesOf(error).includes('AbortError');
}

/**
 * Maps an SDK error to a TaskqError; the AWS error stays as `cause` (its `name`
 * is the AWS error code). The SDK has already retried throttling and transient
 * failures with its own retry strategy by the time an error gets here.
 */
export function toTaskqError(error: unknown, what: string, closed: boolean): TaskqError {
  if (error instanceof TaskqError) return error;
  const code = awsErrorCode(error);
  const message = (error as AwsErrorShape).message ?? String(error);
  if (closed) {
    return new TaskqError(ErrorCodes.BROKER_CLOSED, `${what}: the broker was closed during the call.`, {
      cause: error,
    });
  }
  if (/region is missing/i.test(message)) {
    return new TaskqError(
      ErrorCodes.CONFIG,
      `${what}: no AWS region: put it in the URL (sqs://us-east-1/…), pass \`region\`, or set AWS_REGION.`,
      { cause: error },
    );
  }
  if (codesOf(error).some((c) => AUTH.has(c)) || /credential/i.test(code)) {
    return new TaskqError(
      ErrorCodes.CONFIG,
      `${what}: SQS refused the credentials (${code}: ${message}). Check the AWS default credential chain ` +
        '(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, role) and the queue policy.',
      { cause: error },
    );
  }
  const fault = (error as AwsErrorShape).$fault;
  if (fault === 'client' && !code.includes('Throttl') && code !== 'RequestThrottled' && code !== 'OverLimit') {
    return new TaskqError(ErrorCodes.INVALID_ARGUMENT, `${what}: SQS rejected the request (${code}: ${message}).`, {
      cause: error,
    });
  }
  // Network failures, timeouts, 5xx and throttling that outlasted the SDK's retries.
  return new TaskqError(ErrorCodes.BROKER_UNAVAILABLE, `${what}: SQS is unreachable (${code}: ${message}).`, {
    cause: error,
  });
}
