import { ErrorCodes, TaskqError } from '@taskq/core';
import type { RedisOptions } from 'ioredis';

export interface DisqueNodeAddress {
  host: string;
  port: number;
}

/** How a DisqueBroker reaches Disque and how it adds jobs. */
export interface DisqueConnectionOptions {
  /**
   * `disque://[:password@]host1[:port],host2[:port]…[?fastack=1&replicate=1&ttl=86400&timeout=5000&discover=0]`.
   * Default `disque://127.0.0.1:7711`.
   */
  url?: string;
  /** Acknowledge with FASTACK (best-effort cluster-wide delete, fewer messages) instead of ACKJOB. Default false. */
  fastAck?: boolean;
  /** ADDJOB `REPLICATE`: nodes that must hold a copy before ADDJOB returns. Default: Disque's, min(3, cluster size). */
  replicate?: number;
  /** ADDJOB `TTL`: a job is deleted this many seconds after it was added, done or not. Default 86400 (Disque's). */
  ttlSeconds?: number;
  /** ADDJOB's `ms-timeout`: how long Disque may take to replicate a job. Default 5000. */
  addTimeoutMs?: number;
  /** Ask each node for the cluster's other nodes (HELLO) and fail over to them too. Default true. */
  discover?: boolean;
  /** How long `ping()` and each connection attempt wait. Default 2000 ms. */
  connectTimeoutMs?: number;
  /** Extra ioredis options (password, TLS, …); taskq's connection settings win where they clash. */
  redis?: RedisOptions;
}

export interface ResolvedDisqueOptions {
  nodes: DisqueNodeAddress[];
  password: string | undefined;
  fastAck: boolean;
  replicate: number | undefined;
  ttlSeconds: number;
  addTimeoutMs: number;
  discover: boolean;
  connectTimeoutMs: number;
  redis: RedisOptions;
}

export const DEFAULT_URL = 'disque://127.0.0.1:7711';
export const DEFAULT_PORT = 7711;
const QUERY_KEYS = ['fastack', 'replicate', 'ttl', 'timeout', 'discover'];

function configError(message: string): TaskqError {
  return new TaskqError(ErrorCodes.CONFIG, message);
}

function parseHost(text: string, url: string): DisqueNodeAddress {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d+))?$/.exec(text.trim());
  const host = match?.[1] ?? match?.[2];
  const port = match?.[3] === undefined ? DEFAULT_PORT : Number(match[3]);
  if (!host || !(port > 0 && port < 65536)) {
    throw configError(
      `"${text}" in "${url}" is not a Disque node: use host:port, e.g. disque://10.0.0.1:7711,10.0.0.2:7711.`,
    );
  }
  return { host, port };
}

function parseBoolean(name: string, value: string): boolean {
  if (/^(1|true|yes|on)$/i.test(value)) return true;
  if (/^(0|false|no|off)$/i.test(value)) return false;
  throw configError(`Disque URL option ${name}="${value}" must be true or false (1/0).`);
}

function positiveInteger(name: string, value: number | undefined, min = 1): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || value < min) {
    throw configError(`Disque option ${name} must be an integer >= ${min}, got ${String(value)}.`);
  }
  return value;
}

/** Splits a `disque://` URL into nodes, password and taskq's query options. */
export function parseDisqueUrl(url: string): { nodes: DisqueNodeAddress[]; password?: string; query: URLSearchParams } {
  const match = /^disque:\/\/(?:([^@/?#]*)@)?([^/?#]*)\/?(?:\?([^#]*))?$/i.exec(url);
  if (!match) {
    throw configError(`"${url}" is not a Disque URL: use disque://host:7711[,host2:7711…][?fastack=1].`);
  }
  const [, auth, hosts = '', search = ''] = match;
  const nodes =
    hosts === '' ? [{ host: '127.0.0.1', port: DEFAULT_PORT }] : hosts.split(',').map((h) => parseHost(h, url));
  const query = new URLSearchParams(search);
  for (const key of query.keys()) {
    if (!QUERY_KEYS.includes(key)) {
      throw configError(`Unknown Disque URL option "${key}": taskq knows ${QUERY_KEYS.join(', ')}.`);
    }
  }
  const password = auth === undefined ? undefined : decodeURIComponent(auth.slice(auth.indexOf(':') + 1));
  return password ? { nodes, password, query } : { nodes, query };
}

/** URL first, then explicit options over it; validated in one place. */
export function resolveOptions(options: DisqueConnectionOptions): ResolvedDisqueOptions {
  const { nodes, password, query } = parseDisqueUrl(options.url ?? DEFAULT_URL);
  const fromUrl = (key: string): number | undefined => {
    const value = query.get(key);
    if (value === null) return undefined;
    if (!/^\d+$/.test(value)) throw configError(`Disque URL option ${key}="${value}" must be a whole number.`);
    return Number(value);
  };
  const fastAck = options.fastAck ?? (query.has('fastack') ? parseBoolean('fastack', query.get('fastack')!) : false);
  const discover =
    options.discover ?? (query.has('discover') ? parseBoolean('discover', query.get('discover')!) : true);
  return {
    nodes,
    password,
    fastAck,
    discover,
    replicate: positiveInteger('replicate', options.replicate ?? fromUrl('replicate')),
    ttlSeconds: positiveInteger('ttlSeconds (ttl)', options.ttlSeconds ?? fromUrl('ttl')) ?? 86_400,
    addTimeoutMs: positiveInteger('addTimeoutMs (timeout)', options.addTimeoutMs ?? fromUrl('timeout'), 0) ?? 5000,
    connectTimeoutMs: positiveInteger('connectTimeoutMs', options.connectTimeoutMs) ?? 2000,
    redis: options.redis ?? {},
  };
}
