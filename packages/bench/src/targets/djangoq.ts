import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnCluster } from '../child.js';
import { hrnow, median, percentile, round } from '../measure.js';
import { enqueueClient, waitDone } from './clusters.js';
import { deleteKeys } from './redis.js';
import type { BenchOptions, BenchSummary } from './types.js';

const PYTHON = '/usr/bin/python3';
const SQLITE_DIR = process.env.TASKQ_SQLITE_DIR ?? '/tmp';

export interface DjangoqOptions extends BenchOptions {
  /** The Django Q harness (default ../shared/bench/djangoq from the repository root). */
  harness: string;
  /** Where taskq saves results: `sqlite` (like the harness, default) or `redis`. */
  store: 'sqlite' | 'redis';
}

/** How a taskq round of this scenario is shaped. */
interface Shape {
  label: string;
  concurrencyPerThread: number;
  bulk: number;
  queueLimit: number | null;
}

/** Default harness folder: `../shared/bench/djangoq` beside the repository (TASKQ_BENCH_DJANGOQ_DIR overrides). */
export function defaultHarness(): string {
  // dist/targets/ → the repository root is four levels up; the harness sits beside the repository
  return (
    process.env.TASKQ_BENCH_DJANGOQ_DIR ??
    fileURLToPath(new URL('../../../../../shared/bench/djangoq', import.meta.url))
  );
}

/**
 * `--djangoq`: Django Q 1.3.9 itself (Debian's python3-django-q, run by the
 * harness's bench.py: 2 worker processes, Redis broker, results in SQLite,
 * tasks enqueued one by one while the cluster runs) against taskq on the same
 * Redis with the same shape: a cluster process with 2 worker threads and the
 * same total concurrency (`--concurrency`, default 2 here: one task per
 * worker, like Django Q's processes), results in a SQLite file in /tmp, tasks
 * enqueued one by one (`enqueue`, awaited) from this process while the cluster
 * runs. Throughput for both = tasks ÷ (first enqueue → last result saved).
 * A second taskq round per round runs with the Redis target's tuning (25
 * tasks in flight per thread, bulk 250, queueLimit 500): `ratioTuned`.
 * `--store redis` saves taskq's results in Redis instead of SQLite.
 * When the harness cannot run, the summary says why instead of a ratio.
 */
export async function runDjangoqTarget(options: DjangoqOptions, log: (line: string) => void): Promise<BenchSummary> {
  const base: BenchSummary = {
    target: 'djangoq',
    mode: 'throughput',
    broker: 'redis',
    tasks: options.tasks,
    rounds: options.rounds,
    workers: options.workers,
    harness: options.harness,
  };
  if (!existsSync(join(options.harness, 'bench.py'))) {
    return {
      ...base,
      djangoq: { error: `the Django Q harness is not at ${options.harness} (no bench.py); pass --djangoq-dir DIR` },
      ratio: null,
    };
  }
  const check = spawnSync(PYTHON, ['-c', 'import django, django_q, redis; print(django_q.VERSION)'], {
    encoding: 'utf8',
  });
  if (check.status !== 0) {
    return {
      ...base,
      djangoq: {
        error:
          `Django Q is not importable by ${PYTHON} (${(check.stderr || String(check.error)).trim().split('\n').pop()}); ` +
          `install it with: apt-get install -y python3-django-q python3-redis (see ${options.harness}/setup.sh)`,
      },
      ratio: null,
    };
  }
  // Django Q's shape (taskq's defaults are Django Q's: concurrency 1 per worker, bulk 1, queueLimit workers²)
  // and taskq with the Redis target's tuning (many tasks in flight per thread, bulk claims)
  const shapes: Shape[] = [
    {
      label: 'taskq',
      concurrencyPerThread: Math.max(1, Math.round(options.concurrency / options.workers)),
      bulk: 1,
      queueLimit: null,
    },
    { label: 'taskq-tuned', concurrencyPerThread: 25, bulk: 250, queueLimit: 500 },
  ];
  const taskq: Record<string, TaskqDjangoRound[]> = { taskq: [], 'taskq-tuned': [] };
  const djangoq: DjangoqRun[] = [];
  const storeLabel = options.store === 'redis' ? 'redis (same prefix as the broker)' : 'sqlite file in /tmp';
  for (let i = 0; i < options.rounds; i++) {
    const order = i % 2 === 0 ? ['taskq', 'djangoq', 'taskq-tuned'] : ['taskq-tuned', 'djangoq', 'taskq'];
    for (const system of order) {
      const shape = shapes.find((s) => s.label === system);
      if (shape) {
        const r = await taskqRound(options, shape);
        taskq[shape.label]!.push(r);
        log(
          `round ${i + 1} ${shape.label.padEnd(12)} ${String(r.throughput).padStart(8)} tasks/s  enqueue ${r.enqueueRate} /s  ` +
            `pickup p50 ${r.pickupP50Ms} ms`,
        );
      } else {
        const r = await djangoqRun(options);
        if ('error' in r) return { ...base, djangoq: r, taskq: summarize(taskq.taskq!), ratio: null };
        djangoq.push(r);
        log(
          `round ${i + 1} djangoq      ${String(r.throughput).padStart(8)} tasks/s  enqueue ${r.enqueue_rate} /s  ` +
            `pickup p50 ${r.pickup_latency_ms?.p50} ms  (foreign CPU ${r.cpu?.foreign_s} s)`,
        );
      }
    }
  }
  const ratios = (rounds: readonly TaskqDjangoRound[]) =>
    rounds.map((t, i) => round(t.throughput / (djangoq[i] as DjangoqRun).throughput, 1));
  const plain = ratios(taskq.taskq!);
  const tuned = ratios(taskq['taskq-tuned']!);
  const describe = (shape: Shape) => ({
    store: storeLabel,
    workers: options.workers,
    concurrencyPerThread: shape.concurrencyPerThread,
    bulk: shape.bulk,
    queueLimit: shape.queueLimit ?? 'default (workers²)',
  });
  return {
    ...base,
    taskq: { ...summarize(taskq.taskq!), ...describe(shapes[0]!) },
    taskqTuned: { ...summarize(taskq['taskq-tuned']!), ...describe(shapes[1]!) },
    djangoq: {
      version: djangoq[0]?.version,
      throughput: round(median(djangoq.map((r) => r.throughput)), 1),
      enqueueRate: round(median(djangoq.map((r) => r.enqueue_rate)), 1),
      pickupP50Ms: round(median(djangoq.map((r) => r.pickup_latency_ms?.p50 ?? Number.NaN)), 2),
      perRound: djangoq.map((r) => r.throughput),
      foreignCpuS: djangoq.map((r) => r.cpu?.foreign_s ?? null),
      store: 'sqlite (harness default)',
      workers: options.workers,
    },
    ratio: round(median(plain), 1),
    ratios: plain,
    ratioTuned: round(median(tuned), 1),
    ratiosTuned: tuned,
  };
}

