import { ErrorCodes, TaskqError } from '@taskq/core';
import { Cluster, Redis, type ClusterNode, type ClusterOptions, type RedisOptions } from 'ioredis';

/** A single Redis server connection or a Redis Cluster client: everything this package talks to. */
export type RedisClient = Redis | Cluster;

/**
 * `WAIT <replicas> <timeoutMs>` after each write that must survive a failover (enqueue, acknowledge/delete/fail,
 * result saves): the call resolves only once that many replicas have the write, else it rejects with
 * TASKQ_BROKER_UNAVAILABLE / TASKQ_STORE_UNAVAILABLE (the write is on the master, not known to be replicated).
 */
export interface WaitOptions {
  replicas: number;
  timeoutMs: number;
}

/** How a RedisBroker or RedisStore reaches Redis. */
export interface RedisConnectionOptions {
  /**
   * `redis://[user:pass@]host:port[/db][?prefix=name]` or `rediss://…` (one server); `redis+cluster://[user:pass@]
   * h1:p1,h2:p2,…[?prefix=name]` or `rediss+cluster://…` (Redis Cluster: seed nodes, the rest is discovered); a
   * `redis://host:port?cluster=1` URL is a cluster with one seed node. Default `redis://127.0.0.1:6379`.
   */
  url?: string;
  /** An ioredis `Redis` or `Cluster` to use instead of `url`. It stays yours: `close()` does not quit it. */
  client?: RedisClient;
  /** Extra ioredis options (TLS, password, sentinels, …); merged over taskq's defaults (a cluster's `redisOptions`). */
  redis?: RedisOptions;
  /** Extra ioredis `Cluster` options for a cluster URL; merged over {@link defaultClusterOptions}. */
  cluster?: ClusterOptions;
  /** First part of every key (inside the `{…}` hash tag). Default `taskq`, or the URL's `?prefix=`. */
  prefix?: string;
  /** How long `ping()` waits before rejecting with TASKQ_BROKER_UNAVAILABLE. Default 2000 ms. */
  pingTimeoutMs?: number;
  /** Wait for replicas after the writes that matter (see {@link WaitOptions}). Default: no wait (asynchronous). */
  wait?: WaitOptions;
}

export const DEFAULT_URL = 'redis://127.0.0.1:6379';
export const DEFAULT_PREFIX = 'taskq';

/**
 * taskq's ioredis defaults: reconnect forever, quickly (a restarted Redis is
 * back within a second), and let commands wait through an outage instead of
 * failing, so a restart loses nothing.
 */
export const defaultRedisOptions: RedisOptions = {
  maxRetriesPerRequest: null,
  retryStrategy: (times) => Math.min(50 * times, 1000),
  // ioredis already keeps many commands in flight on one socket; auto-pipelining only
  // coalesces writes, and its deferral added ~0.2 ms to every round trip here.
  enableAutoPipelining: false,
};

/**
 * taskq's ioredis `Cluster` defaults: a command whose node went away, or that meets CLUSTERDOWN while a replica
 * is being promoted, is retried every 200 ms with a fresh slot map, up to 50 times (~10 s, the default
 * `brokerTimeout`), so a failover is ridden out instead of surfacing as errors.
 */
export const defaultClusterOptions: ClusterOptions = {
  enableAutoPipelining: false,
  clusterRetryStrategy: (times) => Math.min(100 * times, 1000),
  retryDelayOnFailover: 200,
  retryDelayOnClusterDown: 200,
  retryDelayOnTryAgain: 100,
  maxRedirections: 50,
  slotsRefreshInterval: 2000,
};

/** A parsed taskq Redis URL. */
export interface ParsedRedisUrl {
  /** The URL without taskq's own parameters (single server), or the first seed node (cluster). */
  url: string;
  prefix: string | undefined;
  /** Seed nodes when the URL names a Redis Cluster. */
  cluster?: { nodes: ClusterNode[]; tls: boolean; username?: string; password?: string };
}

function invalid(url: string, cause?: unknown): TaskqError {
  return new TaskqError(
    ErrorCodes.CONFIG,
    `"${url}" is not a Redis URL: use redis://host:6379[/db] or redis+cluster://host1:7000,host2:7001.`,
    cause === undefined ? undefined : { cause },
  );
}

