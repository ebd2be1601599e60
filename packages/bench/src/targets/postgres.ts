import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { runRound } from '../child.js';
import { median, round, type RoundResult } from '../measure.js';
import { aggregate } from './redis.js';
import type { BenchOptions, BenchSummary } from './types.js';

const POSTGRES_URL = process.env.TASKQ_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const SQLITE_DIR = process.env.TASKQ_SQLITE_DIR ?? '/tmp';
const MYSQL_URL = process.env.TASKQ_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';

/**
 * taskq's SQL broker on PostgreSQL (results saved in PostgreSQL, LISTEN/NOTIFY
 * wake-ups) against BullMQ 6.7's own PostgreSQL backend (`createPostgresBackend`,
 * one Worker at the same total concurrency) and pg-boss 10 tuned for throughput
 * (see systems/pgboss.ts), on the same database, same task count, rounds in
 * rotating order, each round in its own process and its own schema. Then one
 * taskq round each on SQLite and MariaDB for reference (throughput mode).
 * `--url` picks the PostgreSQL server when it is a postgres:// URL.
 */
export async function runPostgresTarget(options: BenchOptions, log: (line: string) => void): Promise<BenchSummary> {
  const url = options.url.startsWith('postgres') ? options.url : POSTGRES_URL;
  const workers = options.workers;
  const concurrency = Math.max(1, Math.round(options.concurrency / workers));
  const total = workers * concurrency;
  const common = { tasks: options.tasks, paced: options.paced, pacedSeconds: options.pacedSeconds };
  const pgbossLoops = options.pgbossLoops ?? 4;
  const pgbossBatch = options.pgbossBatch ?? pgBossBatch(500);
  const results: Record<System, RoundResult[]> = { taskq: [], bullmq: [], 'pg-boss': [] };
  const systems: System[] = ['taskq', 'bullmq', 'pg-boss'];
  const taskqRound = async (broker: string) =>
    runRound([
      'taskq',
      JSON.stringify({
        ...common,
        broker,
        store: broker,
        name: 'bench',
        workers,
        concurrency,
        bulk: options.bulk,
        queueLimit: options.queueLimit,
      }),
    ]);
  const line = (label: string, r: RoundResult) =>
    log(
      `${label.padEnd(22)} ${String(r.throughput).padStart(8)} tasks/s  enqueue ${r.enqueueRate ?? '-'} /s  ` +
        `p50 ${r.latencyP50Ms} ms  p95 ${r.latencyP95Ms} ms  rss ${r.peakRssMb} MB`,
    );

  for (let i = 0; i < options.rounds; i++) {
    const order = rotate(systems, i);
    for (const system of order) {
      const schema = `bench_${randomBytes(4).toString('hex')}`;
      try {
        let result: RoundResult;
        if (system === 'taskq') {
          result = await taskqRound(`${url}?schema=${schema}`);
        } else if (system === 'bullmq') {
          const config = { ...common, backend: 'postgres', connectionString: url, schema, concurrency: total };
          result = await runRound(['bullmq', JSON.stringify(config)]);
        } else {
          const config = { ...common, connectionString: url, schema, workers: pgbossLoops, batchSize: pgbossBatch };
          result = await runRound(['pgboss', JSON.stringify(config)]);
        }
        results[system].push(result);
        line(`round ${i + 1} ${system}`, result);
      } finally {
        await dropSchema(url, schema);
      }
    }
  }

  const others: Record<string, ReturnType<typeof aggregate> | { error: string }> = {};
  if (options.paced === 0 && !options.noOthers) {
    const prefix = `bench_${randomBytes(4).toString('hex')}_`;
    const sqliteFile = `${SQLITE_DIR}/taskq-bench-${randomBytes(4).toString('hex')}.sqlite`;
    for (const [name, broker] of [
      ['sqlite', `sqlite:${sqliteFile}`],
      ['mariadb', `${MYSQL_URL}?prefix=${prefix}`],
    ] as const) {
      try {
        const result = await taskqRound(broker);
        others[name] = aggregate([result]);
        line(`taskq on ${name}`, result);
      } catch (error) {
        others[name] = { error: (error as Error).message.split('\n')[0] ?? 'failed' };
      }
    }
    await cleanupOthers(sqliteFile, prefix);
  }

  const ratiosTo = (peer: System) =>
    results.taskq.map((t, i) => round(t.throughput / (results[peer][i] as RoundResult).throughput, 2));
  const vsBullmq = ratiosTo('bullmq');
  const vsPgboss = ratiosTo('pg-boss');
  const paced = options.paced > 0;
  return {
    target: 'postgres',
    mode: paced ? 'paced' : 'throughput',
    tasks: results.taskq[0]?.tasks ?? options.tasks,
    rounds: options.rounds,
    totalConcurrency: total,
    workers,
    concurrency,
    bulk: options.bulk,
    queueLimit: options.queueLimit,
    taskq: aggregate(results.taskq),
    bullmq: {
      ...aggregate(results.bullmq),
      backend: 'bullmq 6.7 createPostgresBackend (withBackend), same database, own schema per round',
      concurrency: total,
    },
    pgboss: {
      ...aggregate(results['pg-boss']),
      tuning: {
        workLoops: pgbossLoops,
        batchSize: pgbossBatch,
        pollingIntervalSeconds: 0.5,
        includeMetadata: false,
        priority: false,
      },
    },
    ratio: paced ? null : round(median(vsBullmq), 2),
    ratios: paced ? null : vsBullmq,
    ratioVsPgboss: paced ? null : round(median(vsPgboss), 2),
    ratiosVsPgboss: paced ? null : vsPgboss,
    taskqOtherDatabases: others,
  };
}

type System = 'taskq' | 'bullmq' | 'pg-boss';

/** The round's order: the list rotated by the round's index, so every system goes first in turn. */
export function rotate<T>(items: readonly T[], by: number): T[] {
  const k = items.length === 0 ? 0 : by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

/** TASKQ_BENCH_PGBOSS_BATCH overrides pg-boss's batch (as `--pgboss-batch` does). */
function pgBossBatch(fallback: number): number {
  const override = Number(process.env.TASKQ_BENCH_PGBOSS_BATCH);
  return Number.isInteger(override) && override > 0 ? override : fallback;
}

export async function dropSchema(url: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`drop schema if exists ${schema} cascade`);
  } finally {
    await client.end();
  }
}

async function cleanupOthers(sqliteFile: string, prefix: string): Promise<void> {
  const { rmSync } = await import('node:fs');
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${sqliteFile}${suffix}`, { force: true });
  const mysql = await import('mysql2/promise');
  const connection = await mysql.createConnection({ uri: MYSQL_URL });
  try {
    const [rows] = await connection.query(
      'select table_name as name from information_schema.tables where table_schema = database() and table_name like ?',
      [`${prefix}%`],
    );
    const names = (rows as { name: string }[]).map((r) => `\`${r.name}\``);
    if (names.length > 0) await connection.query(`drop table if exists ${names.join(', ')}`);
  } finally {
    await connection.end();
  }
}
