import { sql } from 'kysely';
import { createIndex, schemaBuilder, withCharset, type Migration } from './migration.js';

/** The queue, task results, schedules and cluster stats, with the indexes the client and dashboard query by. */
export const initial: Migration = {
  version: 1,
  name: 'initial',
  async up(context) {
    const { tables, dialect } = context;
    const text = dialect === 'mysql' ? sql.raw('longtext') : sql.raw('text');
    const schema = schemaBuilder(context);

    let queue = schema.createTable(tables.name('queue')).ifNotExists();
    queue =
      dialect === 'postgres'
        ? queue.addColumn('id', 'bigserial', (c) => c.primaryKey())
        : dialect === 'mysql'
          ? queue.addColumn('id', 'bigint', (c) => c.primaryKey().autoIncrement())
          : // AUTOINCREMENT: ids are never reused, so a stale receipt can never name a newer message
            queue.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement());
    await withCharset(
      queue
        .addColumn('queue', 'varchar(255)', (c) => c.notNull())
        // bytea on PostgreSQL: its text type cannot hold a NUL character, and a payload is any string
        .addColumn('payload', dialect === 'postgres' ? 'bytea' : text, (c) => c.notNull())
        .addColumn('priority', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('run_at', 'bigint', (c) => c.notNull())
        .addColumn('locked_until', 'bigint')
        .addColumn('deliveries', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', (c) => c.notNull()),
      context,
    ).execute();
    await createIndex(context, 'queue', 'claim', ['queue', 'priority desc', 'run_at', 'id']);
    await createIndex(context, 'queue', 'due', ['queue', 'run_at']);

    await withCharset(
      schema
        .createTable(tables.name('tasks'))
        .ifNotExists()
        .addColumn('id', 'varchar(32)', (c) => c.primaryKey())
        .addColumn('name', 'varchar(255)', (c) => c.notNull())
        .addColumn('func', 'varchar(255)', (c) => c.notNull())
        .addColumn('args', text, (c) => c.notNull())
        .addColumn('result', text)
        .addColumn('error', text)
        .addColumn('success', 'smallint', (c) => c.notNull())
        .addColumn('group', 'varchar(255)')
        .addColumn('hook', 'varchar(255)')
        .addColumn('cluster', 'varchar(255)')
        .addColumn('enqueued_at', 'bigint', (c) => c.notNull())
        .addColumn('started_at', 'bigint', (c) => c.notNull())
        .addColumn('stopped_at', 'bigint', (c) => c.notNull())
        .addColumn('attempt_count', 'integer', (c) => c.notNull().defaultTo(1)),
      context,
    ).execute();
    await createIndex(context, 'tasks', 'success_stopped', ['success', 'stopped_at']);
    await createIndex(context, 'tasks', 'stopped', ['stopped_at']);
    await createIndex(context, 'tasks', 'group', ['group']);
    await createIndex(context, 'tasks', 'name', ['name']);
    await createIndex(context, 'tasks', 'func', ['func']);

    await withCharset(
      schema
        .createTable(tables.name('schedules'))
        .ifNotExists()
        .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('name', 'varchar(255)', (c) => c.unique())
        .addColumn('func', 'varchar(255)', (c) => c.notNull())
        .addColumn('type', 'varchar(32)', (c) => c.notNull())
        .addColumn('cluster', 'varchar(255)')
        .addColumn('paused', 'smallint', (c) => c.notNull().defaultTo(0))
        .addColumn('repeats', 'integer', (c) => c.notNull().defaultTo(-1))
        .addColumn('next_run', 'bigint', (c) => c.notNull())
        .addColumn('last_task_id', 'varchar(32)')
        .addColumn('last_run_at', 'bigint')
        .addColumn('data', text, (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull()),
      context,
    ).execute();
    await createIndex(context, 'schedules', 'next_run', ['next_run']);

    await withCharset(
      schema
        .createTable(tables.name('stats'))
        .ifNotExists()
        .addColumn('key', 'varchar(255)', (c) => c.primaryKey())
        .addColumn('value', text, (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull()),
      context,
    ).execute();
  },
};
