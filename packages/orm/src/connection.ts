import { resolve } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, MysqlDialect, PostgresDialect, SqliteDialect, sql } from 'kysely';
import { createPool as createMysqlPool, type Pool as MysqlPool } from 'mysql2';
import pg from 'pg';
import { ErrorCodes, TaskqError } from '@taskq/core';
import { checkIdentifier, parseUrl, type SqlDialectName, type SqlOptions } from './options.js';
import { Tables, type Database } from './tables.js';
import { PgListener } from './pg-listener.js';

/** What a broker or store is given: a URL, a Kysely instance, or a driver pool / database of the app's own. */
export type SqlConnectionSource =
  | string
  | Kysely<any> // eslint-disable-line @typescript-eslint/no-explicit-any
  | pg.Pool
  | MysqlPool
  | BetterSqlite3.Database;

export interface SqlConnectOptions extends SqlOptions {
  /** Needed only for a Kysely instance whose dialect cannot be told from its adapter. */
  dialect?: SqlDialectName;
}

/**
 * One pool, shared by every broker and store of this process that uses the
 * same URL; the last `release()` closes it. Objects the app passed in are
 * never closed by taskq.
 */
class PoolEntry {
  refs = 0;
  readonly #wakers = new Map<string, Set<() => void>>();
  readonly #listeners = new Map<string, PgListener>();
  readonly #migrations = new Map<string, Promise<void>>();
  readonly #hurry = new Map<string, number>();
  /** SQLite: the database taskq talks to (its own or the app's), and its file (`:memory:` when in memory). */
  sqliteDatabase: BetterSqlite3.Database | undefined;
  sqliteFile: string | undefined;

  constructor(
    readonly db: Kysely<Database>,
    readonly dialect: SqlDialectName,
    readonly owned: boolean,
    /** How to open a dedicated PostgreSQL client for LISTEN, when we can. */
    readonly openListenClient:
      (() => Promise<{ client: pg.ClientBase; done: (broken?: boolean) => Promise<void> }>) | undefined,
    readonly registryKey: string | undefined,
  ) {}

  onWake(key: string, wake: () => void): () => void {
    let set = this.#wakers.get(key);
    if (!set) this.#wakers.set(key, (set = new Set()));
    set.add(wake);
    return () => {
      set.delete(wake);
      if (set.size === 0) this.#wakers.delete(key);
    };
  }

