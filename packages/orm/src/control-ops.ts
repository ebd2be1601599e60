import { createHash } from 'node:crypto';
import { sql, type ExpressionBuilder } from 'kysely';
import { writeTransaction, type SqlConnection } from './connection.js';
import type { Database } from './tables.js';

/*
 * Job control (ControlStore) in `<prefix>control`, `<prefix>control_sets` and `<prefix>control_members`
 * (migration 5). Every call that must be atomic across processes is one conditional statement or one
 * transaction that locks the row it decides on.
 *
 * Clock: expiries are this process's Date.now() plus the ttl, and "expired" is compared with this process's
 * Date.now() again, as the queue's leases (queue-ops.ts) and the results' TTLs (sql-store.ts) are: processes
 * sharing a database are expected to keep their clocks in sync (NTP). The database's clock is never read.
 */

const CHUNK = 1000;
const ATTEMPTS = 8;

/** Rows whose expiry has not passed (or that have none). */
function live(now: number) {
  return (eb: ExpressionBuilder<Database, 'control' | 'control_sets'>) =>
    eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]);
}

function expiry(now: number, ttlMs: number | null): number | null {
  return ttlMs === null ? null : now + Math.max(1, Math.round(ttlMs));
}

/** Lost races the caller retries: a duplicate key from a concurrent insert, or a deadlock victim. */
function isRace(error: unknown): boolean {
  const { errno, code } = error as { errno?: number; code?: string };
  return errno === 1062 || errno === 1213 || code === '40P01' || code === '23505';
}

async function retrying<T>(work: () => Promise<T | undefined>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      const outcome = await work();
      if (outcome !== undefined) return outcome;
    } catch (error) {
      if (!isRace(error) || attempt >= ATTEMPTS) throw error;
    }
    if (attempt >= ATTEMPTS) throw new Error(`gave up after ${ATTEMPTS} attempts lost to concurrent writers`);
  }
}

/** Sets the key unless it holds a live value; returns null when this call set it, else the live value. */
export function claimValue(
  connection: SqlConnection,
  key: string,
  value: string,
  ttlMs: number | null,
): Promise<string | null> {
  return retrying(() =>
    connection.dialect === 'mysql'
      ? claimLocked(connection, key, value, ttlMs)
      : claimUpsert(connection, key, value, ttlMs),
  );
}

/**
 * PostgreSQL and SQLite: one INSERT … ON CONFLICT DO UPDATE … WHERE the held value has expired, RETURNING: a row
 * back means this call set it. Otherwise read the holder; undefined (retry) when it went away in between.
 */
async function claimUpsert(
  connection: SqlConnection,
  key: string,
  value: string,
  ttlMs: number | null,
): Promise<string | null | undefined> {
  const { q, tables } = connection;
  const table = tables.name('control');
  const now = Date.now();
  const won = await q
    .insertInto(table)
    .values({ key, value, expires_at: expiry(now, ttlMs) })
    .onConflict((oc) =>
      oc
        .column('key')
        .doUpdateSet((eb) => ({ value: eb.ref('excluded.value'), expires_at: eb.ref('excluded.expires_at') }))
        .where(`${table}.expires_at`, 'is not', null)
        .where(`${table}.expires_at`, '<=', now),
    )
    .returning('key')
    .executeTakeFirst();
  if (won) return null;
  const held = await q
    .selectFrom(table)
    .select('value')
    .where('key', '=', key)
    .where(live(Date.now()))
    .executeTakeFirst();
  return held?.value;
}

/**
 * MySQL/MariaDB: a transaction that locks the row (SELECT … FOR UPDATE) and keeps a live value, else overwrites
 * the expired one or inserts. Two claims of an absent key both insert: the loser's duplicate-key error is retried,
 * and then it finds the winner's row. (INSERT … ON DUPLICATE KEY UPDATE cannot tell "set by this call" from "the
 * same value was already there" through mysql2, whose default CLIENT_FOUND_ROWS flag makes both report 1 row.)
 */
async function claimLocked(
  connection: SqlConnection,
  key: string,
  value: string,
  ttlMs: number | null,
): Promise<string | null> {
  const table = connection.tables.name('control');
  return writeTransaction(connection, async (trx) => {
    const q = connection.tables.scoped(trx);
    const now = Date.now();
    const held = await q
      .selectFrom(table)
      .select(['value', 'expires_at'])
      .where('key', '=', key)
      .forUpdate()
      .executeTakeFirst();
    if (held && (held.expires_at === null || Number(held.expires_at) > now)) return held.value;
    const expires_at = expiry(now, ttlMs);
    if (held) await q.updateTable(table).set({ value, expires_at }).where('key', '=', key).execute();
    else await q.insertInto(table).values({ key, value, expires_at }).execute();
    return null;
  });
}

export async function setValue(
  connection: SqlConnection,
  key: string,
  value: string,
  ttlMs: number | null,
): Promise<void> {
  const { q, tables, dialect } = connection;
  const expires_at = expiry(Date.now(), ttlMs);
  const insert = q.insertInto(tables.name('control')).values({ key, value, expires_at });
  await (
    dialect === 'mysql'
      ? insert.onDuplicateKeyUpdate({ value, expires_at })
      : insert.onConflict((oc) => oc.column('key').doUpdateSet({ value, expires_at }))
  ).execute();
}

