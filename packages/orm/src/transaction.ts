import { resolve } from 'node:path';
import { ErrorCodes, TaskqError } from '@taskq/core';
import { sql, type CompiledQuery, type Kysely, type QueryResult } from 'kysely';
import type { SqlConnection } from './connection.js';
import type { SqlDialectName } from './options.js';

/**
 * Where a statement of the broker runs: its own pool (a Kysely instance) or the application's open transaction
 * (see {@link withTransaction}). Only `executeQuery` of a compiled query is needed.
 */
export interface StatementRunner {
  executeQuery<R>(query: CompiledQuery<R>): Promise<QueryResult<R>>;
}

/** What `transaction` accepts, per dialect: named in every refusal. */
export const ACCEPTED_HANDLES: Record<SqlDialectName, string> = {
  postgres:
    'a Kysely Transaction (or a Kysely instance bound to one connection inside BEGIN), or a pg Client/PoolClient inside BEGIN',
  mysql:
    'a Kysely Transaction (or a Kysely instance bound to one connection inside BEGIN), or a mysql2 Connection/PoolConnection (callback or promise API) inside BEGIN',
  sqlite:
    "a Kysely Transaction (or a Kysely instance bound to one connection inside BEGIN), or a better-sqlite3 Database with an open transaction (db.exec('BEGIN') … db.exec('COMMIT'))",
};

type AnyKysely = Kysely<any>; // eslint-disable-line @typescript-eslint/no-explicit-any

interface PgClientLike {
  query(text: string, values: unknown[]): Promise<{ rows: unknown[] }>;
}

type MysqlCallback = (error: Error | null, result: unknown) => void;
interface MysqlCoreLike {
  query(sql: string, values: unknown[], callback: MysqlCallback): unknown;
}

interface SqliteDatabaseLike {
  readonly inTransaction: boolean;
  readonly name: string;
  readonly memory: boolean;
  prepare(sql: string): {
    reader: boolean;
    all(...params: unknown[]): unknown[];
    run(...params: unknown[]): { changes: number; lastInsertRowid: number | bigint };
  };
}

const has = (value: object, key: string, type: 'function' | 'any' = 'function'): boolean =>
  key in value && (type === 'any' || typeof (value as Record<string, unknown>)[key] === 'function');

/** What kind of handle this is; null when none we know. Duck-typed, so another copy of a driver package works too. */
export function kindOf(
  handle: unknown,
): 'kysely' | 'pg-client' | 'pg-pool' | 'mysql' | 'mysql-promise' | 'mysql-pool' | 'sqlite' | null {
  if (typeof handle !== 'object' || handle === null) return null;
  const h = handle as object;
  if (has(h, 'executeQuery') && has(h, 'getExecutor') && has(h, 'selectFrom')) return 'kysely';
  if (has(h, 'prepare') && has(h, 'pragma') && has(h, 'inTransaction', 'any')) return 'sqlite';
  if (has(h, 'query') && has(h, 'escapeIdentifier') && has(h, 'connectionParameters', 'any')) return 'pg-client';
  if (has(h, 'query') && has(h, 'connect') && has(h, 'totalCount', 'any')) return 'pg-pool';
  if (has(h, 'getConnection') && has(h, 'query')) return 'mysql-pool';
  // the promise API wraps a callback-API connection in `.connection` (and mirrors threadId and config)
  const inner = (h as { connection?: unknown }).connection;
  if (has(h, 'query') && has(h, 'execute') && typeof inner === 'object' && inner !== null && kindOf(inner) === 'mysql')
    return 'mysql-promise';
  if (has(h, 'query') && has(h, 'execute') && has(h, 'threadId', 'any') && has(h, 'config', 'any')) return 'mysql';
  return null;
}

const DIALECT_OF_KIND = {
  'pg-client': 'postgres',
  'pg-pool': 'postgres',
  mysql: 'mysql',
  'mysql-promise': 'mysql',
  'mysql-pool': 'mysql',
  sqlite: 'sqlite',
} as const;

const KIND_NAMES = {
  kysely: 'a Kysely instance',
  'pg-client': 'a pg Client',
  'pg-pool': 'a pg Pool',
  mysql: 'a mysql2 connection',
  'mysql-promise': 'a mysql2 promise connection',
  'mysql-pool': 'a mysql2 pool',
  sqlite: 'a better-sqlite3 Database',
} as const;