  wake(key: string): void {
    for (const wake of [...(this.#wakers.get(key) ?? [])]) wake();
  }

  /**
   * Poll at the shortest interval until `untilMs`: a message inserted inside an application's transaction becomes
   * visible at its COMMIT, which nothing here can hear (PostgreSQL's NOTIFY can: it is sent on commit).
   */
  hurry(key: string, untilMs: number): void {
    if ((this.#hurry.get(key) ?? 0) < untilMs) this.#hurry.set(key, untilMs);
  }

  hurrying(key: string): boolean {
    const until = this.#hurry.get(key);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.#hurry.delete(key);
    return false;
  }

  listener(tables: Tables): PgListener | undefined {
    if (this.dialect !== 'postgres' || !this.openListenClient) return undefined;
    let listener = this.#listeners.get(tables.channel);
    if (!listener) {
      listener = new PgListener(tables.channel, this.openListenClient, (queue) => this.wake(`${tables.key}|${queue}`));
      this.#listeners.set(tables.channel, listener);
    }
    return listener;
  }

  migrateOnce(tables: Tables, run: () => Promise<void>): Promise<void> {
    let done = this.#migrations.get(tables.key);
    if (!done) {
      done = run();
      this.#migrations.set(tables.key, done);
      done.catch(() => this.#migrations.delete(tables.key));
    }
    return done;
  }

  async destroy(): Promise<void> {
    await Promise.all([...this.#listeners.values()].map((l) => l.close()));
    this.#listeners.clear();
    if (this.owned) await this.db.destroy();
  }
}

const byUrl = new Map<string, PoolEntry>();
const byObject = new WeakMap<object, PoolEntry>();

/** A broker's or store's hold on a shared pool, with its table names. */
export class SqlConnection {
  #released = false;

  constructor(
    readonly entry: PoolEntry,
    readonly tables: Tables,
    readonly options: SqlConnectOptions,
  ) {}

  get db(): Kysely<Database> {
    return this.entry.db;
  }

  get dialect(): SqlDialectName {
    return this.entry.dialect;
  }

  /** The query builder scoped to our schema. */
  get q(): Kysely<Database> {
    return this.tables.scoped(this.entry.db);
  }

  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    const entry = this.entry;
    entry.refs -= 1;
    if (entry.refs > 0) return;
    if (entry.registryKey !== undefined) byUrl.delete(entry.registryKey);
    await entry.destroy();
  }
}

/** Opens (or joins) a pool for `source`. Does not contact the server; `migrate`/`ping` do. */
export function connect(source: SqlConnectionSource, options: SqlConnectOptions = {}): SqlConnection {
  const parsed = typeof source === 'string' ? parseUrl(source) : undefined;
  const prefix = checkIdentifier('table prefix', options.tablePrefix ?? parsed?.tablePrefix ?? 'taskq_', true);
  const schema = options.schema ?? parsed?.schema;
  if (schema !== undefined) checkIdentifier('schema', schema, false);
  let entry: PoolEntry;
  if (parsed) {
    checkSchemaDialect(schema, parsed.dialect);
    const key = `${parsed.dialect}|${parsed.target}`;
    // :memory: is one database per connection, so sharing it by URL is what makes broker and store meet
    entry = byUrl.get(key) ?? openUrl(parsed.dialect, parsed.target, options, key);
    byUrl.set(key, entry);
  } else {
    const object = source as Exclude<SqlConnectionSource, string>;
    entry = byObject.get(object) ?? wrapObject(object, options);
    byObject.set(object, entry);
    checkSchemaDialect(schema, entry.dialect);
  }
  entry.refs += 1;
  return new SqlConnection(entry, new Tables(entry.dialect, prefix, schema), options);
}

function checkSchemaDialect(schema: string | undefined, dialect: SqlDialectName): void {
  if (schema !== undefined && dialect !== 'postgres') {
    throw new TaskqError(
      ErrorCodes.CONFIG,
      'The `schema` option is for PostgreSQL; use `tablePrefix` on SQLite and MySQL.',
    );
  }
}

function openUrl(dialect: SqlDialectName, target: string, options: SqlConnectOptions, key: string): PoolEntry {
  const poolSize = options.poolSize ?? 10;
  if (dialect === 'sqlite') {
    const database = openSqlite(target, options.busyTimeoutMs ?? 5000);
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
    return sqliteEntry(new PoolEntry(db, dialect, true, undefined, key), database);
  }
  if (dialect === 'postgres') {
    const timeouts = {
      connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
      query_timeout: options.statementTimeoutMs ?? 60_000,
      statement_timeout: options.statementTimeoutMs ?? 60_000,
    };
    const pool = new pg.Pool({ connectionString: target, max: poolSize, ...timeouts });
    // an idle client that loses its server emits 'error' on the pool; the next query reconnects
    pool.on('error', () => {});
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    const openListenClient = async () => {
      // LISTEN waits for notifications indefinitely: only the connect is bounded.
      const client = new pg.Client({
        connectionString: target,
        connectionTimeoutMillis: timeouts.connectionTimeoutMillis,
      });
      await client.connect();
      return { client, done: () => client.end() };
    };
    return new PoolEntry(db, dialect, true, openListenClient, key);
  }
  const pool = createMysqlPool({
    uri: target,
    connectionLimit: poolSize,
    charset: 'utf8mb4',
    connectTimeout: options.connectTimeoutMs ?? 10_000,
  });
  const db = new Kysely<Database>({ dialect: new MysqlDialect({ pool }) });
  return new PoolEntry(db, dialect, true, undefined, key);
}

/** WAL lets readers and one writer work at once across processes; busy_timeout makes writers queue instead of failing. */
function openSqlite(file: string, busyTimeoutMs: number): BetterSqlite3.Database {
  const database = new BetterSqlite3(file, { timeout: busyTimeoutMs });
  database.pragma(`busy_timeout = ${Math.floor(busyTimeoutMs)}`);
  if (file !== ':memory:') database.pragma('journal_mode = WAL');
  database.pragma('synchronous = NORMAL');
  return database;
}

function wrapObject(source: Exclude<SqlConnectionSource, string>, options: SqlConnectOptions): PoolEntry {
  if (source instanceof Kysely) {
    const dialect = options.dialect ?? dialectOfKysely(source);
    return new PoolEntry(source as Kysely<Database>, dialect, false, undefined, undefined);
  }
  if (source instanceof pg.Pool) {
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: source }) });
    const openListenClient = async () => {
      const client = await source.connect();
      return { client, done: async (broken?: boolean) => client.release(broken) };
    };
    return new PoolEntry(db, 'postgres', false, openListenClient, undefined);
  }
  if (source instanceof BetterSqlite3) {
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: source }) });
    return sqliteEntry(new PoolEntry(db, 'sqlite', false, undefined, undefined), source);
  }
  if (typeof (source as MysqlPool).getConnection === 'function') {
    const db = new Kysely<Database>({ dialect: new MysqlDialect({ pool: source as MysqlPool }) });
    return new PoolEntry(db, 'mysql', false, undefined, undefined);
  }
  throw new TaskqError(
    ErrorCodes.CONFIG,
    'An SQL broker or store takes a URL, a Kysely instance, a pg.Pool, a mysql2 pool or a better-sqlite3 Database.',
  );
}

