import { ErrorCodes, TaskqError } from '@taskq/core';
import { Redis, type RedisOptions } from 'ioredis';

/** How a RedisBroker or RedisStore reaches Redis. */
export interface RedisConnectionOptions {
  /** `redis://[user:pass@]host:port[/db][?prefix=name]` or `rediss://…`. Default `redis://127.0.0.1:6379`. */
  url?: string;
  /** Extra ioredis options (TLS, password, sentinels, …); merged over taskq's defaults. */
  redis?: RedisOptions;
  /** First part of every key (inside the `{…}` hash tag). Default `taskq`, or the URL's `?prefix=`. */
  prefix?: string;
  /** How long `ping()` waits before rejecting with TASKQ_BROKER_UNAVAILABLE. Default 2000 ms. */
  pingTimeoutMs?: number;
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

/** Splits taskq's own `prefix` query parameter off a Redis URL. */
export function parseRedisUrl(url: string): { url: string; prefix: string | undefined } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw new TaskqError(ErrorCodes.CONFIG, `"${url}" is not a Redis URL: use redis://host:6379[/db].`, {
      cause: error,
    });
  }
  const prefix = parsed.searchParams.get('prefix') ?? undefined;
  parsed.searchParams.delete('prefix');
  return { url: parsed.toString(), prefix };
}

export function connect(options: RedisConnectionOptions): { redis: Redis; prefix: string } {
  const { url, prefix } = parseRedisUrl(options.url ?? DEFAULT_URL);
  const chosen = options.prefix ?? prefix ?? DEFAULT_PREFIX;
  if (chosen === '' || /[{}]/.test(chosen)) {
    throw new TaskqError(ErrorCodes.CONFIG, `Redis key prefix "${chosen}" must be non-empty without "{" or "}".`);
  }
  const redis = new Redis(url, { ...defaultRedisOptions, ...options.redis });
  return { redis, prefix: chosen };
}
