import type { RedisClient } from './options.js';
import {
  emptyBuckets,
  encodeSearchCursor,
  matchesSearch,
  type NormalizedSearch,
  type SearchPage,
  type TaskRecord,
  type ThroughputBucket,
  type ThroughputQuery,
} from '@taskq/core';

/**
 * ResultStore.search and throughput over the store's sorted-set indexes
 * (see includes-results.lua). Scores are `stoppedAt × 1000 + seq % 1000`, so
 * a stoppedAt range is a score range. The narrowest index a query names
 * (group, func, or successes/failures; both of the last two when no state is
 * given) is walked newest first; every other filter, and the text search, is
 * checked on the decoded record. One call examines at most
 * {@link SEARCH_WINDOW} index entries: a page may then come back short with a
 * non-null `nextCursor`, and the next call continues from there.
 */
export const SEARCH_WINDOW = 20_000;
/** Entries read per ZRANGE while walking an index. */
const BATCH = 500;
/** throughput() with a func or cluster filter reads at most this many entries. */
export const THROUGHPUT_WINDOW = 200_000;

interface Entry {
  id: string;
  score: number;
}

export interface SearchKeys {
  tag: string;
  decode: (json: string) => TaskRecord;
}

export async function searchResults(
  redis: RedisClient,
  keys: SearchKeys,
  query: NormalizedSearch,
): Promise<SearchPage> {
  const { tag } = keys;
  const rec = `${tag}rec`;
  const min = query.since === undefined ? '-inf' : String(query.since.getTime() * 1000);
  let max = query.until === undefined ? '+inf' : `(${query.until.getTime() * 1000}`;
  let after: { score: number; id: string } | null = null;
  if (query.after) {
    const [score, id] = splitKey(query.after.key);
    after = { score, id };
    max = String(score);
  }
  const streams =
    query.name !== undefined
      ? [await nameStream(redis, tag, query.name, min, max)]
      : driverKeys(tag, query).map((key) => indexStream(redis, key, min, max));
  const merged = mergeNewestFirst(streams);

  const records: TaskRecord[] = [];
  let lastRecord: Entry | null = null;
  let lastExamined: Entry | null = null;
  let examined = 0;
  let more = false;
  scan: for (;;) {
    if (examined >= SEARCH_WINDOW) {
      more = true;
      break;
    }
    const batch: Entry[] = [];
    while (batch.length < BATCH) {
      const next = await merged.next();
      if (next.done) break;
      const entry = next.value;
      if (after && (entry.score > after.score || (entry.score === after.score && entry.id >= after.id))) continue;
      batch.push(entry);
    }
    if (batch.length === 0) break;
    examined += batch.length;
    const jsons = await redis.hmget(rec, ...batch.map((e) => e.id));
    for (let i = 0; i < batch.length; i++) {
      const json = jsons[i];
      if (!json || !matchesSearch(keys.decode(json), query)) continue;
      if (records.length === query.limit) {
        more = true;
        break scan;
      }
      records.push(keys.decode(json));
      lastRecord = batch[i]!;
    }
    lastExamined = batch.at(-1)!;
  }
  // a full page continues after its last record; a page cut short by the window after the last entry it read
  const last = !more ? null : records.length === query.limit ? lastRecord : lastExamined;
  return {
    records,
    nextCursor: last
      ? encodeSearchCursor({ stoppedAt: Math.floor(last.score / 1000), key: `${last.score}:${last.id}` })
      : null,
  };
}

