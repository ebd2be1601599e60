#!/usr/bin/env node
import { parseArgs } from 'node:util';
import type { RoundResult } from './measure.js';
import { runMemoryTarget } from './targets/memory.js';
import { runRedisTarget } from './targets/redis.js';
import { runPostgresTarget } from './targets/postgres.js';
import { runMongoTarget } from './targets/mongo.js';
import { runSqsTarget } from './targets/sqs.js';
import { runDashboardTarget } from './targets/dashboard.js';
import type { BenchOptions, BenchSummary } from './targets/types.js';

const TARGETS: Record<string, (o: BenchOptions, log: (line: string) => void) => Promise<BenchSummary>> = {
  redis: runRedisTarget,
  memory: runMemoryTarget,
  postgres: runPostgresTarget,
  sqs: runSqsTarget,
  mongo: runMongoTarget,
};

/**
 * taskq settings per target unless given on the command line. On the 2-core
 * bench machine one worker thread (× 50) beat two (× 25): the main thread,
 * the worker thread and Redis already share two cores. Bulk pulls of 250 with
 * 500 tasks held keep the pipeline fed between round trips.
 */
const DEFAULT_TUNING = { workers: 2, bulk: 100, queueLimit: null as number | null };
const TUNING: Record<string, typeof DEFAULT_TUNING> = {
  redis: { workers: 1, bulk: 250, queueLimit: 500 },
  memory: { workers: 1, bulk: 250, queueLimit: 500 },
  postgres: { workers: 1, bulk: 250, queueLimit: 500 },
  sqs: { workers: 1, bulk: 250, queueLimit: 500 },
  mongo: { workers: 1, bulk: 250, queueLimit: 500 },
};

const USAGE = `usage: npm run bench -- --broker <${Object.keys(TARGETS).join('|')}> [--json] [--tasks N] [--rounds N]
       [--paced RATE] [--paced-seconds S] [--concurrency TOTAL] [--workers N] [--bulk N] [--queue-limit N] [--url redis://…]
       npm run bench -- --dashboard [--json] [--rows N] [--runs N] [--reseed] [--url postgres://…]`;

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      broker: { type: 'string', default: 'redis' },
      json: { type: 'boolean', default: false },
      tasks: { type: 'string', default: '20000' },
      rounds: { type: 'string' },
      paced: { type: 'string', default: '0' },
      'paced-seconds': { type: 'string', default: '10' },
      concurrency: { type: 'string', default: '50' },
      workers: { type: 'string' },
      bulk: { type: 'string' },
      'queue-limit': { type: 'string' },
      url: { type: 'string', default: process.env.TASKQ_REDIS_URL ?? 'redis://127.0.0.1:6379' },
      round: { type: 'string' },
      dashboard: { type: 'boolean', default: false },
      rows: { type: 'string', default: '1000000' },
      runs: { type: 'string', default: '20' },
      reseed: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (values.round) {
    // Internal: one round of one system, in this (child) process.
    console.log(JSON.stringify(await runOneRound(values.round, positionals[0] ?? '{}')));
    return;
  }
  if (values.dashboard) {
    // The dashboard's search over a seeded PostgreSQL table (see targets/dashboard.ts).
    const log = values.json ? (line: string) => console.error(line) : (line: string) => console.log(line);
    const pgUrl = values.url.startsWith('postgres')
      ? values.url
      : (process.env.TASKQ_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test');
    const summary = await runDashboardTarget(
      {
        url: pgUrl,
        rows: positiveInt(values.rows, 'rows'),
        runs: positiveInt(values.runs, 'runs'),
        reseed: values.reseed,
      },
      log,
    );
    console.log(JSON.stringify(summary));
    return;
  }
  const target = TARGETS[values.broker];
  if (!target) throw new Error(`unknown --broker "${values.broker}"\n${USAGE}`);
  const paced = Number(values.paced);
  const tuning = TUNING[values.broker] ?? DEFAULT_TUNING;
  const options: BenchOptions = {
    url: values.url,
    tasks: positiveInt(values.tasks, 'tasks'),
    rounds: positiveInt(values.rounds ?? (paced > 0 ? '1' : '3'), 'rounds'),
    paced,
    pacedSeconds: Number(values['paced-seconds']),
    concurrency: positiveInt(values.concurrency, 'concurrency'),
    workers: positiveInt(values.workers ?? String(tuning.workers), 'workers'),
    bulk: positiveInt(values.bulk ?? String(tuning.bulk), 'bulk'),
    queueLimit: values['queue-limit'] ? positiveInt(values['queue-limit'], 'queue-limit') : tuning.queueLimit,
  };
  const log = values.json ? (line: string) => console.error(line) : (line: string) => console.log(line);
  const summary = await target(options, log);
  // The machine-readable result is always the last line.
  console.log(JSON.stringify(summary));
}

async function runOneRound(system: string, config: string): Promise<RoundResult> {
  const parsed = JSON.parse(config);
  if (system === 'taskq') return (await import('./systems/taskq.js')).runTaskqRound(parsed);
  if (system === 'bullmq') return (await import('./systems/bullmq.js')).runBullmqRound(parsed);
  if (system === 'pgboss') return (await import('./systems/pgboss.js')).runPgBossRound(parsed);
  throw new Error(`unknown round system ${system}`);
}

function positiveInt(value: string, name: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got "${value}"`);
  return n;
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exit(1);
  },
);
