import { ErrorCodes, TaskqError } from '@taskq/core';

/** How an IronMqBroker reaches IronMQ. Explicit options win over the URL, the URL over the environment. */
export interface IronMqConnectionOptions {
  /** `ironmq://TOKEN@HOST[:PORT]/PROJECT_ID[/QUEUE][?protocol=http]`; any part may come from the environment instead. */
  url?: string;
  /** OAuth token. Default: the URL's user part, else `IRON_TOKEN`. */
  token?: string;
  /** Project id. Default: the URL's first path segment, else `IRON_PROJECT_ID`. */
  projectId?: string;
  /** API host. Default: the URL's host, else `IRON_HOST`, else `mq-aws-us-east-1-1.iron.io`. */
  host?: string;
  /** Default: the URL's port, else `IRON_PORT`, else 443 for https and 80 for http. */
  port?: number;
  /** Default: the URL's `?protocol=`, else `IRON_PROTOCOL`, else `https`. */
  protocol?: 'https' | 'http';
  /** IronMQ queue name. Default: the URL's second path segment, else taskq's queue (the cluster name). */
  queueName?: string;
  /** Largest package accepted, in bytes (IronMQ plans allow 64 KB or 256 KB). Default 65,536. */
  maxPayloadBytes?: number;
  /**
   * How long one HTTP call may take, on top of a long poll's `wait`. Default: the broker's `callTimeoutMs`
   * (taskq's `brokerTimeout`, 10,000 ms unless configured).
   */
  requestTimeoutMs?: number;
  /** Where IRON_* variables are read. Default `process.env`. */
  env?: Record<string, string | undefined>;
}

/** The settings a broker runs with, every one resolved. */
export interface ResolvedIronMqOptions {
  token: string;
  projectId: string;
  host: string;
  port: number;
  protocol: 'https' | 'http';
  /** `https://host:port`, no trailing slash. */
  origin: string;
  queueName: string | undefined;
  maxPayloadBytes: number;
  /** Undefined: follow the broker's `callTimeoutMs`. */
  requestTimeoutMs: number | undefined;
}

export const DEFAULT_HOST = 'mq-aws-us-east-1-1.iron.io';
export const DEFAULT_MAX_PAYLOAD_BYTES = 65_536;
const URL_PARAMS = new Set(['protocol']);

function configError(message: string, cause?: unknown): TaskqError {
  return new TaskqError(ErrorCodes.CONFIG, message, cause === undefined ? undefined : { cause });
}

interface UrlParts {
  token?: string;
  projectId?: string;
  queueName?: string;
  host?: string;
  port?: number;
  protocol?: string;
}

/** Splits `ironmq://TOKEN@HOST[:PORT]/PROJECT[/QUEUE][?protocol=http]` into its parts (all optional). */
export function parseIronMqUrl(url: string): UrlParts {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw configError(`"${url}" is not an IronMQ URL: use ironmq://TOKEN@HOST/PROJECT_ID[/QUEUE].`, error);
  }
  if (parsed.protocol !== 'ironmq:') {
    throw configError(`"${url}" is not an IronMQ URL: it must start with ironmq:// (ironmq://TOKEN@HOST/PROJECT_ID).`);
  }
  for (const key of parsed.searchParams.keys()) {
    if (!URL_PARAMS.has(key)) {
      throw configError(`IronMQ URL parameter "${key}" is unknown: the URL takes only ?protocol=http|https.`);
    }
  }
  const segments = parsed.pathname
    .split('/')
    .filter((segment) => segment !== '')
    .map((segment) => decodeURIComponent(segment));
  if (segments.length > 2) {
    throw configError(`IronMQ URL path "${parsed.pathname}" has too many parts: use /PROJECT_ID or /PROJECT_ID/QUEUE.`);
  }
  const parts: UrlParts = {};
  if (parsed.username) parts.token = decodeURIComponent(parsed.username);
  if (parsed.password) {
    throw configError('An IronMQ URL carries the token alone before "@" (ironmq://TOKEN@HOST/…), not user:password.');
  }
  if (parsed.hostname) parts.host = parsed.hostname;
  if (parsed.port) parts.port = Number(parsed.port);
  if (segments[0]) parts.projectId = segments[0];
  if (segments[1]) parts.queueName = segments[1];
  const protocol = parsed.searchParams.get('protocol');
  if (protocol !== null) parts.protocol = protocol;
  return parts;
}

function positiveInteger(value: unknown, name: string, fix: string): number {
  const number = typeof value === 'string' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isInteger(number) || number <= 0) {
    throw configError(`IronMQ option ${name} must be a positive whole number, got ${String(value)}: ${fix}.`);
  }
  return number;
}

/** Resolves options, URL and IRON_* variables into complete settings, or throws TASKQ_CONFIG_INVALID. */
export function resolveIronMqOptions(options: IronMqConnectionOptions): ResolvedIronMqOptions {
  const env = options.env ?? process.env;
  const fromUrl = options.url === undefined ? {} : parseIronMqUrl(options.url);
  const token = options.token ?? fromUrl.token ?? env['IRON_TOKEN'];
  if (!token) {
    throw configError(
      'No IronMQ token: put it in the URL (ironmq://TOKEN@HOST/PROJECT_ID), pass `token`, or set IRON_TOKEN.',
    );
  }
  const projectId = options.projectId ?? fromUrl.projectId ?? env['IRON_PROJECT_ID'];
  if (!projectId) {
    throw configError(
      'No IronMQ project id: put it in the URL (ironmq://TOKEN@HOST/PROJECT_ID), pass `projectId`, or set IRON_PROJECT_ID.',
    );
  }
  const protocol = options.protocol ?? fromUrl.protocol ?? env['IRON_PROTOCOL'] ?? 'https';
  if (protocol !== 'https' && protocol !== 'http') {
    throw configError(`IronMQ protocol "${protocol}" is not supported: use https (the default) or http.`);
  }
  const host = options.host ?? fromUrl.host ?? env['IRON_HOST'] ?? DEFAULT_HOST;
  const rawPort = options.port ?? fromUrl.port ?? env['IRON_PORT'] ?? (protocol === 'https' ? 443 : 80);
  const port = positiveInteger(rawPort, 'port', 'set the port in the URL (HOST:PORT), `port` or IRON_PORT');
  if (port > 65_535) throw configError(`IronMQ port ${port} is out of range: use 1–65535.`);
  const queueName = options.queueName ?? fromUrl.queueName;
  if (queueName !== undefined && queueName === '') throw configError('IronMQ `queueName` must not be empty.');
  const maxPayloadBytes = positiveInteger(
    options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES,
    'maxPayloadBytes',
    "use your plan's message size limit in bytes (65536 or 262144)",
  );
  const requestTimeoutMs =
    options.requestTimeoutMs === undefined
      ? undefined
      : positiveInteger(options.requestTimeoutMs, 'requestTimeoutMs', 'use milliseconds, e.g. 10000');
  const hostPart = host.includes(':') ? `[${host}]` : host;
  return {
    token,
    projectId,
    host,
    port,
    protocol,
    origin: `${protocol}://${hostPart}:${port}`,
    queueName,
    maxPayloadBytes,
    requestTimeoutMs,
  };
}
