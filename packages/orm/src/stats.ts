import type { ClusterStat } from '@taskq/core';
import type { SqlConnection } from './connection.js';

/** Cluster heartbeats in the `<prefix>stats` table, shared by the broker and the store. */
export async function setStat(connection: SqlConnection, key: string, stat: ClusterStat, ttlSeconds: number) {
  const { q, tables, dialect } = connection;
  const row = { key, value: JSON.stringify(stat), expires_at: Date.now() + Math.round(ttlSeconds * 1000) };
  const insert = q.insertInto(tables.name('stats')).values(row);
  const update = { value: row.value, expires_at: row.expires_at };
  await (
    dialect === 'mysql'
      ? insert.onDuplicateKeyUpdate(update)
      : insert.onConflict((oc) => oc.column('key').doUpdateSet(update))
  ).execute();
}

export async function getStats(connection: SqlConnection): Promise<ClusterStat[]> {
  const { q, tables } = connection;
  const now = Date.now();
  // expired heartbeats are cleared by whoever reads next (a dead cluster cannot clear its own)
  await q.deleteFrom(tables.name('stats')).where('expires_at', '<=', now).execute();
  const rows = await q
    .selectFrom(tables.name('stats'))
    .select(['value'])
    .where('expires_at', '>', now)
    .orderBy('key')
    .execute();
  return rows.map((row) => JSON.parse(row.value) as ClusterStat);
}

export async function deleteStat(connection: SqlConnection, key: string): Promise<void> {
  const { q, tables } = connection;
  await q.deleteFrom(tables.name('stats')).where('key', '=', key).execute();
}
