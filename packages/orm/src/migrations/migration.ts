import { sql, type CreateTableBuilder, type Kysely } from 'kysely';
import type { SqlDialectName } from '../options.js';
import type { Database, TableKey, Tables } from '../tables.js';

// What a numbered migration is and the DDL helpers migrations share. The migrator runs the list in
// ./index.ts; migrations import only this file, so nothing here imports the migrator (no cycle).

export interface MigrationContext {
  /** One connection, held for the whole run (the lock lives on it). */
  db: Kysely<Database>;
  tables: Tables;
  dialect: SqlDialectName;
}

export interface Migration {
  version: number;
  name: string;
  up(context: MigrationContext): Promise<void>;
}

export function schemaBuilder({ db, tables }: MigrationContext): Kysely<unknown>['schema'] {
  return tables.schema ? db.schema.withSchema(tables.schema) : db.schema;
}

/** MySQL/MariaDB tables hold any Unicode and compare names exactly (as the other dialects do). */
export function withCharset<T extends CreateTableBuilder<string, never>>(builder: T, { dialect }: MigrationContext): T {
  return (dialect === 'mysql' ? builder.modifyEnd(sql`default charset=utf8mb4 collate=utf8mb4_bin`) : builder) as T;
}

/** Index names are prefixed (PostgreSQL names them per schema). MySQL has no CREATE INDEX IF NOT EXISTS. */
export async function createIndex(
  context: MigrationContext,
  table: Exclude<TableKey, 'migrations'>,
  suffix: string,
  columns: string[],
): Promise<void> {
  const { tables, dialect } = context;
  let builder = schemaBuilder(context)
    .createIndex(`${tables.prefix}${table}_${suffix}`)
    .on(tables.name(table))
    .columns(columns);
  if (dialect !== 'mysql') builder = builder.ifNotExists();
  try {
    await builder.execute();
  } catch (error) {
    // ER_DUP_KEYNAME: a half-finished earlier run already made it
    if (dialect === 'mysql' && (error as { errno?: number }).errno === 1061) return;
    throw error;
  }
}
