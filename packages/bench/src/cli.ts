#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import type { RoundResult } from './measure.js';
import type { BenchOptions, BenchSummary } from './targets/types.js';

type Runner = (o: BenchOptions, log: (line: string) => void) => Promise<BenchSummary>;

/**
 * Targets load on demand, so a round's child process (`--round`, `--cluster-process`)
 * carries only the modules of the system it runs: its RSS is that system's.
 */
const TARGETS: Record<string, () => Promise<Runner>> = {
  redis: async () => (await import('./targets/redis.js')).runRedisTarget,
  'redis-cluster': async () => (await import('./targets/redis-cluster.js')).runRedisClusterTarget,
  memory: async () => (await import('./targets/memory.js')).runMemoryTarget,
  postgres: async () => (await import('./targets/postgres.js')).runPostgresTarget,
  sqs: async () => (await import('./targets/sqs.js')).runSqsTarget,
  mongo: async () => (await import('./targets/mongo.js')).runMongoTarget,
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
  'redis-cluster': { workers: 1, bulk: 250, queueLimit: 500 },
  memory: { workers: 1, bulk: 250, queueLimit: 500 },
  postgres: { workers: 1, bulk: 250, queueLimit: 500 },
  sqs: { workers: 1, bulk: 250, queueLimit: 500 },
  mongo: { workers: 1, bulk: 250, queueLimit: 500 },
};

const USAGE = `usage: npm run bench -- --broker <${Object.keys(TARGETS).join('|')}>[,…] [--json] [--tasks N] [--rounds N]
       [--paced RATE] [--paced-seconds S] [--concurrency TOTAL] [--workers N] [--bulk N] [--queue-limit N] [--url redis://… | redis+cluster://h1:p1,…]
       [--pgboss-loops N] [--pgboss-batch N] [--no-others]
       npm run bench -- --cpu [--fib N] [--tasks N] [--rounds N] [--workers N]
       npm run bench -- --djangoq [--tasks N] [--rounds N] [--workers N] [--concurrency TOTAL] [--store sqlite|redis] [--djangoq-dir DIR]
       npm run bench -- --scale [--tasks N] [--rounds N] [--brokers redis,postgres] [--out FILE.svg]
       npm run bench -- --backlog [--levels 0,100000,1000000] [--tasks N] [--brokers redis,postgres]
       npm run bench -- --soak N [--window N] [--warmup FRACTION] [--save-limit N]
       npm run bench -- --idle [--workers N] [--idle-seconds S]
       npm run bench -- --dashboard [--json] [--rows N] [--runs N] [--reseed] [--url postgres://…]`;

