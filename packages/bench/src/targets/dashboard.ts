import { performance } from 'node:perf_hooks';
import { sql } from 'kysely';
import { Taskq, type SearchQuery } from '@taskq/core';
import { SqlStore } from '@taskq/orm';
import { createDashboard } from '@taskq/dashboard';
import type { BenchSummary } from './types.js';

/**
 * `npm run bench -- --dashboard`: the dashboard's queries over 1,000,000 task
 * records in PostgreSQL. Seeds the table once (INSERT … SELECT FROM
 * generate_series, in the schema `taskq_bench_dashboard`; `--reseed` starts
 * over), then times each query through the store API and through the
 * dashboard's HTTP handler: the median and the slowest of `runs` runs after
 * one warm-up.
 */
export interface DashboardBenchOptions {
  url: string;
  rows: number;
  runs: number;
  reseed: boolean;
}

const FUNCS = 20;
const CLUSTERS = 4;

export async function runDashboardTarget(
  options: DashboardBenchOptions,
  log: (line: string) => void,
): Promise<BenchSummary> {
  const url = `${options.url}${options.url.includes('?') ? '&' : '?'}schema=taskq_bench_dashboard`;
  const store = await SqlStore.open({ connection: url });
  const taskq = new Taskq({ name: 'benchdash', broker: 'memory:', store, secretKey: 'bench', logLevel: 'silent' });
  try {
    const seeded = await seed(store, options, log);
    const now = await newest(store);
    const day = 24 * 3600 * 1000;
    const queries: [string, SearchQuery][] = [
      ['newest page (no filter)', { limit: 50 }],
      ['failures of one func', { func: 'func-10', state: 'failure', limit: 50 }],
      ['successes of one func', { func: 'func-7', state: 'success', limit: 50 }],
      // nothing matches (func-7 has no failures): answered from the partial failure index (migration 4)
      ['failures of a func that has none', { func: 'func-7', state: 'failure', limit: 50 }],
      ['one cluster, last 24 h', { cluster: 'cluster-2', since: new Date(now - day), limit: 50 }],
      ['one group', { group: 'group-4242', limit: 50 }],
      ['payload search: a customer inside args', { text: 'customer-777777', limit: 50 }],
      ['payload search: an error message', { text: 'card declined 4242', limit: 50 }],
      ['payload search + failures, no match', { text: 'no-such-value-anywhere', state: 'failure', limit: 50 }],
    ];
    const results: Record<string, unknown>[] = [];
    for (const [label, query] of queries) {
      const storeMs = await time(options.runs, () => store.search(query));
      const page = await store.search(query);
      const pageTwoMs = page.nextCursor
        ? await time(options.runs, () => store.search({ ...query, cursor: page.nextCursor }))
        : null;
      results.push({ query: label, matches: page.records.length, store: storeMs, nextPage: pageTwoMs });
      log(`${label}: ${page.records.length} rows; store median ${storeMs.medianMs} ms, max ${storeMs.maxMs} ms`);
    }
    const dashboard = createDashboard({ taskq, users: false });
    const pages: [string, string][] = [
      ['GET /tasks?state=failure&func=func-10', '/tasks?state=failure&func=func-10'],
      ['GET /tasks?q=customer-777777', '/tasks?q=customer-777777'],
      ['GET /tasks?cluster=cluster-2&state=success', '/tasks?cluster=cluster-2&state=success'],
    ];
    const http: Record<string, unknown>[] = [];
    for (const [label, path] of pages) {
      const ms = await time(options.runs, async () => {
        const response = await dashboard.fetch(new Request(`http://bench.local${path}`));
        if (response.status !== 200) throw new Error(`${path} answered ${response.status}`);
        await response.text();
      });
      http.push({ page: label, ...ms });
      log(`${label}: median ${ms.medianMs} ms, max ${ms.maxMs} ms`);
    }
    return {
      target: 'dashboard',
      mode: 'throughput',
      rows: seeded.rows,
      seedSeconds: seeded.seconds,
      queries: results,
      http,
    };
  } finally {
    await taskq.close();
    await store.close();
  }
}

async function time(runs: number, fn: () => Promise<unknown>): Promise<{ medianMs: number; maxMs: number }> {
  await fn();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await fn();
    samples.push(performance.now() - start);
  }
  samples.sort((a, b) => a - b);
  const round = (n: number) => Math.round(n * 10) / 10;
  return { medianMs: round(samples[Math.floor(samples.length / 2)]!), maxMs: round(samples.at(-1)!) };
}

async function newest(store: SqlStore): Promise<number> {
  const page = await store.search({ limit: 1 });
  return page.records[0]?.stoppedAt.getTime() ?? Date.now();
}

/** 1,000,000 rows over 30 days, 20 funcs, 4 clusters, 1 in 10 a failure, JSON args with a customer and an order. */
async function seed(
  store: SqlStore,
  options: DashboardBenchOptions,
  log: (line: string) => void,
): Promise<{ rows: number; seconds: number | null }> {
  const { db, tables } = store.connection;
  const table = tables.ref('tasks');
  const { rows } = await sql<{ n: string }>`select count(*) as n from ${table}`.execute(db);
  const existing = Number(rows[0]?.n ?? 0);
  if (existing === options.rows && !options.reseed) {
    log(`reusing ${existing} seeded rows (pass --reseed to start over)`);
    return { rows: existing, seconds: null };
  }
  const started = performance.now();
  log(`seeding ${options.rows} task records…`);
  await sql`truncate ${table}`.execute(db);
  const now = Date.now();
  const span = 30 * 24 * 3600 * 1000;
  const chunk = 250_000;
  for (let from = 1; from <= options.rows; from += chunk) {
    const to = Math.min(options.rows, from + chunk - 1);
    await sql`
      insert into ${table} (id, name, func, args, result, error, success, "group", hook, cluster,
                            enqueued_at, started_at, stopped_at, attempt_count, expires_at)
      select md5(i::text),
             'task-' || i,
             'func-' || (i % ${FUNCS}),
             '[{"customer":"customer-' || (i % 1000003) || '","order":' || i || ',"items":["sku-' || (i % 997) || '"]}]',
             case when i % 10 = 0 then null else '{"total":' || (i % 5000) || ',"status":"done"}' end,
             case when i % 10 = 0 then '{"name":"Error","message":"card declined ' || (i % 9973) || '","code":"TASKQ_TASK_FAILED"}' end,
             case when i % 10 = 0 then 0 else 1 end,
             'group-' || (i % 10007),
             null,
             'cluster-' || (i % ${CLUSTERS}),
             ${now - span} + (i::bigint * ${Math.floor(span / options.rows)}) - 50,
             ${now - span} + (i::bigint * ${Math.floor(span / options.rows)}) - 20,
             ${now - span} + (i::bigint * ${Math.floor(span / options.rows)}),
             1,
             null
      from generate_series(${from}::bigint, ${to}::bigint) as i`.execute(db);
    log(`  ${to} rows`);
  }
  await sql`analyze ${table}`.execute(db);
  const seconds = Math.round((performance.now() - started) / 100) / 10;
  log(`seeded in ${seconds} s`);
  return { rows: options.rows, seconds };
}
