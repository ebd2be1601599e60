import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { availableParallelism } from 'node:os';
import { Redis } from 'ioredis';
import { spawnCluster, type ClusterChild } from '../child.js';
import { median, round, sleep, until } from '../measure.js';
import { pidsByComm, sampleCpu, saturation, type CpuShares } from '../procstat.js';
import { speedups, stopsScalingAt } from '../stats.js';
import { lineChartSvg } from '../svg.js';
import { doneSoFar, enqueueClient, fill, waitDone } from './clusters.js';
import { dropSchema } from './postgres.js';
import { deleteKeys } from './redis.js';
import type { BenchOptions, BenchSummary } from './types.js';

const POSTGRES_URL = process.env.TASKQ_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** One point of the scale curves: `processes` cluster processes with `threads` worker threads each. */
export interface ScalePoint {
  processes: number;
  threads: number;
}

export const SCALE_POINTS: readonly ScalePoint[] = [
  { processes: 1, threads: 1 },
  { processes: 1, threads: 2 },
  { processes: 2, threads: 1 },
  { processes: 4, threads: 1 },
];

export interface ScaleOptions extends BenchOptions {
  brokers: ('redis' | 'postgres')[];
  /** Where the SVG chart is written. */
  out: string;
}

interface ScaleRun {
  throughput: number;
  cpu: CpuShares;
  saturated: string;
  detail: string;
  otherProcessesCores: number | null;
}

/**
 * `--scale`: taskq throughput for 1 and 2 worker threads in one cluster
 * process, and for 1, 2 and 4 cluster processes (1 thread each) sharing one
 * Redis and one PostgreSQL. Each point: `--tasks` no-op tasks enqueued first
 * from this process, then the cluster processes start together; throughput =
 * tasks ÷ (first start in any process → last result saved in any process).
 * Every worker thread keeps `--concurrency` tasks in flight (so parallel units
 * add capacity). The clusters start on a paused queue and are resumed together
 * once all of them are up, so process start-up does not overlap the work. While they run, the CPU of the Redis server, the PostgreSQL
 * server processes, the cluster processes and their main threads, and the
 * machine are sampled from /proc; the busiest resource is named. The curves
 * are written as an SVG chart to `--out`.
 */
export async function runScaleTarget(options: ScaleOptions, log: (line: string) => void): Promise<BenchSummary> {
  const cores = availableParallelism();
  const redisPid = await serverPid(options.url);
  const results: Record<string, Record<string, ScaleRun[]>> = {};
  for (let i = 0; i < options.rounds; i++) {
    const points = i % 2 === 0 ? SCALE_POINTS : [...SCALE_POINTS].reverse();
    for (const broker of options.brokers) {
      for (const point of points) {
        const run = await scaleRun(broker, point, options, redisPid, cores);
        const key = label(point);
        ((results[broker] ??= {})[key] ??= []).push(run);
        log(
          `round ${i + 1} ${broker.padEnd(8)} ${key.padEnd(22)} ${String(run.throughput).padStart(8)} tasks/s  ` +
            `bound: ${run.saturated} (${run.detail})`,
        );
      }
    }
  }
  const summary: Record<string, unknown> = {};
  const series: { name: string; values: (number | null)[] }[] = [];
  for (const broker of options.brokers) {
    const points = SCALE_POINTS.map((point) => {
      const runs = results[broker]?.[label(point)] ?? [];
      const best = runs[Math.floor(runs.length / 2)];
      return {
        ...point,
        throughput: runs.length ? round(median(runs.map((r) => r.throughput))) : null,
        perRound: runs.map((r) => r.throughput),
        saturated: best?.saturated ?? null,
        detail: best?.detail ?? null,
        cpuCores: best?.cpu ?? null,
      };
    });
    const at = (processes: number, threads: number) =>
      points.find((p) => p.processes === processes && p.threads === threads)?.throughput ?? null;
    const threads = [at(1, 1), at(1, 2), null];
    const processes = [at(1, 1), at(2, 1), at(4, 1)];
    series.push({ name: `${broker}: worker threads`, values: threads });
    series.push({ name: `${broker}: cluster processes`, values: processes });
    const top = points.at(-1);
    summary[broker] = {
      points,
      speedupThreads: speedups(threads),
      speedupProcesses: speedups(processes),
      // the unit count after which one more step (×2) gained < 10 %; null = it kept scaling
      threadsStopScalingAt: stopsScalingAt([1, 2], threads.slice(0, 2)),
      processesStopScalingAt: stopsScalingAt([1, 2, 4], processes),
      boundAtTop: top ? { saturated: top.saturated, detail: top.detail } : null,
    };
    log(
      `${broker}: threads ${threads.slice(0, 2).join(' → ')}, processes ${processes.join(' → ')} tasks/s; ` +
        `stops scaling at ${stopsScalingAt([1, 2, 4], processes) ?? 'no point measured'} process(es); ` +
        `bound at 4 processes: ${top?.saturated ?? '?'}`,
    );
  }
  const svg = lineChartSvg({
    title: `taskq scale: no-op tasks/s (${options.tasks.toLocaleString('en-US')} tasks per point, ${cores} cores)`,
    xLabel: 'parallel units (worker threads in one process, or cluster processes of 1 thread)',
    yLabel: 'tasks/s',
    x: [1, 2, 4],
    series,
  });
  mkdirSync(dirname(options.out), { recursive: true });
  writeFileSync(options.out, svg);
  log(`chart written to ${options.out}`);
  return {
    target: 'scale',
    mode: 'throughput',
    tasks: options.tasks,
    rounds: options.rounds,
    cores,
    concurrencyPerThread: options.concurrency,
    bulk: options.bulk,
    queueLimit: options.queueLimit,
    chart: options.out,
    ...summary,
  };
}