const SCALE_CHART = fileURLToPath(new URL('../results/scale.svg', import.meta.url));

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      broker: { type: 'string', default: 'redis' },
      json: { type: 'boolean', default: false },
      tasks: { type: 'string' },
      rounds: { type: 'string' },
      paced: { type: 'string', default: '0' },
      'paced-seconds': { type: 'string', default: '10' },
      concurrency: { type: 'string' },
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
      'pgboss-loops': { type: 'string' },
      'pgboss-batch': { type: 'string' },
      'no-others': { type: 'boolean', default: false },
      cpu: { type: 'boolean', default: false },
      fib: { type: 'string', default: '27' },
      djangoq: { type: 'boolean', default: false },
      'djangoq-dir': { type: 'string' },
      store: { type: 'string', default: 'sqlite' },
      scale: { type: 'boolean', default: false },
      brokers: { type: 'string', default: 'redis,postgres' },
      out: { type: 'string' },
      backlog: { type: 'boolean', default: false },
      levels: { type: 'string', default: '0,100000,1000000' },
      soak: { type: 'string' },
      window: { type: 'string', default: '20000' },
      warmup: { type: 'string', default: '0.2' },
      'save-limit': { type: 'string', default: '1000' },
      idle: { type: 'boolean', default: false },
      'idle-seconds': { type: 'string', default: '20' },
      'cluster-process': { type: 'string' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (values['cluster-process']) {
    // Internal: a cluster process driven by its parent (systems/cluster.ts).
    const { runClusterProcess } = await import('./systems/cluster.js');
    await runClusterProcess(JSON.parse(values['cluster-process']));
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
    const { runDashboardTarget } = await import('./targets/dashboard.js');
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
  const log = values.json ? (line: string) => console.error(line) : (line: string) => console.log(line);
  const scenario = values.cpu
    ? 'cpu'
    : values.djangoq
      ? 'djangoq'
      : values.scale
        ? 'scale'
        : values.backlog
          ? 'backlog'
          : values.soak
            ? 'soak'
            : values.idle
              ? 'idle'
              : null;
  // the broker whose tuning applies: the scenarios run on Redis (and PostgreSQL) with the Redis settings
  // `--broker redis,postgres` runs several targets one after another and prints one summary with each
  const brokerNames = values.broker.split(',');
  const targets = scenario
    ? []
    : brokerNames.map((name) => {
        const load = TARGETS[name];
        if (!load) throw new Error(`unknown --broker "${name}"\n${USAGE}`);
        return [name, load] as const;
      });
  const tuningKey = scenario ? 'redis' : brokerNames[0]!;
  const paced = scenario ? 0 : Number(values.paced);
  const tuning = TUNING[tuningKey] ?? DEFAULT_TUNING;
  const defaults = SCENARIO_DEFAULTS[scenario ?? 'broker']!;
  const options: BenchOptions = {
    url: values.url,
    tasks: positiveInt(values.tasks ?? String(defaults.tasks), 'tasks'),
    rounds: positiveInt(values.rounds ?? (paced > 0 ? '1' : String(defaults.rounds)), 'rounds'),
    paced,
    pacedSeconds: Number(values['paced-seconds']),
    concurrency: positiveInt(values.concurrency ?? String(defaults.concurrency), 'concurrency'),
    workers: positiveInt(values.workers ?? String(defaults.workers ?? tuning.workers), 'workers'),
    bulk: positiveInt(values.bulk ?? String(tuning.bulk), 'bulk'),
    queueLimit: values['queue-limit'] ? positiveInt(values['queue-limit'], 'queue-limit') : tuning.queueLimit,
    ...(values['pgboss-loops'] ? { pgbossLoops: positiveInt(values['pgboss-loops'], 'pgboss-loops') } : {}),
    ...(values['pgboss-batch'] ? { pgbossBatch: positiveInt(values['pgboss-batch'], 'pgboss-batch') } : {}),
    noOthers: values['no-others'],
  };
  const brokers = values.brokers.split(',').map((b) => {
    if (b !== 'redis' && b !== 'postgres') throw new Error(`--brokers takes redis and/or postgres, got "${b}"`);
    return b as 'redis' | 'postgres';
  });
  // how busy the machine was before the run (other processes): a quiet machine shows ~0
  const machine = await machineBefore();
  log(`machine: ${machine.cores} cores, ${machine.busyCoresBefore ?? '?'} busy in the second before the run`);
  let summary: BenchSummary;
  if (scenario === 'cpu') {
    const { runCpuTarget } = await import('./targets/cpu.js');
    summary = await runCpuTarget({ ...options, fibN: positiveInt(values.fib, 'fib') }, log);
  } else if (scenario === 'djangoq') {
    if (values.store !== 'sqlite' && values.store !== 'redis') throw new Error('--store takes sqlite or redis');
    const { defaultHarness, runDjangoqTarget } = await import('./targets/djangoq.js');
    summary = await runDjangoqTarget(
      { ...options, harness: values['djangoq-dir'] ?? defaultHarness(), store: values.store },
      log,
    );
  } else if (scenario === 'scale') {
    const { runScaleTarget } = await import('./targets/scale.js');
    summary = await runScaleTarget({ ...options, brokers, out: values.out ?? SCALE_CHART }, log);
  } else if (scenario === 'backlog') {
    const { runBacklogTarget } = await import('./targets/backlog.js');
    const levels = values.levels.split(',').map((n) => {
      const level = Number(n);
      if (!Number.isInteger(level) || level < 0) throw new Error(`--levels takes counts ≥ 0, got "${n}"`);
      return level;
    });
    summary = await runBacklogTarget({ ...options, brokers, levels }, log);
  } else if (scenario === 'soak') {
    const { runSoakTarget } = await import('./targets/backlog.js');
    const warmup = Number(values.warmup);
    if (!(warmup >= 0 && warmup < 1)) throw new Error(`--warmup must be a fraction in [0, 1), got "${values.warmup}"`);
    summary = await runSoakTarget(
      {
        ...options,
        soak: positiveInt(values.soak!, 'soak'),
        window: positiveInt(values.window, 'window'),
        warmup,
        saveLimit: Number(values['save-limit']),
      },
      log,
    );
  } else if (scenario === 'idle') {
    const { runIdleTarget } = await import('./targets/backlog.js');
    summary = await runIdleTarget(
      { ...options, idleSeconds: positiveInt(values['idle-seconds'], 'idle-seconds') },
      log,
    );
  } else if (targets.length === 1) {
    summary = await (await targets[0]![1]())(options, log);
  } else {
    const each: Record<string, BenchSummary> = {};
    for (const [name, load] of targets) {
      log(`-- ${name}`);
      each[name] = await (await load())(options, log);
    }
    summary = { target: brokerNames.join(','), mode: paced > 0 ? 'paced' : 'throughput', ...each };
  }
  // The machine-readable result is always the last line.
  console.log(JSON.stringify({ ...summary, machine: { ...machine, finishedAt: new Date().toISOString() } }));
}

/** Per-scenario defaults of the common flags (a flag on the command line wins). */
const SCENARIO_DEFAULTS: Record<string, { tasks: number; rounds: number; concurrency: number; workers?: number }> = {
  broker: { tasks: 20_000, rounds: 3, concurrency: 50 },
  cpu: { tasks: 2_000, rounds: 3, concurrency: 2, workers: 2 },
  djangoq: { tasks: 5_000, rounds: 1, concurrency: 2, workers: 2 },
  scale: { tasks: 20_000, rounds: 1, concurrency: 50 },
  backlog: { tasks: 20_000, rounds: 1, concurrency: 50 },
  soak: { tasks: 1, rounds: 1, concurrency: 50 },
  idle: { tasks: 1, rounds: 1, concurrency: 50, workers: 2 },
};

async function runOneRound(system: string, config: string): Promise<RoundResult | object> {
  const parsed = JSON.parse(config);
  if (system === 'taskq') return (await import('./systems/taskq.js')).runTaskqRound(parsed);
  if (system === 'bullmq') return (await import('./systems/bullmq.js')).runBullmqRound(parsed);
  if (system === 'pgboss') return (await import('./systems/pgboss.js')).runPgBossRound(parsed);
  if (system === 'bullmq-idle') return (await import('./systems/bullmq.js')).runBullmqIdle(parsed);
  throw new Error(`unknown round system ${system}`);
}

/** Cores and how many of them were busy over one second, from /proc/stat. */
async function machineBefore(): Promise<{ cores: number; busyCoresBefore: number | null; startedAt: string }> {
  const { machineTicks } = await import('./procstat.js');
  const { availableParallelism } = await import('node:os');
  const cores = availableParallelism();
  const startedAt = new Date().toISOString();
  const a = machineTicks();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const b = machineTicks();
  const busyCoresBefore =
    a && b && b.total > a.total ? Math.round(((b.busy - a.busy) / (b.total - a.total)) * cores * 100) / 100 : null;
  return { cores, busyCoresBefore, startedAt };
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
