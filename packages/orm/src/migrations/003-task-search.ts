import { sql } from 'kysely';
import { createIndex, type Migration, type MigrationContext } from './migration.js';

/**
 * Indexes for the dashboard's search (ResultStore.search): keyset pages on
 * (stopped_at, id) with the common filters in front, and on PostgreSQL
 * trigram GIN indexes (pg_trgm) so `ILIKE '%text%'` over args, result and
 * error does not read the whole table. Where the role may not create the
 * extension, the migration goes on without the trigram indexes: search
 * still works, by a scan (run `create extension pg_trgm` as a superuser and
 * create the three `<prefix>tasks_<column>_trgm` indexes by hand to add them).
 */
export const taskSearch: Migration = {
  version: 3,
  name: 'task-search',
  async up(context) {
    await createIndex(context, 'tasks', 'stopped_id', ['stopped_at', 'id']);
    await createIndex(context, 'tasks', 'success_stopped_id', ['success', 'stopped_at', 'id']);
    await createIndex(context, 'tasks', 'func_stopped', ['func', 'stopped_at', 'id']);
    await createIndex(context, 'tasks', 'cluster_stopped', ['cluster', 'stopped_at', 'id']);
    await createIndex(context, 'tasks', 'group_stopped', ['group', 'stopped_at', 'id']);
    if (context.dialect === 'postgres') await createTrigramIndexes(context);
  },
};

async function createTrigramIndexes(context: MigrationContext): Promise<void> {
  const { db, tables } = context;
  // the migration runs inside a transaction: a savepoint keeps a refused CREATE EXTENSION from aborting it
  await sql`savepoint taskq_trgm`.execute(db);
  try {
    await sql`create extension if not exists pg_trgm`.execute(db);
    await sql`release savepoint taskq_trgm`.execute(db);
  } catch {
    await sql`rollback to savepoint taskq_trgm`.execute(db);
  }
  const { rows } = await sql<{ schema: string }>`
    select n.nspname as schema from pg_extension e join pg_namespace n on n.oid = e.extnamespace
    where e.extname = 'pg_trgm'`.execute(db);
  const schema = rows[0]?.schema;
  if (schema === undefined) return;
  const ops = sql.raw(`${quoteIdent(schema)}.gin_trgm_ops`);
  for (const column of ['args', 'result', 'error']) {
    const name = sql.id(`${tables.prefix}tasks_${column}_trgm`);
    await sql`create index if not exists ${name} on ${tables.ref('tasks')} using gin (${sql.ref(column)} ${ops})`.execute(
      db,
    );
  }
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
