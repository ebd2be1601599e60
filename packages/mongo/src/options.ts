import { ErrorCodes, TaskqError } from '@taskq/core';
import type { MongoClient, MongoClientOptions } from 'mongodb';

/** How a MongoBroker or MongoStore reaches MongoDB. */
export interface MongoConnectionOptions {
  /**
   * `mongodb://[user:pass@]host[:port][,host…]/[database][?options][&prefix=taskq]` or `mongodb+srv://…`.
   * Default `mongodb://127.0.0.1:27017/taskq`. The path names the database (default `taskq`); `prefix` is
   * taskq's own parameter (removed before the driver sees the URL); every other parameter goes to the driver.
   */
  url?: string;
  /** A connected or unconnected MongoClient of your own (taskq never closes it); `url` then only names the database. */
  client?: MongoClient;
  /** Extra driver options (TLS, auth, pool size, …), merged over taskq's defaults. */
  clientOptions?: MongoClientOptions;
  /** Database name; overrides the URL's path. Default `taskq`. */
  database?: string;
  /** First part of every collection name (`<prefix>_queue`, …). Default `taskq`, or the URL's `?prefix=`. */
  prefix?: string;
  /** How long `ping()` waits for the server before rejecting. Default 2000 ms. */
  pingTimeoutMs?: number;
}

export const DEFAULT_URL = 'mongodb://127.0.0.1:27017/taskq';
export const DEFAULT_DATABASE = 'taskq';
export const DEFAULT_PREFIX = 'taskq';
export const MONGO_SCHEMES = ['mongodb', 'mongodb+srv'] as const;

export interface ParsedMongoUrl {
  /** The URL as the driver gets it (without `prefix`). */
  url: string;
  database: string | undefined;
  prefix: string | undefined;
}

function configError(message: string, cause?: unknown): TaskqError {
  return new TaskqError(ErrorCodes.CONFIG, message, cause === undefined ? undefined : { cause });
}

/**
 * Splits taskq's `prefix` parameter and the database name off a MongoDB URL.
 * Works for multi-host seed lists (`mongodb://a:1,b:2/db`), which WHATWG URL cannot parse.
 */
export function parseMongoUrl(url: string): ParsedMongoUrl {
  const match = /^(mongodb(?:\+srv)?):\/\/([^/?#]*)(\/[^?#]*)?(\?[^#]*)?$/i.exec(url);
  if (!match) {
    throw configError(
      `"${url}" is not a MongoDB URL: use mongodb://host:27017/database (or mongodb+srv://cluster.example.net/database).`,
    );
  }
  const [, scheme, hosts, path = '', query = ''] = match;
  if (!hosts || /@$/.test(hosts))
    throw configError(`MongoDB URL "${url}" names no host: use mongodb://host:27017/database.`);
  const params = new URLSearchParams(query.slice(1));
  const prefix = params.get('prefix') ?? undefined;
  params.delete('prefix');
  let database: string | undefined;
  try {
    database = path.length > 1 ? decodeURIComponent(path.slice(1)) : undefined;
  } catch (error) {
    throw configError(`MongoDB URL "${url}" has a badly encoded database name.`, error);
  }
  const rest = params.toString();
  return { url: `${scheme}://${hosts}/${path.slice(1)}${rest ? `?${rest}` : ''}`, database, prefix };
}

/** MongoDB database names may not contain these (and are at most 63 bytes). */
const BAD_DATABASE = /[/\\. "$\0]/;
const PREFIX = /^[A-Za-z0-9_-]+$/;

export interface ResolvedMongoOptions {
  url: string;
  database: string;
  prefix: string;
  pingTimeoutMs: number;
}

/** Validates the options and fills the defaults; bad input rejects with TASKQ_CONFIG_INVALID. */
export function resolveMongoOptions(options: MongoConnectionOptions): ResolvedMongoOptions {
  const parsed = parseMongoUrl(options.url ?? DEFAULT_URL);
  const database = options.database ?? parsed.database ?? DEFAULT_DATABASE;
  if (database === '' || BAD_DATABASE.test(database) || Buffer.byteLength(database) > 63) {
    throw configError(
      `MongoDB database name "${database}" is invalid: use up to 63 characters without / \\ . " $ or spaces.`,
    );
  }
  const prefix = options.prefix ?? parsed.prefix ?? DEFAULT_PREFIX;
  if (!PREFIX.test(prefix)) {
    throw configError(`MongoDB collection prefix "${prefix}" is invalid: use letters, digits, "_" or "-".`);
  }
  const pingTimeoutMs = options.pingTimeoutMs ?? 2000;
  if (!(pingTimeoutMs > 0)) throw configError(`pingTimeoutMs must be a positive number of ms, got ${pingTimeoutMs}.`);
  return { url: parsed.url, database, prefix, pingTimeoutMs };
}

/** A positive number of milliseconds, or the default; anything else is a config error naming the option. */
export function positiveMs(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!(typeof value === 'number' && Number.isFinite(value) && value > 0)) {
    throw configError(`${name} must be a positive number of milliseconds, got ${String(value)}.`);
  }
  return value;
}
