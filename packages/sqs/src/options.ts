import type { SQSClientConfig } from '@aws-sdk/client-sqs';
import { ErrorCodes, TaskqError, type BrokerFactoryOptions } from '@taskq/core';

/** How an SqsBroker reaches SQS and names its queue. */
export interface SqsConnectionOptions {
  /** `sqs://REGION[/PREFIX][?endpoint=…&fifo=true&createQueue=false&messageGroupId=…&maxAttempts=N]`. */
  url?: string;
  /** AWS region; default the URL's host, else the SDK's default chain (AWS_REGION, ~/.aws/config). */
  region?: string;
  /** Custom endpoint (fauxqs, LocalStack, a VPC endpoint); requests always go here, whatever the queue URL says. */
  endpoint?: string;
  /** Prepended verbatim to the taskq queue name to make the SQS queue name. Default '' (or the URL path). */
  queuePrefix?: string;
  /** A FIFO queue (the name gets `.fifo`). Default false. */
  fifo?: boolean;
  /** Create the queue when it does not exist (first use, or deleted meanwhile). Default true. */
  createQueue?: boolean;
  /** Attributes for a queue this broker creates, e.g. `{ MessageRetentionPeriod: '1209600' }`. */
  queueAttributes?: Record<string, string>;
  /**
   * FIFO only: the message group of each message. Default: a fresh group per message, so deliveries run in
   * parallel and FIFO gives exactly-once sending (deduplication). A constant runs the queue strictly in order,
   * one message at a time.
   */
  messageGroupId?: string | ((payload: string) => string);
  /** FIFO only: the deduplication id of each message. Default a random UUID per enqueue call. */
  deduplicationId?: (payload: string) => string;
  /** Extra SQSClient options (credentials, maxAttempts, retryStrategy, requestHandler, …); merged over ours. */
  client?: SQSClientConfig;
  /** How long `ping()` waits before rejecting with TASKQ_BROKER_UNAVAILABLE. Default 5000 ms. */
  pingTimeoutMs?: number;
}

export interface SqsBrokerOptions extends BrokerFactoryOptions, SqsConnectionOptions {}

export interface ResolvedSqsOptions {
  queueName: string;
  fifo: boolean;
  createQueue: boolean;
  queueAttributes: Record<string, string>;
  messageGroupId: string | ((payload: string) => string) | undefined;
  deduplicationId: ((payload: string) => string) | undefined;
  client: SQSClientConfig;
  pingTimeoutMs: number;
  /** Visibility timeout in whole seconds (SQS takes integers). */
  visibilitySeconds: number;
}

/** SQS limits that shape the broker. */
export const SQS_LIMITS = {
  /** Entries per SendMessageBatch / DeleteMessageBatch / ChangeMessageVisibilityBatch, messages per receive. */
  batch: 10,
  /** Longest long poll of one ReceiveMessage. */
  maxWaitSeconds: 20,
  /** Longest DelaySeconds. */
  maxDelaySeconds: 900,
  /** Longest visibility timeout (12 hours). */
  maxVisibilitySeconds: 43_200,
  /** Largest message and largest batch (body + attributes), the default MaximumMessageSize since August 2025. */
  maxMessageBytes: 1_048_576,
} as const;

const QUEUE_NAME = /^[A-Za-z0-9_-]{1,80}$/;
const FIFO_SUFFIX = '.fifo';

function configError(message: string, cause?: unknown): TaskqError {
  return new TaskqError(ErrorCodes.CONFIG, message, cause === undefined ? undefined : { cause });
}

function parseBoolean(name: string, value: string | null): boolean | undefined {
  if (value === null) return undefined;
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw configError(`SQS URL option "${name}=${value}" must be true or false.`);
}