function sqliteEntry(entry: PoolEntry, database: BetterSqlite3.Database): PoolEntry {
  entry.sqliteDatabase = database;
  entry.sqliteFile = database.memory ? ':memory:' : resolve(database.name);
  return entry;
}

function dialectOfKysely(db: Kysely<unknown>): SqlDialectName {
  const adapter = db.getExecutor().adapter.constructor.name.toLowerCase();
  if (adapter.includes('postgres')) return 'postgres';
  if (adapter.includes('mysql')) return 'mysql';
  if (adapter.includes('sqlite')) return 'sqlite';
  throw new TaskqError(
    ErrorCodes.CONFIG,
    "Cannot tell this Kysely instance's dialect: pass `dialect` (sqlite, postgres or mysql).",
  );
}

/** The server's name and version, e.g. "postgres 15.4", "mariadb 10.11.6", "sqlite 3.53.2". */
export async function serverVersion(connection: SqlConnection): Promise<string> {
  const { db, dialect } = connection;
  if (dialect === 'sqlite') {
    const { rows } = await sql<{ v: string }>`select sqlite_version() as v`.execute(db);
    return `sqlite ${rows[0]?.v ?? '?'}`;
  }
  if (dialect === 'postgres') {
    const { rows } = await sql<{ v: string }>`show server_version`.execute(db).then((r) => ({
      rows: r.rows.map((row) => ({ v: String(Object.values(row as object)[0]) })),
    }));
    return `postgres ${(rows[0]?.v ?? '?').split(' ')[0]}`;
  }
  const { rows } = await sql<{ v: string }>`select version() as v`.execute(db);
  const version = rows[0]?.v ?? '?';
  const mariadb = /mariadb/i.test(version);
  return `${mariadb ? 'mariadb' : 'mysql'} ${version.replace(/-MariaDB.*$/i, '')}`;
}

/**
 * A write transaction (READ COMMITTED on MySQL/MariaDB). SQLite starts it with BEGIN IMMEDIATE: taking the
 * write lock up front makes another process's writer wait (busy_timeout)
 * instead of failing the read-then-write upgrade with SQLITE_BUSY.
 */
export async function writeTransaction<T>(
  connection: SqlConnection,
  work: (trx: Kysely<Database>) => Promise<T>,
): Promise<T> {
  if (connection.dialect === 'postgres') return connection.db.transaction().execute(work);
  if (connection.dialect === 'mysql') {
    // READ COMMITTED: InnoDB takes no gap locks, so a claim never holds up an enqueue and two
    // savers of new ids (SELECT … FOR UPDATE on missing rows, then INSERT) cannot deadlock
    return connection.db.transaction().setIsolationLevel('read committed').execute(work);
  }
  return connection.db.connection().execute(async (conn) => {
    await sql`begin immediate`.execute(conn);
    try {
      const result = await work(conn);
      await sql`commit`.execute(conn);
      return result;
    } catch (error) {
      await sql`rollback`.execute(conn).catch(() => {});
      throw error;
    }
  });
}