const DIALECT_NAMES: Record<SqlDialectName, string> = {
  postgres: 'PostgreSQL',
  mysql: 'MySQL/MariaDB',
  sqlite: 'SQLite',
};

function invalid(connection: SqlConnection, problem: string): TaskqError {
  return new TaskqError(
    ErrorCodes.INVALID_ARGUMENT,
    `${problem} The SQL broker on ${DIALECT_NAMES[connection.dialect]} takes as \`transaction\`: ${ACCEPTED_HANDLES[connection.dialect]}.`,
  );
}

function notInTransaction(connection: SqlConnection, what: string): TaskqError {
  return invalid(
    connection,
    `The \`transaction\` (${what}) is not inside an open transaction, so the task would be enqueued whatever ` +
      'happens to your work: begin the transaction first and enqueue before COMMIT.',
  );
}

function kyselyDialect(db: AnyKysely): SqlDialectName | undefined {
  const adapter = db.getExecutor().adapter.constructor.name.toLowerCase();
  if (adapter.includes('postgres')) return 'postgres';
  if (adapter.includes('mysql')) return 'mysql';
  if (adapter.includes('sqlite')) return 'sqlite';
  return undefined;
}

/**
 * Runs `work` with a runner that executes inside the application's open transaction `handle`, after checking
 * that the handle is of a kind this dialect takes (TASKQ_INVALID_ARGUMENT naming the accepted kinds otherwise)
 * and that a transaction is open on it (a statement on a connection in autocommit mode would commit at once,
 * which is exactly the promise `transaction` must not break).
 */
export async function withTransaction<T>(
  connection: SqlConnection,
  handle: unknown,
  work: (runner: StatementRunner) => Promise<T>,
): Promise<T> {
  const kind = kindOf(handle);
  if (kind === null) {
    throw invalid(connection, 'This `transaction` is none of the handles the SQL broker knows.');
  }
  const dialect = kind === 'kysely' ? kyselyDialect(handle as AnyKysely) : DIALECT_OF_KIND[kind];
  if (dialect !== undefined && dialect !== connection.dialect) {
    throw invalid(
      connection,
      `This \`transaction\` is ${KIND_NAMES[kind]} of ${DIALECT_NAMES[dialect]}, but the broker's database is ${DIALECT_NAMES[connection.dialect]}.`,
    );
  }
  switch (kind) {
    case 'kysely':
      return withKysely(connection, handle as AnyKysely, work);
    case 'pg-client':
      return withPgClient(connection, handle as PgClientLike, work);
    case 'mysql':
    case 'mysql-promise':
      return withMysql(
        connection,
        (kind === 'mysql' ? handle : (handle as { connection: unknown }).connection) as MysqlCoreLike,
        work,
      );
    case 'sqlite':
      return withSqlite(connection, handle as SqliteDatabaseLike, work);
    case 'pg-pool':
    case 'mysql-pool':
      throw invalid(
        connection,
        'This `transaction` is a connection pool: a pool runs each statement on any of its connections, outside your ' +
          'transaction. Pass the connection you ran BEGIN on (pool.connect() / pool.getConnection()).',
      );
  }
}

async function withKysely<T>(
  connection: SqlConnection,
  db: AnyKysely,
  work: (runner: StatementRunner) => Promise<T>,
): Promise<T> {
  // A Transaction (or ControlledTransaction) is one connection inside BEGIN by construction.
  if (db.isTransaction) return work(db);
  // Anything else: take one connection (the same one when db is bound to a connection) and ask it.
  return db.connection().execute(async (conn) => {
    if (!(await kyselyInTransaction(connection.dialect, conn))) throw notInTransaction(connection, 'a Kysely instance');
    return work(conn);
  });
}

async function kyselyInTransaction(dialect: SqlDialectName, conn: AnyKysely): Promise<boolean> {
  if (dialect === 'postgres') {
    const { rows } = await sql<{ in_tx: boolean }>`select ${sql.raw(PG_IN_TRANSACTION)} as in_tx`.execute(conn);
    return rows[0]?.in_tx === true;
  }
  if (dialect === 'mysql') {
    // MariaDB 10.3+ (and MySQL 8.0.? has none: the error says to pass a Transaction)
    try {
      const { rows } = await sql<{ in_tx: number | string }>`select @@in_transaction as in_tx`.execute(conn);
      return Number(rows[0]?.in_tx) === 1;
    } catch {
      return false;
    }
  }
  // SQLite has no "in a transaction?" function: BEGIN fails inside one, and is undone at once outside one.
  try {
    await sql`begin`.execute(conn);
  } catch (error) {
    if (/within a transaction/i.test((error as Error).message)) return true;
    throw error;
  }
  await sql`rollback`.execute(conn);
  return false;
}

