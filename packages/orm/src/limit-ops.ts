import { sql } from 'kysely';
import type { SqlConnection } from './connection.js';
import type { ClaimedMessage } from './queue-ops.js';

/** Keys looked at per claim, in turn order (a queue with more limited keys than this serves them over several claims). */
const KEYS_PER_CLAIM = 500;

interface KeyRow {
  key: string;
  concurrency: number | null;
  rate_max: number | null;
  rate_per_ms: string | number | null;
  running: string | number;
  started: string | number;
  oldest: string | number | null;
}

export interface LimitedClaim {
  messages: ClaimedMessage[];
  /** When a key held back only by its rate frees a slot (ms from now), or null. */
  rateWaitMs: number | null;
}

/**
 * Claims up to `max` messages of limited keys (capability keyedLimits, PostgreSQL) in one transaction:
 *
 * 1. the keys with waiting messages, in turn order, each row locked FOR UPDATE SKIP LOCKED — so two claimers never
 *    serve one key at the same time, which is what keeps the counts below exact across any number of clusters;
 * 2. each key's allowance: its concurrency minus its messages leased now, and its rate's max minus its deliveries
 *    in the last perMs (the sliding-window log in `limit_starts`);
 * 3. one message per key per round until `max` or every allowance is used (keys take turns), then the picked
 *    messages are leased like plain claims, their deliveries logged, and the served keys moved to the back.
 *
 * Times are the client's clock, as for leases (hosts need synchronised clocks).
 */
export async function claimLimited(
  connection: SqlConnection,
  queue: string,
  max: number,
  retrySeconds: number,
): Promise<LimitedClaim> {
  const { db, tables } = connection;
  const now = Date.now();
  const lease = now + Math.round(retrySeconds * 1000);
  return db.transaction().execute(async (trx) => {
    // Lock first, count after, in two statements: under READ COMMITTED each statement reads a snapshot taken
    // when it starts, so counts read in the locking statement itself could miss the leases of a claimer that
    // held a key's lock and committed while this statement waited — and let both serve the key past its limit.
    const { rows: locked } = await sql<{ key: string }>`
      select l.key from ${tables.ref('limits')} l
      where l.queue = ${queue} and exists (
        select 1 from ${tables.ref('queue')} w where w.queue = ${queue} and w.limit_key = l.key and w.run_at <= ${now})
      order by l.turn, l.key
      limit ${KEYS_PER_CLAIM}
      for update of l skip locked`.execute(trx);
    if (locked.length === 0) return { messages: [], rateWaitMs: null };
    const { rows: keys } = await sql<KeyRow>`
      select l.key, l.concurrency, l.rate_max, l.rate_per_ms,
        (select count(*) from ${tables.ref('queue')} r
          where r.queue = ${queue} and r.limit_key = l.key and r.locked_until > ${now}) as running,
        (select count(*) from ${tables.ref('limit_starts')} s
          where l.rate_max is not null and s.queue = ${queue} and s.key = l.key and s.at > ${now} - l.rate_per_ms) as started,
        (select min(s.at) from ${tables.ref('limit_starts')} s
          where l.rate_max is not null and s.queue = ${queue} and s.key = l.key and s.at > ${now} - l.rate_per_ms) as oldest
      from ${tables.ref('limits')} l
      join unnest(${locked.map((row) => row.key)}::text[]) with ordinality as u(k, n) on l.key = u.k
      where l.queue = ${queue}
      order by u.n`.execute(trx);
    if (keys.length === 0) return { messages: [], rateWaitMs: null };

    let rateWaitMs: number | null = null;
    const allowance = keys.map((row) => {
      let left = Number.POSITIVE_INFINITY;
      if (row.concurrency !== null) left = Math.min(left, row.concurrency - Number(row.running));
      if (row.rate_max !== null) {
        const rateLeft = row.rate_max - Number(row.started);
        if (rateLeft <= 0 && row.oldest !== null) {
          const wait = Number(row.oldest) + Number(row.rate_per_ms) - now;
          rateWaitMs = rateWaitMs === null ? wait : Math.min(rateWaitMs, wait);
        }
        left = Math.min(left, rateLeft);
      }
      return Math.max(0, left);
    });
    // Keys take turns: one message each per round.
    const counts = keys.map(() => 0);
    for (let given = 0, round = true; round && given < max;) {
      round = false;
      for (let i = 0; i < keys.length && given < max; i++) {
        if (counts[i]! < allowance[i]!) {
          counts[i]!++;
          given++;
          round = true;
        }
      }
    }
    const served = keys.map((row) => row.key).filter((_, i) => counts[i]! > 0);
    if (served.length === 0) return { messages: [], rateWaitMs };

    const { rows } = await sql<ClaimedMessage & { limit_key: string }>`
      with alloc as (
        select * from unnest(${served}::text[], ${counts.filter((n) => n > 0)}::int[]) as a(k, n)
      ), picked as (
        select p.id from alloc cross join lateral (
          select id from ${tables.ref('queue')}
          where queue = ${queue} and limit_key = alloc.k and run_at <= ${now}
          order by priority desc, run_at, id
          limit alloc.n
          for update skip locked
        ) p
      )
      update ${tables.ref('queue')} as t
      set locked_until = ${lease}, run_at = ${lease}, deliveries = t.deliveries + 1
      from picked where t.id = picked.id
      returning t.id, t.payload, t.deliveries, t.priority, t.limit_key`.execute(trx);

    const rated = new Set(keys.filter((row) => row.rate_max !== null).map((row) => row.key));
    const logged = rows.map((row) => row.limit_key).filter((key) => rated.has(key));
    if (logged.length > 0) {
      await sql`
        insert into ${tables.ref('limit_starts')} (queue, key, at)
        select ${queue}, k, ${now} from unnest(${logged}::text[]) as u(k)`.execute(trx);
      await sql`
        delete from ${tables.ref('limit_starts')} s using ${tables.ref('limits')} l
        where s.queue = ${queue} and l.queue = s.queue and l.key = s.key and s.key = any(${[...new Set(logged)]}::text[])
          and s.at <= ${now} - l.rate_per_ms`.execute(trx);
    }
    // Served keys go to the back of the turns, in the order they were served.
    await sql`
      update ${tables.ref('limits')} as l set turn = ${now * 1000} + u.n
      from unnest(${served}::text[]) with ordinality as u(k, n)
      where l.queue = ${queue} and l.key = u.k`.execute(trx);
    return { messages: rows, rateWaitMs };
  });
}

/** Whether the queue has any keyed limit at all (one cheap lookup before the limited claim's transaction). */
export async function hasLimits(connection: SqlConnection, queue: string): Promise<boolean> {
  const { db, tables } = connection;
  const { rows } = await sql`select 1 from ${tables.ref('limits')} where queue = ${queue} limit 1`.execute(db);
  return rows.length > 0;
}
