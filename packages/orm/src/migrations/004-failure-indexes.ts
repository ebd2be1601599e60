import { sql } from 'kysely';
import type { Migration } from './migration.js';

/**
 * Partial indexes over failures only (PostgreSQL and SQLite; MySQL/MariaDB
 * have no partial indexes): the failed-tasks page filtered by func, cluster
 * or group reads them instead of walking every success of that func. They
 * are small (failures are a fraction of the table) and cost a write only
 * when a task fails.
 */
export const failureIndexes: Migration = {
  version: 4,
  name: 'failure-indexes',
  async up({ db, tables, dialect }) {
    if (dialect === 'mysql') return;
    for (const column of ['func', 'cluster', 'group']) {
      const name = sql.id(`${tables.prefix}tasks_failed_${column}`);
      // PostgreSQL names indexes per schema: the index name takes no schema, the table does
      await sql`create index if not exists ${name} on ${tables.ref('tasks')} (${sql.ref(column)}, stopped_at, id) where success = 0`.execute(
        db,
      );
    }
  },
};
