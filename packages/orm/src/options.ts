import { ErrorCodes, TaskqError } from '@taskq/core';

export type SqlDialectName = 'sqlite' | 'postgres' | 'mysql';

/** Options shared by the broker, the store and `migrate()`. */
export interface SqlOptions {
  /** Prepended to every table name (default `taskq_`), so several apps or test runs share one database. */
  tablePrefix?: string;
  /** PostgreSQL schema for the tables (created by the migrations when missing). Default: the search path. */
  schema?: string;
  /** Run pending migrations when the broker or store starts (default true). */
  migrate?: boolean;
  /** Connections in the pool for PostgreSQL and MySQL/MariaDB (default 10). */
  poolSize?: number;
  /**
   * PostgreSQL and MySQL/MariaDB: how long opening a connection may take, in ms (default 10000). A host that accepts
   * the TCP connection and never answers is then TASKQ_*_UNAVAILABLE instead of a hang.
   */
  connectTimeoutMs?: number;
  /** PostgreSQL: longest wait for one query's answer, in ms (default 60000); the server cancels it too. */
  statementTimeoutMs?: number;
  /** SQLite: how long a writer waits for another process's lock, in ms (default 5000). */
  busyTimeoutMs?: number;
  /** Shortest and longest sleep between polls while idle, in ms (defaults 100 and 1000; PostgreSQL's LISTEN wakes it sooner). */
  pollMinMs?: number;
  pollMaxMs?: number;
}

/** A connection URL split into what the driver needs and taskq's own query parameters. */
export interface ParsedUrl {
  dialect: SqlDialectName;
  /** Driver connection string (postgres/mysql) or file path (sqlite, `:memory:` for in-memory). */
  target: string;
  tablePrefix?: string;
  schema?: string;
}

const DIALECTS: Record<string, SqlDialectName> = {
  sqlite: 'sqlite',
  sqlite3: 'sqlite',
  postgres: 'postgres',
  postgresql: 'postgres',
  mysql: 'mysql',
  mariadb: 'mysql',
};

export const SQL_SCHEMES = ['sqlite', 'postgres', 'postgresql', 'mysql', 'mariadb'] as const;

/**
 * `sqlite:./taskq.sqlite`, `sqlite:/abs/file.db`, `sqlite::memory:`,
 * `postgres://user@host:5432/db?schema=s&prefix=p_`, `mysql://root@host:3306/db?prefix=p_`
 * (`mariadb://` is an alias of `mysql://`).
 */
export function parseUrl(url: string): ParsedUrl {
  const match = /^([a-z0-9]+):(.*)$/i.exec(url);
  const dialect = match?.[1] ? DIALECTS[match[1].toLowerCase()] : undefined;
  if (!match || dialect === undefined) {
    throw new TaskqError(
      ErrorCodes.CONFIG,
      `"${url}" is not an SQL URL: use sqlite:./taskq.sqlite, postgres://user@host:5432/db or mysql://user@host:3306/db.`,
    );
  }
  const [rest, query = ''] = splitQuery(match[2] ?? '');
  const params = new URLSearchParams(query);
  const tablePrefix = params.get('prefix') ?? params.get('tablePrefix') ?? undefined;
  const schema = params.get('schema') ?? undefined;
  for (const own of ['prefix', 'tablePrefix', 'schema']) params.delete(own);
  const parsed: ParsedUrl = { dialect, target: '' };
  if (tablePrefix !== undefined) parsed.tablePrefix = tablePrefix;
  if (schema !== undefined) parsed.schema = schema;
  if (dialect === 'sqlite') {
    // sqlite:///abs/path and sqlite://./rel keep working alongside sqlite:./rel
    let path = rest.startsWith('//') ? rest.slice(2) : rest;
    if (path === '' || path === ':memory:') path = ':memory:';
    parsed.target = path;
    return parsed;
  }
  const remaining = params.toString();
  const scheme = dialect === 'mysql' ? 'mysql' : 'postgres';
  parsed.target = `${scheme}:${rest}${remaining ? `?${remaining}` : ''}`;
  return parsed;
}

function splitQuery(value: string): [string, string] {
  const at = value.indexOf('?');
  return at === -1 ? [value, ''] : [value.slice(0, at), value.slice(at + 1)];
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,40}$/;

/** Prefixes and schemas end up in DDL, so only plain identifiers are accepted. */
export function checkIdentifier(kind: string, value: string, allowEmpty: boolean): string {
  if ((allowEmpty && value === '') || IDENTIFIER.test(value)) return value;
  throw new TaskqError(
    ErrorCodes.CONFIG,
    `SQL ${kind} "${value}" is not a plain identifier (letters, digits and _, at most 41 characters).`,
  );
}