/** The parts of an `sqs://` URL, as options. */
export function parseSqsUrl(url: string): SqsConnectionOptions {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw configError(`"${url}" is not an SQS URL: use sqs://REGION[/PREFIX][?endpoint=http://host:port].`, error);
  }
  if (parsed.protocol !== 'sqs:') {
    throw configError(`"${url}" is not an SQS URL: it must start with sqs://.`);
  }
  if (parsed.username || parsed.password) {
    throw configError(
      'Do not put AWS credentials in the sqs:// URL: the SDK reads them from its default chain ' +
        '(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, SSO, an instance or task role), or pass `client.credentials`.',
    );
  }
  const options: SqsConnectionOptions = {};
  if (parsed.hostname) options.region = parsed.hostname;
  const prefix = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (prefix) options.queuePrefix = prefix;
  const known = new Set(['endpoint', 'fifo', 'createQueue', 'messageGroupId', 'maxAttempts']);
  for (const key of parsed.searchParams.keys()) {
    if (!known.has(key)) {
      throw configError(`Unknown SQS URL option "${key}": use ${[...known].join(', ')}.`);
    }
  }
  const q = parsed.searchParams;
  const endpoint = q.get('endpoint');
  if (endpoint !== null) options.endpoint = endpoint;
  const fifo = parseBoolean('fifo', q.get('fifo'));
  if (fifo !== undefined) options.fifo = fifo;
  const createQueue = parseBoolean('createQueue', q.get('createQueue'));
  if (createQueue !== undefined) options.createQueue = createQueue;
  const group = q.get('messageGroupId');
  if (group !== null) options.messageGroupId = group;
  const maxAttempts = q.get('maxAttempts');
  if (maxAttempts !== null) {
    const n = Number(maxAttempts);
    if (!Number.isInteger(n) || n < 1) {
      throw configError(
        `SQS URL option "maxAttempts=${maxAttempts}" must be a positive integer (SDK attempts per call).`,
      );
    }
    options.client = { maxAttempts: n };
  }
  return options;
}

/** URL first, explicit options over it; validated. */
export function resolveSqsOptions(options: SqsBrokerOptions): ResolvedSqsOptions {
  const fromUrl = options.url === undefined ? {} : parseSqsUrl(options.url);
  const merged: SqsConnectionOptions = { ...fromUrl, ...definedOnly(options) };
  const fifo = merged.fifo ?? false;
  const base = `${merged.queuePrefix ?? ''}${options.queue}`;
  const queueName = fifo && !base.endsWith(FIFO_SUFFIX) ? `${base}${FIFO_SUFFIX}` : base;
  const bare = fifo ? queueName.slice(0, -FIFO_SUFFIX.length) : queueName;
  if (!QUEUE_NAME.test(bare) || queueName.length > 80) {
    throw configError(
      `SQS queue name "${queueName}" (queuePrefix + queue) is invalid: SQS takes 1-80 letters, digits, "-" and "_"` +
        `${fifo ? ' (".fifo" included)' : ''}. Rename the cluster/queue or change the prefix.`,
    );
  }
  if (!fifo && queueName.endsWith(FIFO_SUFFIX)) {
    throw configError(`SQS queue "${queueName}" ends with .fifo: set fifo: true (or ?fifo=true) for a FIFO queue.`);
  }
  if (merged.endpoint !== undefined) {
    try {
      const endpoint = new URL(merged.endpoint);
      if (endpoint.protocol !== 'http:' && endpoint.protocol !== 'https:') throw new Error(endpoint.protocol);
    } catch (error) {
      throw configError(`SQS endpoint "${merged.endpoint}" must be an http:// or https:// URL.`, error);
    }
  }
  if (merged.messageGroupId !== undefined && !fifo) {
    throw configError('messageGroupId applies to FIFO queues only: set fifo: true or drop messageGroupId.');
  }
  const visibilitySeconds = Math.ceil(options.retrySeconds);
  if (visibilitySeconds > SQS_LIMITS.maxVisibilitySeconds) {
    throw configError(
      `retry ${options.retrySeconds} s exceeds SQS's longest visibility timeout (${SQS_LIMITS.maxVisibilitySeconds} s): lower \`retry\`.`,
    );
  }
  const pingTimeoutMs = merged.pingTimeoutMs ?? 5000;
  if (!(pingTimeoutMs > 0)) throw configError(`pingTimeoutMs must be > 0, got ${pingTimeoutMs}.`);
  const client: SQSClientConfig = { ...fromUrl.client, ...options.client };
  if (merged.region !== undefined) client.region ??= merged.region;
  if (merged.endpoint !== undefined) client.endpoint ??= merged.endpoint;
  return {
    queueName,
    fifo,
    createQueue: merged.createQueue ?? true,
    queueAttributes: merged.queueAttributes ?? {},
    messageGroupId: merged.messageGroupId,
    deduplicationId: merged.deduplicationId,
    client,
    pingTimeoutMs,
    visibilitySeconds,
  };
}

function definedOnly(options: SqsBrokerOptions): SqsConnectionOptions {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    if (value !== undefined && key !== 'url' && key !== 'client' && key !== 'queue' && key !== 'retrySeconds') {
      out[key] = value;
    }
  }
  return out as SqsConnectionOptions;
}