/** Counts per bucket: ZCOUNT on the success and failure indexes, or a bounded walk when filtered. */
export async function throughputResults(
  redis: RedisClient,
  keys: SearchKeys,
  query: ThroughputQuery,
): Promise<ThroughputBucket[]> {
  const { tag } = keys;
  const buckets = emptyBuckets(query);
  const start = query.since.getTime();
  const end = query.until.getTime();
  if (query.func === undefined && query.cluster === undefined) {
    const pipeline = redis.pipeline();
    for (const bucket of buckets) {
      const from = bucket.at.getTime() * 1000;
      const to = Math.min(bucket.at.getTime() + query.bucketMs, end) * 1000;
      pipeline.zcount(`${tag}ok`, from, `(${to}`);
      pipeline.zcount(`${tag}failed`, from, `(${to}`);
    }
    const counts = ((await pipeline.exec()) ?? []).map(([error, n]) => {
      if (error) throw error;
      return Number(n);
    });
    buckets.forEach((bucket, i) => {
      bucket.success = counts[2 * i] ?? 0;
      bucket.failure = counts[2 * i + 1] ?? 0;
    });
    return buckets;
  }
  const key = query.func !== undefined ? `${tag}func:${query.func}` : null;
  const streams = (key ? [key] : [`${tag}ok`, `${tag}failed`]).map((k) =>
    indexStream(redis, k, String(start * 1000), `(${end * 1000}`),
  );
  const merged = mergeNewestFirst(streams);
  let examined = 0;
  while (examined < THROUGHPUT_WINDOW) {
    const batch: Entry[] = [];
    while (batch.length < BATCH) {
      const next = await merged.next();
      if (next.done) break;
      batch.push(next.value);
    }
    if (batch.length === 0) break;
    examined += batch.length;
    const jsons = await redis.hmget(`${tag}rec`, ...batch.map((e) => e.id));
    for (const json of jsons) {
      if (!json) continue;
      const record = keys.decode(json);
      if (query.cluster !== undefined && record.cluster !== query.cluster) continue;
      if (query.func !== undefined && record.func !== query.func) continue;
      const bucket = buckets[Math.floor((record.stoppedAt.getTime() - start) / query.bucketMs)];
      if (!bucket) continue;
      if (record.success) bucket.success++;
      else bucket.failure++;
    }
  }
  return buckets;
}

function splitKey(key: string): [number, string] {
  const at = key.indexOf(':');
  return [Number(key.slice(0, at)), key.slice(at + 1)];
}

function driverKeys(tag: string, query: NormalizedSearch): string[] {
  if (query.group !== undefined) return [`${tag}group:${query.group}`];
  if (query.func !== undefined) return [`${tag}func:${query.func}`];
  if (query.state === 'success') return [`${tag}ok`];
  if (query.state === 'failure') return [`${tag}failed`];
  return [`${tag}ok`, `${tag}failed`];
}

/** One index newest first within [min, max], in batches (ties: member descending, as ZRANGE REV gives). */
async function* indexStream(redis: RedisClient, key: string, min: string, max: string): AsyncGenerator<Entry> {
  for (let offset = 0; ; offset += BATCH) {
    const items = await redis.zrange(key, max, min, 'BYSCORE', 'REV', 'LIMIT', offset, BATCH, 'WITHSCORES');
    for (let i = 0; i < items.length; i += 2) yield { id: items[i]!, score: Number(items[i + 1]) };
    if (items.length < BATCH * 2) return;
  }
}

/** Records with one name (few): read from the byname index, scored from the ok/failed indexes. */
async function nameStream(redis: RedisClient, tag: string, name: string, min: string, max: string) {
  const members = await redis.zrangebylex(`${tag}byname`, `[${name}\0`, `(${name}\u0001`);
  const ids = members.map((m) => m.slice(name.length + 1));
  const entries: Entry[] = [];
  if (ids.length > 0) {
    const [ok, failed] = await Promise.all([redis.zmscore(`${tag}ok`, ...ids), redis.zmscore(`${tag}failed`, ...ids)]);
    const lo = min === '-inf' ? -Infinity : Number(min);
    const hi = max === '+inf' ? Infinity : Number(max.replace('(', ''));
    const exclusive = max.startsWith('(');
    ids.forEach((id, i) => {
      const score = Number(ok[i] ?? failed[i] ?? NaN);
      if (Number.isNaN(score) || score < lo || score > hi || (exclusive && score === hi)) return;
      entries.push({ id, score });
    });
  }
  entries.sort(newestFirst);
  return (async function* () {
    yield* entries;
  })();
}

function newestFirst(a: Entry, b: Entry): number {
  return b.score - a.score || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

/** Merges streams that are each newest first into one newest-first stream. */
async function* mergeNewestFirst(streams: AsyncGenerator<Entry>[]): AsyncGenerator<Entry> {
  const heads = await Promise.all(streams.map((s) => s.next()));
  for (;;) {
    let best = -1;
    heads.forEach((head, i) => {
      if (head.done) return;
      const current = heads[best];
      if (best === -1 || (current && !current.done && newestFirst(head.value, current.value) < 0)) best = i;
    });
    if (best === -1) return;
    const head = heads[best]!;
    if (head.done) return;
    yield head.value;
    heads[best] = await streams[best]!.next();
  }
}