/** Splits taskq's own `prefix` (and `cluster`) query parameters off a Redis URL. */
export function parseRedisUrl(url: string): ParsedRedisUrl {
  const match = /^(rediss?)\+cluster:\/\/(.*)$/i.exec(url);
  if (match) return parseClusterUrl(url, match[1]!.toLowerCase() === 'rediss', match[2]!);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw invalid(url, error);
  }
  const prefix = parsed.searchParams.get('prefix') ?? undefined;
  parsed.searchParams.delete('prefix');
  const cluster = parsed.searchParams.get('cluster');
  parsed.searchParams.delete('cluster');
  if (cluster === null || /^(0|false|no)$/i.test(cluster)) return { url: parsed.toString(), prefix };
  const tls = parsed.protocol === 'rediss:';
  const rest = `${parsed.username ? `${parsed.username}:${parsed.password}@` : ''}${parsed.host}${parsed.pathname}`;
  return parseClusterUrl(url, tls, `${rest}${parsed.search}`, prefix);
}

function parseClusterUrl(url: string, tls: boolean, rest: string, prefixFromQuery?: string): ParsedRedisUrl {
  const [beforeQuery = '', query = ''] = rest.split('?', 2);
  const params = new URLSearchParams(query);
  const prefix = params.get('prefix') ?? prefixFromQuery;
  const at = beforeQuery.lastIndexOf('@');
  const auth = at === -1 ? '' : beforeQuery.slice(0, at);
  let hosts = at === -1 ? beforeQuery : beforeQuery.slice(at + 1);
  const slash = hosts.indexOf('/');
  if (slash !== -1) {
    const db = hosts.slice(slash + 1);
    if (db !== '' && db !== '0') {
      throw new TaskqError(ErrorCodes.CONFIG, `"${url}": a Redis Cluster has only database 0 (drop "/${db}").`);
    }
    hosts = hosts.slice(0, slash);
  }
  const nodes = hosts
    .split(',')
    .filter((host) => host !== '')
    .map((host) => {
      const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(host);
      if (!m) throw invalid(url);
      return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2] ?? 6379) };
    });
  if (nodes.length === 0) throw invalid(url);
  const colon = auth.indexOf(':');
  const username = decodeURIComponent(colon === -1 ? auth : auth.slice(0, colon));
  const password = colon === -1 ? undefined : decodeURIComponent(auth.slice(colon + 1));
  const first = nodes[0]!;
  const cluster: NonNullable<ParsedRedisUrl['cluster']> = { nodes, tls };
  if (username !== '') cluster.username = username;
  if (password !== undefined) cluster.password = password;
  return { url: `${tls ? 'rediss' : 'redis'}://${first.host}:${first.port}`, prefix: prefix ?? undefined, cluster };
}

/** Whether a client is a Redis Cluster client. */
export function isCluster(client: RedisClient): client is Cluster {
  return client instanceof Cluster || (client as { isCluster?: boolean }).isCluster === true;
}

export function connect(options: RedisConnectionOptions): { redis: RedisClient; prefix: string; owned: boolean } {
  const parsed = options.client && options.url === undefined ? null : parseRedisUrl(options.url ?? DEFAULT_URL);
  const chosen = options.prefix ?? parsed?.prefix ?? DEFAULT_PREFIX;
  if (chosen === '' || /[{}]/.test(chosen)) {
    throw new TaskqError(ErrorCodes.CONFIG, `Redis key prefix "${chosen}" must be non-empty without "{" or "}".`);
  }
  if (options.wait) {
    const { replicas, timeoutMs } = options.wait;
    if (!Number.isInteger(replicas) || replicas < 1 || !Number.isInteger(timeoutMs) || timeoutMs < 1) {
      throw new TaskqError(
        ErrorCodes.CONFIG,
        `Redis \`wait\` needs whole numbers replicas ≥ 1 and timeoutMs ≥ 1 (got ${replicas}, ${timeoutMs}).`,
      );
    }
  }
  if (options.client) return { redis: options.client, prefix: chosen, owned: false };
  if (parsed?.cluster) {
    const { nodes, tls, username, password } = parsed.cluster;
    const { retryStrategy: _retry, ...nodeDefaults } = defaultRedisOptions;
    const redisOptions: ClusterOptions['redisOptions'] = { ...nodeDefaults };
    if (username !== undefined) redisOptions.username = username;
    if (password !== undefined) redisOptions.password = password;
    if (tls) redisOptions.tls = {};
    const { retryStrategy: _userRetry, ...userRedis } = options.redis ?? {};
    const redis = new Cluster(nodes, {
      ...defaultClusterOptions,
      ...options.cluster,
      redisOptions: { ...redisOptions, ...userRedis, ...options.cluster?.redisOptions },
    });
    return { redis, prefix: chosen, owned: true };
  }
  const redis = new Redis(parsed!.url, { ...defaultRedisOptions, ...options.redis });
  return { redis, prefix: chosen, owned: true };
}
