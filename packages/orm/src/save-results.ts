import type { TaskRecord } from '@taskq/core';
import { writeTransaction, type SqlConnection } from './connection.js';
import { toRow } from './task-rows.js';
import type { TaskRow } from './tables.js';

/**
 * Django Q's save rule: a saved success never changes, a saved failure is
 * overwritten with attemptCount + 1, a new id (or an expired row) starts at 1.
 * Returns each record's attemptCount after the save, in order.
 */
export function saveResults(
  connection: SqlConnection,
  records: readonly TaskRecord[],
  expiresAt: number | null,
  now = Date.now(),
): Promise<number[]> {
  const unique = new Set(records.map((r) => r.id)).size === records.length;
  return unique && connection.dialect !== 'mysql'
    ? upsert(connection, records, now, expiresAt)
    : saveInTransaction(connection, records, now, expiresAt);
}

/** The save rule in a transaction: read what exists (locked), then insert the new and overwrite the failed. */
async function saveInTransaction(
  connection: SqlConnection,
  records: readonly TaskRecord[],
  now: number,
  expiresAt: number | null,
): Promise<number[]> {
  const { tables, dialect } = connection;
  const table = tables.name('tasks');
  return writeTransaction(connection, async (trx) => {
    const q = tables.scoped(trx);
    const ids = [...new Set(records.map((r) => r.id))];
    let select = q.selectFrom(table).select(['id', 'success', 'attempt_count', 'expires_at']).where('id', 'in', ids);
    if (dialect !== 'sqlite') select = select.forUpdate();
    const existing = new Map<string, { success: boolean; attemptCount: number }>();
    // rows on disk, live or expired: an expired one is overwritten as if new
    const present = new Set<string>();
    for (const row of await select.execute()) {
      present.add(row.id);
      if (row.expires_at !== null && Number(row.expires_at) <= now) continue;
      existing.set(row.id, { success: Number(row.success) === 1, attemptCount: Number(row.attempt_count) });
    }
    const counts: number[] = [];
    const inserts = new Map<string, TaskRow>();
    const updates = new Map<string, TaskRow>();
    for (const record of records) {
      const before = existing.get(record.id);
      if (before?.success) {
        counts.push(before.attemptCount);
        continue;
      }
      const attemptCount = before ? before.attemptCount + 1 : 1;
      const row = toRow(record, attemptCount, expiresAt);
      existing.set(record.id, { success: record.success, attemptCount });
      if (present.has(record.id)) updates.set(record.id, row);
      else inserts.set(record.id, row);
      counts.push(attemptCount);
    }
    if (inserts.size > 0)
      await q
        .insertInto(table)
        .values([...inserts.values()])
        .execute();
    for (const row of updates.values()) {
      const { id, ...rest } = row;
      await q.updateTable(table).set(rest).where('id', '=', id).execute();
    }
    return counts;
  });
}

/**
 * The save rule in one statement (PostgreSQL, SQLite): insert, or overwrite
 * a saved failure with attempt_count + 1; a saved success is left alone and
 * read back. Needs distinct ids (a row cannot be upserted twice in one statement).
 */
async function upsert(
  connection: SqlConnection,
  records: readonly TaskRecord[],
  now: number,
  expiresAt: number | null,
): Promise<number[]> {
  const { q, tables } = connection;
  const rows = records.map((record) => toRow(record, 1, expiresAt));
  const table = tables.name('tasks');
  const returned = await q
    .insertInto(table)
    .values(rows)
    .onConflict((oc) =>
      oc
        .column('id')
        .doUpdateSet((eb) => ({
          name: eb.ref('excluded.name'),
          func: eb.ref('excluded.func'),
          args: eb.ref('excluded.args'),
          result: eb.ref('excluded.result'),
          error: eb.ref('excluded.error'),
          success: eb.ref('excluded.success'),
          group: eb.ref('excluded.group'),
          hook: eb.ref('excluded.hook'),
          cluster: eb.ref('excluded.cluster'),
          enqueued_at: eb.ref('excluded.enqueued_at'),
          started_at: eb.ref('excluded.started_at'),
          stopped_at: eb.ref('excluded.stopped_at'),
          expires_at: eb.ref('excluded.expires_at'),
          meta: eb.ref('excluded.meta'),
          // an expired row counts as absent: the new save is attempt 1
          attempt_count: eb
            .case()
            .when(eb(`${table}.expires_at`, '<=', now))
            .then(1)
            .else(eb(eb.ref(`${table}.attempt_count`), '+', 1))
            .end(),
        }))
        .where((eb) => eb.or([eb(`${table}.success`, '=', 0), eb(`${table}.expires_at`, '<=', now)])),
    )
    .returning(['id', 'attempt_count'])
    .execute();
  const counts = new Map(returned.map((row) => [row.id, Number(row.attempt_count)]));
  const missing = records.filter((r) => !counts.has(r.id)).map((r) => r.id);
  if (missing.length > 0) {
    // already saved as successes: unchanged, report their count
    const kept = await q.selectFrom(table).select(['id', 'attempt_count']).where('id', 'in', missing).execute();
    for (const row of kept) counts.set(row.id, Number(row.attempt_count));
  }
  return records.map((r) => counts.get(r.id) ?? 1);
}
