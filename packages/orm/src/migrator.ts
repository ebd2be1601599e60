import { sql } from 'kysely';
import { MIGRATIONS } from './migrations/index.js';
import { connect, type SqlConnectOptions, type SqlConnection, type SqlConnectionSource } from './connection.js';
import { withCharset, schemaBuilder, type MigrationContext } from './migrations/migration.js';
import { unavailable } from './errors.js';

export interface MigrateResult {
  /** Versions applied by this call (empty when the database was up to date). */
  applied: number[];
  /** The newest version now in the database. */
  version: number;
}

/**
 * Applies pending migrations (what `taskq migrate` runs). Safe when several
 * processes start at once: PostgreSQL takes an advisory lock, MySQL/MariaDB
 * GET_LOCK, SQLite an immediate transaction; applied versions are recorded
 * in the `<prefix>migrations` table, so a second run is a no-op.
 */
export async function migrate(
  source: SqlConnectionSource | SqlConnection,
  options: SqlConnectOptions = {},
): Promise<MigrateResult> {
  if (typeof source === 'object' && 'tables' in source && 'entry' in source) return runMigrations(source);
  const connection = connect(source, options);
  try {
    return await runMigrations(connection);
  } catch (error) {
    throw unavailable(error, `migrating the ${connection.dialect} database`);
  } finally {
    await connection.release();
  }
}

/** Runs the migrations once per pool and table set in this process; later callers share the result. */
export function ensureMigrated(connection: SqlConnection): Promise<void> {
  return connection.entry.migrateOnce(connection.tables, async () => {
    await runMigrations(connection);
  });
}

export async function runMigrations(connection: SqlConnection): Promise<MigrateResult> {
  const { tables, dialect } = connection;
  return connection.db.connection().execute(async (db) => {
    const context: MigrationContext = { db, tables, dialect };
    const lockKey = `taskq_migrate:${tables.schema ?? ''}.${tables.prefix}`.slice(0, 64);
    if (dialect === 'postgres') {
      await sql`select pg_advisory_lock(hashtext(${lockKey}))`.execute(db);
      try {
        if (tables.schema) await sql`create schema if not exists ${sql.id(tables.schema)}`.execute(db);
        await sql`begin`.execute(db);
        try {
          const result = await applyPending(context);
          await sql`commit`.execute(db);
          return result;
        } catch (error) {
          await sql`rollback`.execute(db);
          throw error;
        }
      } finally {
        await sql`select pg_advisory_unlock(hashtext(${lockKey}))`.execute(db);
      }
    }
    if (dialect === 'mysql') {
      // DDL commits implicitly on MySQL, so the lock (not a transaction) keeps runs apart
      const { rows } = await sql<{ ok: number | null }>`select get_lock(${lockKey}, 60) as ok`.execute(db);
      if (Number(rows[0]?.ok) !== 1) throw new Error(`Timed out waiting for the migration lock ${lockKey}.`);
      try {
        return await applyPending(context);
      } finally {
        await sql`select release_lock(${lockKey})`.execute(db);
      }
    }
    await sql`begin immediate`.execute(db);
    try {
      const result = await applyPending(context);
      await sql`commit`.execute(db);
      return result;
    } catch (error) {
      await sql`rollback`.execute(db);
      throw error;
    }
  });
}

async function applyPending(context: MigrationContext): Promise<MigrateResult> {
  const { db, tables } = context;
  await withCharset(
    schemaBuilder(context)
      .createTable(tables.name('migrations'))
      .ifNotExists()
      .addColumn('version', 'integer', (c) => c.primaryKey())
      .addColumn('name', 'varchar(255)', (c) => c.notNull())
      .addColumn('applied_at', 'bigint', (c) => c.notNull()),
    context,
  ).execute();
  const q = tables.scoped(db);
  const rows = await q.selectFrom(tables.name('migrations')).select('version').execute();
  const done = new Set(rows.map((row) => Number(row.version)));
  const applied: number[] = [];
  for (const migration of MIGRATIONS) {
    if (done.has(migration.version)) continue;
    await migration.up(context);
    await q
      .insertInto(tables.name('migrations'))
      .values({ version: migration.version, name: migration.name, applied_at: Date.now() })
      .execute();
    applied.push(migration.version);
  }
  const version = Math.max(0, ...done, ...applied);
  return { applied, version };
}