/**
 * PostgreSQL: inside BEGIN, the transaction's timestamp is BEGIN's and this statement's is later; in autocommit
 * each statement is its own transaction and the two are equal (microsecond resolution).
 */
const PG_IN_TRANSACTION = 'transaction_timestamp() <> statement_timestamp()';

async function withPgClient<T>(
  connection: SqlConnection,
  client: PgClientLike,
  work: (runner: StatementRunner) => Promise<T>,
): Promise<T> {
  const { rows } = await client.query(`select ${PG_IN_TRANSACTION} as in_tx`, []);
  if ((rows[0] as { in_tx?: unknown } | undefined)?.in_tx !== true) throw notInTransaction(connection, 'a pg client');
  return work({
    async executeQuery<R>(query: CompiledQuery<R>): Promise<QueryResult<R>> {
      const result = await client.query(query.sql, [...query.parameters]);
      return { rows: result.rows as R[] };
    },
  });
}

/** mysql2's OK-packet status flags. */
const SERVER_STATUS_IN_TRANS = 0x0001;
const SERVER_STATUS_AUTOCOMMIT = 0x0002;

async function withMysql<T>(
  connection: SqlConnection,
  core: MysqlCoreLike,
  work: (runner: StatementRunner) => Promise<T>,
): Promise<T> {
  const query = (text: string, values: readonly unknown[]) =>
    new Promise<unknown>((resolve, reject) => {
      core.query(text, [...values], (error, result) => (error ? reject(error) : resolve(result)));
    });
  // DO answers with an OK packet, whose status says whether a transaction is open (or autocommit is off).
  const header = (await query('DO 0', [])) as { serverStatus?: number };
  const flags = Number(header.serverStatus ?? 0);
  if ((flags & SERVER_STATUS_IN_TRANS) === 0 && (flags & SERVER_STATUS_AUTOCOMMIT) !== 0) {
    throw notInTransaction(connection, 'a mysql2 connection');
  }
  return work({
    async executeQuery<R>(compiled: CompiledQuery<R>): Promise<QueryResult<R>> {
      const result = await query(compiled.sql, compiled.parameters);
      if (Array.isArray(result)) return { rows: result as R[] };
      const { insertId, affectedRows } = result as { insertId?: number; affectedRows?: number };
      return {
        rows: [],
        ...(insertId !== undefined ? { insertId: BigInt(insertId) } : {}),
        ...(affectedRows !== undefined ? { numAffectedRows: BigInt(affectedRows) } : {}),
      };
    },
  });
}

async function withSqlite<T>(
  connection: SqlConnection,
  database: SqliteDatabaseLike,
  work: (runner: StatementRunner) => Promise<T>,
): Promise<T> {
  const own = connection.entry.sqliteFile;
  if (own !== undefined && database !== connection.entry.sqliteDatabase) {
    const theirs = database.memory ? ':memory:' : resolve(database.name);
    if (own === ':memory:' || theirs !== own) {
      throw invalid(
        connection,
        `This better-sqlite3 Database is ${theirs === ':memory:' ? 'an in-memory database' : `the file ${theirs}`}, ` +
          `not the broker's ${own === ':memory:' ? 'in-memory database' : `file ${own}`}.`,
      );
    }
  }
  // better-sqlite3 is synchronous: db.transaction(fn) commits when fn returns, before an awaited enqueue runs
  if (!database.inTransaction) {
    throw invalid(
      connection,
      'This better-sqlite3 Database has no open transaction. db.transaction(fn) cannot hold one across an `await` ' +
        "(it commits when fn returns): run db.exec('BEGIN'), await the enqueue, then db.exec('COMMIT').",
    );
  }
  return work({
    async executeQuery<R>(query: CompiledQuery<R>): Promise<QueryResult<R>> {
      // checked again at the statement: the transaction may have ended while the enqueue was on its way
      if (!database.inTransaction) throw notInTransaction(connection, 'a better-sqlite3 Database');
      const statement = database.prepare(query.sql);
      if (statement.reader) return { rows: statement.all(...query.parameters) as R[] };
      const { changes, lastInsertRowid } = statement.run(...query.parameters);
      return { rows: [], numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid) };
    },
  });
}