function label(point: ScalePoint): string {
  return `${point.processes} proc × ${point.threads} thread${point.threads > 1 ? 's' : ''}`;
}

async function scaleRun(
  broker: 'redis' | 'postgres',
  point: ScalePoint,
  options: ScaleOptions,
  redisPid: number | null,
  cores: number,
): Promise<ScaleRun> {
  const id = randomBytes(4).toString('hex');
  const pgUrl = options.url.startsWith('postgres') ? options.url : POSTGRES_URL;
  const redisUrl = options.url.startsWith('redis') ? options.url : 'redis://127.0.0.1:6379';
  const url = broker === 'redis' ? `${redisUrl}?prefix=bench-${id}` : `${pgUrl}?schema=bench_${id}`;
  const q = enqueueClient(url, url);
  const children: ClusterChild[] = [];
  try {
    await fill(q, options.tasks);
    // the clusters boot paused (queue pause, read by every cluster) so that
    // none runs while the others are still starting; resume lets all go at once
    await q.pauseQueue('bench');
    for (let i = 0; i < point.processes; i++) {
      children.push(
        spawnCluster({
          broker: url,
          store: url,
          name: 'bench',
          workers: point.threads,
          concurrency: options.concurrency,
          bulk: options.bulk,
          queueLimit: options.queueLimit === null ? null : options.queueLimit * point.threads,
          saveLimit: 0,
          tickMs: 50,
        }),
      );
    }
    await Promise.all(children.map((c) => c.ready));
    await sleep(1000);
    await q.resumeQueue('bench');
    // sample CPU from the first finished task (the clusters see the resume within a guard cycle)
    await until(() => doneSoFar(children) > 0, 30_000, 'the first task after resume');
    const stopCpu = sampleCpu([
      { name: 'redis', pids: () => (redisPid === null ? [] : [redisPid]) },
      { name: 'postgres', pids: () => pidsByComm('postgres') },
      { name: 'cluster processes', pids: () => children.map((c) => c.pid) },
      { name: 'cluster main thread', pids: () => children.map((c) => c.pid), mainThread: true },
    ]);
    await waitDone(children, options.tasks, 600_000);
    const cpu = stopCpu();
    const results = await Promise.all(children.map((c) => c.stop()));
    children.length = 0;
    const first = Math.min(...results.map((r) => r.firstStart ?? Number.POSITIVE_INFINITY));
    const last = Math.max(...results.map((r) => r.lastDone));
    const bound = saturation(cpu, cores, ['redis', 'cluster main thread'], ['redis', 'postgres', 'cluster processes']);
    return { throughput: round(options.tasks / ((last - first) / 1000)), cpu, ...bound };
  } finally {
    await Promise.allSettled(children.map((c) => c.stop()));
    await q.close();
    if (broker === 'redis') await deleteKeys(redisUrl, `bench-${id}`);
    else await dropSchema(pgUrl, `bench_${id}`);
  }
}

/** The Redis server's pid (INFO server), to sample its CPU; null when it is not on this machine's /proc. */
async function serverPid(url: string): Promise<number | null> {
  if (!url.startsWith('redis')) url = 'redis://127.0.0.1:6379';
  const redis = new Redis(url);
  try {
    const info = await redis.info('server');
    const pid = Number(/process_id:(\d+)/.exec(info)?.[1]);
    return Number.isInteger(pid) ? pid : null;
  } finally {
    redis.disconnect();
  }
}
