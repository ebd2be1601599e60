import { sql } from 'kysely';
import { writeTransaction, type SqlConnection } from './connection.js';
import { noteInserted } from './pg-analyze.js';
import type { StatementRunner } from './transaction.js';
import type { KeyedLimit } from '@taskq/core';

export interface NewMessage {
  payload: string;
  priority: number;
  runAt: number;
  /** PostgreSQL only (capability keyedLimits): its key's limits, recorded as the key's latest. */
  limit?: KeyedLimit;
}

export interface ClaimedMessage {
  id: number;
  payload: string | Buffer;
  deliveries: number;
  priority: number;
}

/** Rows per INSERT: far below every dialect's bound-parameter limit. */
const INSERT_CHUNK = 1000;

/**
 * Inserts messages in one statement per chunk and returns their ids in input order. The statements run on
 * `runner`: the broker's pool by default, or the application's open transaction (see transaction.ts).
 */
export async function insertMessages(
  connection: SqlConnection,
  queue: string,
  messages: readonly NewMessage[],
  runner: StatementRunner = connection.db,
): Promise<number[]> {
  const ids: number[] = [];
  for (let start = 0; start < messages.length; start += INSERT_CHUNK) {
    ids.push(...(await insertChunk(connection, queue, messages.slice(start, start + INSERT_CHUNK), runner)));
  }
  noteInserted(connection, messages.length);
  return ids;
}

async function insertChunk(
  connection: SqlConnection,
  queue: string,
  messages: readonly NewMessage[],
  runner: StatementRunner,
) {
  const { q, db, tables, dialect } = connection;
  const now = Date.now();
  if (dialect === 'postgres') {
    // One round trip with three array parameters instead of six per row: insert, and NOTIFY the
    // LISTENing clusters (delivered on commit: inside the app's transaction, on ITS commit, never on a
    // rollback). Payloads travel as base64 text, decoded to bytea.
    const payloads = messages.map((m) => Buffer.from(m.payload).toString('base64'));
    // Keyed limits: each key's latest limits (one row per key: ON CONFLICT may not touch a row twice).
    const limits = new Map(messages.flatMap((m) => (m.limit ? [[m.limit.key, m.limit] as const] : [])));
    const conf = [...limits.values()];
    const { rows } = await runner.executeQuery(
      sql<{ id: string }>`
      with conf as (
        insert into ${tables.ref('limits')} (queue, key, concurrency, rate_max, rate_per_ms, turn)
        select ${queue}, u.k, u.c, u.m, u.p, 0
        from unnest(${conf.map((l) => l.key)}::text[], ${conf.map((l) => l.concurrency ?? null)}::int[],
                    ${conf.map((l) => l.rate?.max ?? null)}::int[], ${conf.map((l) => l.rate?.perMs ?? null)}::bigint[])
             as u(k, c, m, p)
        on conflict (queue, key) do update
          set concurrency = excluded.concurrency, rate_max = excluded.rate_max, rate_per_ms = excluded.rate_per_ms
        returning 1
      ), ins as (
        insert into ${tables.ref('queue')} (queue, payload, priority, run_at, deliveries, created_at, limit_key)
        select ${queue}, decode(u.p, 'base64'), u.pr, u.r, 0, ${now}, u.k
        from unnest(${payloads}::text[], ${messages.map((m) => m.priority)}::int[],
                    ${messages.map((m) => m.runAt)}::bigint[], ${messages.map((m) => m.limit?.key ?? null)}::text[])
             with ordinality as u(p, pr, r, k, n)
        order by u.n
        returning id
      )
      select ins.id from ins, (select pg_notify(${tables.channel}, ${queue})) as notified,
        (select count(*) from conf) as limits_recorded`.compile(db),
    );
    // ids are drawn in insert order, so ascending ids line up with the input
    return rows.map((row) => Number(row.id)).sort((a, b) => a - b);
  }
  const rows = messages.map((m) => ({
    queue,
    payload: m.payload,
    priority: m.priority,
    run_at: m.runAt,
    deliveries: 0,
    created_at: now,
  }));
  const insert = q.insertInto(tables.name('queue')).values(rows);
  if (dialect === 'sqlite') {
    const returned = await runner.executeQuery(insert.returning('id').compile());
    return returned.rows.map((row) => Number(row.id));
  }
  // MySQL/MariaDB: one multi-row INSERT of known size gets consecutive ids (a "simple insert" under every innodb_autoinc_lock_mode)
  const result = await runner.executeQuery(insert.compile());
  if (result.insertId === undefined) throw new Error('the INSERT into the queue table returned no insert id');
  const first = Number(result.insertId);
  return messages.map((_, i) => first + i);
}

/**
 * Claims up to `max` due messages for `retrySeconds`: they become invisible
 * (run_at and locked_until move to the end of the lease) and their delivery
 * count rises. Concurrent claimers never get the same row: PostgreSQL and
 * MySQL/MariaDB skip rows another transaction holds (`FOR UPDATE SKIP
 * LOCKED`); SQLite serialises writers with `BEGIN IMMEDIATE`.
 */