export async function getValues(connection: SqlConnection, keys: readonly string[]): Promise<Map<string, string>> {
  const { q, tables } = connection;
  const out = new Map<string, string>();
  const now = Date.now();
  for (let start = 0; start < keys.length; start += CHUNK) {
    const rows = await q
      .selectFrom(tables.name('control'))
      .select(['key', 'value'])
      .where('key', 'in', keys.slice(start, start + CHUNK))
      .where(live(now))
      .execute();
    for (const row of rows) out.set(row.key, row.value);
  }
  return out;
}

/** One conditional DELETE: only a live value, and with `expected` only while the key holds exactly that value. */
export async function deleteValue(
  connection: SqlConnection,
  key: string,
  expected: string | undefined,
): Promise<boolean> {
  const { q, tables, dialect } = connection;
  let query = q.deleteFrom(tables.name('control')).where('key', '=', key).where(live(Date.now()));
  if (expected !== undefined) {
    // MySQL/MariaDB: compare the bytes, so a PAD SPACE collation cannot make 'v' equal 'v '
    query =
      dialect === 'mysql'
        ? query.where(sql<boolean>`cast(${sql.ref('value')} as binary) = cast(${expected} as binary)`)
        : query.where('value', '=', expected);
  }
  const result = await query.executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

/** `key LIKE 'ns:%'` (wildcards in the prefix escaped), live values only, in key order. */
export async function listValues(
  connection: SqlConnection,
  prefix: string,
  limit: number,
): Promise<Map<string, string>> {
  const { q, tables, dialect } = connection;
  const pattern = `${prefix.replace(/[!%_]/g, '!$&')}%`;
  let query = q
    .selectFrom(tables.name('control'))
    .select(['key', 'value'])
    .where(sql<boolean>`${sql.ref('key')} like ${pattern} escape '!'`)
    .where(live(Date.now()));
  if (dialect === 'sqlite') {
    // SQLite's LIKE ignores ASCII case ('CTL:x' matches 'ctl:%'); the range is exact and uses the key's index.
    // The prefix always ends in ':', so every key that starts with it sorts in [prefix, prefix with ';').
    query = query.where('key', '>=', prefix).where('key', '<', `${prefix.slice(0, -1)};`);
  }
  const rows = await query.orderBy('key').limit(limit).execute();
  return new Map(rows.map((row) => [row.key, row.value]));
}

/**
 * Adds the member and returns the set's size, in one transaction per add that first locks the set's row (an
 * upsert whose conflict branch changes nothing): adds to one set run one after the other, so of N concurrent adds
 * of distinct members exactly one counts N. A set whose expiry has passed is emptied before the add.
 */
export function addMember(
  connection: SqlConnection,
  key: string,
  member: string,
  ttlMs: number | null,
): Promise<number> {
  const { tables, dialect } = connection;
  const sets = tables.name('control_sets');
  const members = tables.name('control_members');
  return retrying(() =>
    writeTransaction(connection, async (trx) => {
      const q = tables.scoped(trx);
      const now = Date.now();
      const expires_at = expiry(now, ttlMs);
      const lock = q.insertInto(sets).values({ key, expires_at });
      await (
        dialect === 'mysql'
          ? // ON DUPLICATE KEY UPDATE takes an exclusive lock on the existing row (a plain INSERT's shared one could deadlock)
            lock.onDuplicateKeyUpdate({ key })
          : lock.onConflict((oc) =>
              oc.column('key').doUpdateSet((eb) => ({ expires_at: eb.ref(`${sets}.expires_at`) })),
            )
      ).execute();
      let select = q.selectFrom(sets).select('expires_at').where('key', '=', key);
      if (dialect !== 'sqlite') select = select.forUpdate();
      const set = await select.executeTakeFirst();
      if (set === undefined) return undefined;
      if (set.expires_at !== null && Number(set.expires_at) <= now) {
        await q.deleteFrom(members).where('set_key', '=', key).execute();
      }
      if (dialect === 'mysql') {
        const memberHash = createHash('sha256').update(member, 'utf8').digest('hex');
        await q
          .insertInto(members)
          .values({ set_key: key, member, member_hash: memberHash })
          .onDuplicateKeyUpdate({ set_key: key })
          .execute();
      } else {
        await q
          .insertInto(members)
          .values({ set_key: key, member })
          .onConflict((oc) => oc.columns(['set_key', 'member']).doNothing())
          .execute();
      }
      await q.updateTable(sets).set({ expires_at }).where('key', '=', key).execute();
      const counted = await q
        .selectFrom(members)
        .select((eb) => eb.fn.countAll().as('n'))
        .where('set_key', '=', key)
        .executeTakeFirst();
      return Number(counted?.n ?? 0);
    }),
  );
}

/**
 * Deletes expired values, and expired sets with their members (a batch per call). Readers never need it: they
 * skip expired rows. The sets are locked first (SKIP LOCKED past those an add holds), so an add cannot slip a
 * member into a set while it is deleted.
 */
export async function purgeExpiredControl(connection: SqlConnection, now: number): Promise<void> {
  const { q, tables, dialect } = connection;
  await q.deleteFrom(tables.name('control')).where('expires_at', '<=', now).execute();
  await writeTransaction(connection, async (trx) => {
    const tq = tables.scoped(trx);
    let select = tq.selectFrom(tables.name('control_sets')).select('key').where('expires_at', '<=', now).limit(CHUNK);
    if (dialect !== 'sqlite') select = select.forUpdate().skipLocked();
    const keys = (await select.execute()).map((row) => row.key);
    if (keys.length === 0) return;
    await tq.deleteFrom(tables.name('control_members')).where('set_key', 'in', keys).execute();
    await tq.deleteFrom(tables.name('control_sets')).where('key', 'in', keys).execute();
  });
}