interface TaskqDjangoRound {
  throughput: number;
  enqueueRate: number;
  pickupP50Ms: number | null;
  peakRssMb: number;
}

function summarize(rounds: readonly TaskqDjangoRound[]) {
  return {
    throughput: rounds.length ? round(median(rounds.map((r) => r.throughput)), 1) : null,
    enqueueRate: rounds.length ? round(median(rounds.map((r) => r.enqueueRate)), 1) : null,
    pickupP50Ms: rounds.length ? median(rounds.map((r) => r.pickupP50Ms ?? Number.NaN)) : null,
    peakRssMb: rounds.length ? Math.max(...rounds.map((r) => r.peakRssMb)) : null,
    perRound: rounds.map((r) => r.throughput),
  };
}

async function taskqRound(options: DjangoqOptions, shape: Shape): Promise<TaskqDjangoRound> {
  const prefix = `bench-${randomBytes(4).toString('hex')}`;
  const broker = `${options.url}?prefix=${prefix}`;
  const sqlite = `${SQLITE_DIR}/taskq-bench-dq-${prefix}.sqlite`;
  const store = options.store === 'redis' ? broker : `sqlite:${sqlite}`;
  const cluster = spawnCluster({
    broker,
    store,
    name: 'bench',
    workers: options.workers,
    concurrency: shape.concurrencyPerThread,
    bulk: shape.bulk,
    queueLimit: shape.queueLimit,
    saveLimit: 0,
    tickMs: 20,
  });
  const q = enqueueClient(broker, store);
  try {
    await cluster.ready;
    const first = hrnow();
    for (let i = 0; i < options.tasks; i++) await q.enqueue('noop', [hrnow()]);
    const enqueued = hrnow();
    await waitDone([cluster], options.tasks, 600_000);
    const result = await cluster.stop();
    return {
      throughput: round(options.tasks / ((result.lastDone - first) / 1000), 1),
      enqueueRate: round(options.tasks / ((enqueued - first) / 1000), 1),
      pickupP50Ms: percentile(result.latencies, 50),
      peakRssMb: result.peakRssMb,
    };
  } finally {
    await q.close();
    await deleteKeys(options.url, prefix);
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${sqlite}${suffix}`, { force: true });
  }
}

interface DjangoqRun {
  version: string;
  throughput: number;
  enqueue_rate: number;
  pickup_latency_ms?: { p50: number };
  cpu?: { foreign_s: number };
}

/** One run of the harness's bench.py (its last stdout line is one JSON object). */
function djangoqRun(options: DjangoqOptions): Promise<DjangoqRun | { error: string }> {
  const args = [
    'bench.py',
    '--broker',
    'redis',
    '--workers',
    String(options.workers),
    '--tasks',
    String(options.tasks),
    '--kind',
    'noop',
  ];
  const url = new URL(options.url);
  const env = { ...process.env, DQBENCH_REDIS_HOST: url.hostname, DQBENCH_REDIS_PORT: url.port || '6379' };
  return new Promise((resolvePromise) => {
    const child = spawn(PYTHON, args, { cwd: options.harness, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', (e) => resolvePromise({ error: `could not start ${PYTHON}: ${e.message}` }));
    child.on('exit', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      try {
        const parsed = JSON.parse(last) as DjangoqRun & { success?: number };
        if (code !== 0) throw new Error('exit');
        resolvePromise(parsed);
      } catch {
        const tail = err.trim().split('\n').slice(-3).join(' | ');
        resolvePromise({
          error: `the harness (${PYTHON} ${args.join(' ')} in ${options.harness}) exited with ${code}: ${tail}`,
        });
      }
    });
  });
}
