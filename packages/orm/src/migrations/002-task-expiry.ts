import { createIndex, schemaBuilder, type Migration } from './migration.js';

/** Results saved with a TTL (Django Q's `cached`): `expires_at`, NULL for results kept until pruned. */
export const taskExpiry: Migration = {
  version: 2,
  name: 'task-expiry',
  async up(context) {
    try {
      await schemaBuilder(context).alterTable(context.tables.name('tasks')).addColumn('expires_at', 'bigint').execute();
    } catch (error) {
      // ER_DUP_FIELDNAME: MySQL commits DDL at once, so a run that died before recording the version may have added it
      if (!(context.dialect === 'mysql' && (error as { errno?: number }).errno === 1060)) throw error;
    }
    await createIndex(context, 'tasks', 'expires', ['expires_at']);
  },
};