export async function claimMessages(
  connection: SqlConnection,
  queue: string,
  max: number,
  retrySeconds: number,
): Promise<ClaimedMessage[]> {
  const { db, tables, dialect } = connection;
  const now = Date.now();
  const lease = now + Math.round(retrySeconds * 1000);
  let rows: ClaimedMessage[];
  if (dialect === 'postgres') {
    const result = await sql<ClaimedMessage>`
      with relaxed as (select set_config('synchronous_commit', 'off', true)),
      next as (
        select id from ${tables.ref('queue')}, relaxed
        where queue = ${queue} and run_at <= ${now} and limit_key is null
        order by priority desc, run_at, id
        limit ${max}
        for update skip locked
      )
      update ${tables.ref('queue')} as q
      set locked_until = ${lease}, run_at = ${lease}, deliveries = q.deliveries + 1
      from next where q.id = next.id
      returning q.id, q.payload, q.deliveries, q.priority`.execute(db);
    rows = result.rows;
  } else if (dialect === 'sqlite') {
    const result = await writeTransaction(connection, (conn) =>
      sql<ClaimedMessage>`
        update ${tables.ref('queue')}
        set locked_until = ${lease}, run_at = ${lease}, deliveries = deliveries + 1
        where id in (
          select id from ${tables.ref('queue')}
          where queue = ${queue} and run_at <= ${now}
          order by priority desc, run_at, id
          limit ${max}
        )
        returning id, payload, deliveries, priority`.execute(conn),
    );
    rows = result.rows;
  } else {
    rows = await writeTransaction(connection, async (trx) => {
      const q = tables.scoped(trx);
      const picked = await q
        .selectFrom(tables.name('queue'))
        .select(['id', 'payload', 'deliveries', 'priority'])
        .where('queue', '=', queue)
        .where('run_at', '<=', now)
        .orderBy('priority', 'desc')
        .orderBy('run_at')
        .orderBy('id')
        .limit(max)
        .forUpdate()
        .skipLocked()
        .execute();
      if (picked.length === 0) return [];
      await q
        .updateTable(tables.name('queue'))
        .set((eb) => ({ locked_until: lease, run_at: lease, deliveries: eb('deliveries', '+', 1) }))
        .where(
          'id',
          'in',
          picked.map((row) => row.id),
        )
        .execute();
      return picked.map((row) => ({ ...row, deliveries: Number(row.deliveries) + 1 }));
    });
  }
  return rows
    .map((row) => ({
      id: Number(row.id),
      payload: payloadText(row.payload),
      deliveries: Number(row.deliveries),
      priority: Number(row.priority),
    }))
    .sort((a, b) => b.priority - a.priority || a.id - b.id);
}

/** Milliseconds until the next message of the queue becomes deliverable (a delay or a lease ending); Infinity when empty. */
export async function msUntilNextDue(connection: SqlConnection, queue: string): Promise<number> {
  const { q, tables, dialect } = connection;
  const now = Date.now();
  let query = q
    .selectFrom(tables.name('queue'))
    .select((eb) => eb.fn.min('run_at').as('next'))
    .where('queue', '=', queue);
  // A waiting message of a limited key is due when its key allows it, which the limited claim reports (a rate)
  // or an acknowledgement announces (a concurrency slot): only its future times (a delay, a lease) count here.
  if (dialect === 'postgres') query = query.where((eb) => eb.or([eb('limit_key', 'is', null), eb('run_at', '>', now)]));
  const row = await query.executeTakeFirst();
  if (row?.next === null || row?.next === undefined) return Number.POSITIVE_INFINITY;
  return Math.max(0, Number(row.next) - Date.now());
}

/** PostgreSQL hands bytea back as a Buffer of UTF-8. */
export function payloadText(value: string | Buffer): string {
  return typeof value === 'string' ? value : value.toString('utf8');
}

/**
 * Acknowledges (deletes) messages. On PostgreSQL the commit does not wait for
 * the WAL flush (`synchronous_commit` off for this statement only): a server
 * crash can only undo the delete, which redelivers the message (at-least-once
 * allows it), and the cluster saves a result durably before it acknowledges.
 */
export async function deleteMessages(connection: SqlConnection, queue: string, ids: readonly number[]): Promise<void> {
  const { q, db, tables, dialect } = connection;
  if (dialect === 'postgres') {
    // A limited message acknowledged frees a slot of its key: wake the clusters waiting on it.
    await sql`
      with relaxed as (select set_config('synchronous_commit', 'off', true)),
      deleted as (
        delete from ${tables.ref('queue')} using relaxed
        where queue = ${queue} and id = any(${ids}::bigint[])
        returning limit_key
      )
      select pg_notify(${tables.channel}, ${queue}) from (select 1 from deleted where limit_key is not null limit 1) as freed`.execute(
      db,
    );
    return;
  }
  await q.deleteFrom(tables.name('queue')).where('queue', '=', queue).where('id', 'in', ids).execute();
}
