import { sql, type CreateTableBuilder } from 'kysely';
import { createIndex, schemaBuilder, type Migration, type MigrationContext } from './migration.js';

/**
 * Job control (ControlStore, capability `control`):
 * - `<prefix>tasks.meta`: a record's TaskMeta (progress, logs, redrivenFrom) as JSON text, NULL when it has none;
 * - `<prefix>control`: keyed values with an optional expiry (dedup keys, cancel and pause flags, progress, …);
 * - `<prefix>control_sets` and `<prefix>control_members`: counted sets (fan-in). The set row carries the set's
 *   expiry and is what concurrent adds to one set lock, one after the other.
 *
 * MySQL/MariaDB: values are MEDIUMTEXT (up to 64 KiB of UTF-8 does not fit TEXT), the tables use a binary NO PAD
 * collation where the server has one (so 'a' and 'a ' are different keys and values), and a member is keyed by its
 * SHA-256 (two VARCHAR(512) in utf8mb4 exceed InnoDB's 3072-byte key limit).
 */
export const jobControl: Migration = {
  version: 5,
  name: 'job-control',
  async up(context) {
    const { dialect, tables, db } = context;
    const schema = schemaBuilder(context);
    try {
      await schema
        .alterTable(tables.name('tasks'))
        .addColumn('meta', dialect === 'mysql' ? sql.raw('longtext') : 'text')
        .execute();
    } catch (error) {
      // ER_DUP_FIELDNAME: MySQL commits DDL at once, so a run that died before recording the version may have added it
      if (!(dialect === 'mysql' && (error as { errno?: number }).errno === 1060)) throw error;
    }

    const table = await tableOptions(context);
    await table(
      schema
        .createTable(tables.name('control'))
        .ifNotExists()
        .addColumn('key', 'varchar(512)', (c) => c.primaryKey())
        .addColumn('value', dialect === 'mysql' ? sql.raw('mediumtext') : 'text', (c) => c.notNull())
        .addColumn('expires_at', 'bigint'),
    ).execute();
    await createIndex(context, 'control', 'expires', ['expires_at']);
    if (dialect === 'postgres') {
      // listValues' `key LIKE 'ns:%'` can use a btree index only with pattern ops (unless the database collation is C)
      const name = sql.id(`${tables.prefix}control_key_pattern`);
      await sql`create index if not exists ${name} on ${tables.ref('control')} (${sql.ref('key')} varchar_pattern_ops)`.execute(
        db,
      );
    }

    await table(
      schema
        .createTable(tables.name('control_sets'))
        .ifNotExists()
        .addColumn('key', 'varchar(512)', (c) => c.primaryKey())
        .addColumn('expires_at', 'bigint'),
    ).execute();
    await createIndex(context, 'control_sets', 'expires', ['expires_at']);

    let members = schema
      .createTable(tables.name('control_members'))
      .ifNotExists()
      .addColumn('set_key', 'varchar(512)', (c) => c.notNull())
      .addColumn('member', 'varchar(512)', (c) => c.notNull());
    members =
      dialect === 'mysql'
        ? members
            .addColumn('member_hash', 'char(64)', (c) => c.notNull())
            .addPrimaryKeyConstraint(`${tables.prefix}control_members_pk`, ['set_key', 'member_hash'])
        : members.addPrimaryKeyConstraint(`${tables.prefix}control_members_pk`, ['set_key', 'member']);
    await table(members).execute();
  },
};

/** MySQL/MariaDB: utf8mb4 with a binary NO PAD collation when the server has one (MariaDB 10.2+, MySQL 8). */
async function tableOptions(
  context: MigrationContext,
): Promise<<T extends CreateTableBuilder<string, never>>(builder: T) => T> {
  if (context.dialect !== 'mysql') return (builder) => builder;
  const { rows } = await sql<{ name: string }>`
    select collation_name as name from information_schema.collations
    where collation_name in ('utf8mb4_nopad_bin', 'utf8mb4_0900_bin')`.execute(context.db);
  const names = rows.map((row) => row.name);
  const collation = names.find((n) => n === 'utf8mb4_nopad_bin') ?? names[0] ?? 'utf8mb4_bin';
  return (builder) => builder.modifyEnd(sql`default charset=utf8mb4 collate=${sql.raw(collation)}`) as typeof builder;
}
