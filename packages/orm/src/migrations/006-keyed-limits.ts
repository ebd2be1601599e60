import { sql } from 'kysely';
import { createIndex, schemaBuilder, type Migration } from './migration.js';

/**
 * Keyed limits (capability keyedLimits, enforced on PostgreSQL; see limit-ops.ts): `<prefix>queue.limit_key`,
 * the `<prefix>limits` table (a key's concurrency and rate and its turn) and `<prefix>limit_starts` (the
 * sliding-window log of deliveries). The column and tables exist on every dialect so the schema is one; only
 * PostgreSQL's broker uses them.
 */
export const keyedLimits: Migration = {
  version: 6,
  name: 'keyed-limits',
  async up(context) {
    const { dialect, tables, db } = context;
    const schema = schemaBuilder(context);
    try {
      await schema.alterTable(tables.name('queue')).addColumn('limit_key', 'varchar(255)').execute();
    } catch (error) {
      // ER_DUP_FIELDNAME: MySQL commits DDL at once, so a run that died before recording the version may have added it
      if (!(dialect === 'mysql' && (error as { errno?: number }).errno === 1060)) throw error;
    }
    await schema
      .createTable(tables.name('limits'))
      .ifNotExists()
      .addColumn('queue', 'varchar(255)', (c) => c.notNull())
      .addColumn('key', 'varchar(255)', (c) => c.notNull())
      .addColumn('concurrency', 'integer')
      .addColumn('rate_max', 'integer')
      .addColumn('rate_per_ms', 'bigint')
      .addColumn('turn', 'bigint', (c) => c.notNull().defaultTo(0))
      .addPrimaryKeyConstraint(`${tables.prefix}limits_pk`, ['queue', 'key'])
      .execute();
    await schema
      .createTable(tables.name('limit_starts'))
      .ifNotExists()
      .addColumn('queue', 'varchar(255)', (c) => c.notNull())
      .addColumn('key', 'varchar(255)', (c) => c.notNull())
      .addColumn('at', 'bigint', (c) => c.notNull())
      .execute();
    await createIndex(context, 'limit_starts', 'window', ['queue', 'key', 'at']);
    if (dialect === 'postgres') {
      // The limited claim reads one key's waiting and running messages; the plain claim never looks at them.
      const limited = sql.id(`${tables.prefix}queue_limited`);
      await sql`create index if not exists ${limited} on ${tables.ref('queue')} (queue, limit_key, priority desc, run_at, id)
        where limit_key is not null`.execute(db);
    }
  },
};
