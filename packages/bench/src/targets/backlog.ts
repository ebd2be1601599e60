import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { spawnCluster, type ClusterChild } from '../child.js';
import { median, round, sleep } from '../measure.js';
import { rssSlopePer100k, type RssSample } from '../stats.js';
import { doneSoFar, enqueueClient, fill, waitDone } from './clusters.js';
import { dropSchema } from './postgres.js';
import { deleteKeys } from './redis.js';
import type { BenchOptions, BenchSummary } from './types.js';
import { runRound } from '../child.js';

const POSTGRES_URL = process.env.TASKQ_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface BacklogOptions extends BenchOptions {
  brokers: ('redis' | 'postgres')[];
  /** Tasks already waiting before the measurement, e.g. 0, 100,000, 1,000,000. */
  levels: number[];
}

/** Where a broker kind lives for one measurement, and how to clean it up. */
function place(broker: 'redis' | 'postgres', options: BenchOptions): { url: string; cleanup: () => Promise<void> } {
  const id = randomBytes(4).toString('hex');
  if (broker === 'redis') {
    const redisUrl = options.url.startsWith('redis') ? options.url : 'redis://127.0.0.1:6379';
    return { url: `${redisUrl}?prefix=bench-${id}`, cleanup: () => deleteKeys(redisUrl, `bench-${id}`) };
  }
  const pgUrl = options.url.startsWith('postgres') ? options.url : POSTGRES_URL;
  return { url: `${pgUrl}?schema=bench_${id}`, cleanup: () => dropSchema(pgUrl, `bench_${id}`) };
}

function clusterConfig(url: string, options: BenchOptions, saveLimit: number, tickMs: number) {
  return {
    broker: url,
    store: url,
    name: 'bench',
    workers: options.workers,
    concurrency: Math.max(1, Math.round(options.concurrency / options.workers)),
    bulk: options.bulk,
    queueLimit: options.queueLimit,
    saveLimit,
    tickMs,
  };
}

/**
 * `--backlog`: with 0, 100,000 and 1,000,000 no-op tasks already waiting
 * (`--levels`), on Redis and PostgreSQL: the rate of enqueueing `--tasks` more
 * in chunks of 1,000 (enqueue rate with the backlog), then a fresh cluster
 * process starts on the queue: time from `cluster.start()` to its first task
 * start (pickup), the rate at which it takes the next `--tasks` tasks off the
 * backlog, and its RSS (peak, and the median of 1-second samples) while the
 * backlog waits — bounded by `queueLimit` if the cluster holds no more than
 * it should. taskq only: no peer is run here.
 */
export async function runBacklogTarget(options: BacklogOptions, log: (line: string) => void): Promise<BenchSummary> {
  const out: Record<string, unknown[]> = {};
  for (const broker of options.brokers) {
    await warmUp(broker, options);
    for (const level of options.levels) {
      const { url, cleanup } = place(broker, options);
      const q = enqueueClient(url, url);
      let cluster: ClusterChild | null = null;
      try {
        await q.runtime(); // connected (and migrated) before anything is timed
        const fillRate = level > 0 ? await fill(q, level, (n) => log(`  ${broker}: ${n} waiting…`)) : null;
        const enqueueRate = await fill(q, options.tasks);
        cluster = spawnCluster(clusterConfig(url, options, 0, 1000));
        const ready = await cluster.ready;
        await waitDone([cluster], options.tasks, 900_000);
        const ticks = cluster.ticks.map((t) => t.rssMb);
        const result = await cluster.stop();
        cluster = null;
        const row = {
          waiting: level,
          fillRate,
          enqueueRate,
          pickupMs: result.firstStart === null ? null : round(result.firstStart - ready.startCalledAt, 1),
          readyToFirstMs: result.firstStart === null ? null : round(result.firstStart - ready.readyAt, 1),
          drainRate:
            result.firstStart === null ? null : round(result.done / ((result.lastDone - result.firstStart) / 1000)),
          peakRssMb: result.peakRssMb,
          medianRssMb: ticks.length ? median(ticks) : null,
        };
        const empty = (out[broker] as { waiting: number; peakRssMb: number }[] | undefined)?.find(
          (r) => r.waiting === 0,
        );
        Object.assign(row, {
          rssVsEmptyMb: empty ? round(row.peakRssMb - empty.peakRssMb, 1) : level === 0 ? 0 : null,
        });
        (out[broker] ??= []).push(row);
        log(
          `${broker.padEnd(8)} ${String(level).padStart(9)} waiting: enqueue ${enqueueRate}/s  pickup ${row.pickupMs} ms (${row.readyToFirstMs} after ready)  ` +
            `drain ${row.drainRate}/s  rss peak ${row.peakRssMb} MB (median ${row.medianRssMb})`,
        );
      } finally {
        if (cluster) await cluster.stop().catch(() => undefined);
        await q.close();
        await cleanup();
      }
    }
  }
  return {
    target: 'backlog',
    mode: 'throughput',
    tasks: options.tasks,
    levels: options.levels,
    workers: options.workers,
    concurrency: options.concurrency,
    bulk: options.bulk,
    queueLimit: options.queueLimit,
    ...out,
  };
}

/** Enqueues 5,000 tasks on a throw-away queue of the broker so the first level's enqueue rate is not JIT-cold. */
async function warmUp(broker: 'redis' | 'postgres', options: BenchOptions): Promise<void> {
  const { url, cleanup } = place(broker, options);
  const q = enqueueClient(url, url);
  try {
    await fill(q, 5000);
  } finally {
    await q.close();
    await cleanup();
  }
}

export interface SoakOptions extends BenchOptions {
  soak: number;
  /** Fraction of the tasks treated as warm-up (left out of the slope). */
  warmup: number;
  /** Tasks enqueued but not finished, at most (the producer waits above it). */
  window: number;
  /** taskq saveLimit during the soak (results pruned to the newest N, so Redis does not hold every result). */
  saveLimit: number;
}

/**
 * `--soak N`: N no-op tasks through Redis, fed by this process in chunks of
 * 1,000 while at most `window` are outstanding, into one cluster process whose
 * RSS is sampled every second; prints the least-squares slope of RSS over tasks
 * done after warm-up, in MB per 100,000 tasks. Redis's used_memory before and
 * after shows what the run left in the server (results beyond `saveLimit` are pruned).
 */
export async function runSoakTarget(options: SoakOptions, log: (line: string) => void): Promise<BenchSummary> {
  const { url, cleanup } = place('redis', options);
  const q = enqueueClient(url, url);
  const cluster = spawnCluster({ ...clusterConfig(url, options, options.saveLimit, 250), keepLatencies: 0 });
  const samples: (RssSample & { at: number })[] = [];
  const redisUrl = options.url.startsWith('redis') ? options.url : 'redis://127.0.0.1:6379';
  try {
    await cluster.ready;
    const redisBefore = await redisUsedMb(redisUrl);
    let sent = 0;
    let lastSample = 0;
    let lastLog = 0;
    const began = Date.now();
    while (doneSoFar([cluster]) < options.soak) {
      const tick = cluster.latest();
      if (tick && tick.at - lastSample >= 1000) {
        samples.push({ done: tick.done, rssMb: tick.rssMb, at: tick.at });
        lastSample = tick.at;
        if (tick.at - lastLog >= 10_000) {
          log(`  ${tick.done} done, rss ${tick.rssMb} MB`);
          lastLog = tick.at;
        }
      }
      if (sent < options.soak && sent - doneSoFar([cluster]) < options.window) {
        const n = Math.min(1000, options.soak - sent);
        const t = performance.timeOrigin + performance.now();
        await q.enqueueMany(Array.from({ length: n }, () => ({ task: 'noop', args: [t] })));
        sent += n;
      } else {
        await sleep(5);
      }
      if (Date.now() - began > 3_600_000) throw new Error('soak did not finish within an hour');
    }
    const redisAfter = await redisUsedMb(redisUrl);
    const result = await cluster.stop();
    const slope = rssSlopePer100k(samples, options.soak, options.warmup);
    const rss = samples.map((s) => s.rssMb);
    const seconds = (result.lastDone - (result.firstStart ?? result.lastDone)) / 1000;
    log(
      `soak: ${options.soak} tasks, ${round(options.soak / seconds)} tasks/s; RSS ${rss[0]} → ${rss.at(-1)} MB ` +
        `(max ${Math.max(...rss)}); slope after warm-up ${slope.slopeMbPer100k} MB per 100,000 tasks`,
    );
    return {
      target: 'soak',
      mode: 'throughput',
      broker: 'redis',
      tasks: options.soak,
      throughput: round(options.soak / seconds),
      warmupFraction: options.warmup,
      window: options.window,
      saveLimit: options.saveLimit,
      workers: options.workers,
      concurrency: options.concurrency,
      bulk: options.bulk,
      queueLimit: options.queueLimit,
      rssSamples: samples.length,
      rssFirstMb: rss[0] ?? null,
      rssLastMb: rss.at(-1) ?? null,
      rssMaxMb: rss.length ? Math.max(...rss) : null,
      peakRssMb: result.peakRssMb,
      redisUsedMemoryMb: { before: redisBefore, after: redisAfter },
      ...slope,
      series: samples.map((s) => [s.done, s.rssMb]),
    };
  } finally {
    await cluster.stop().catch(() => undefined);
    await q.close();
    await cleanup();
  }
}

/** Redis's used_memory in MB (INFO memory): what the soak left behind in the server. */
async function redisUsedMb(url: string): Promise<number | null> {
  const redis = new Redis(url);
  try {
    const used = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1]);
    return Number.isFinite(used) ? round(used / 1024 / 1024, 1) : null;
  } finally {
    redis.disconnect();
  }
}

/**
 * `--idle`: RSS of an idle cluster process with `--workers` worker threads
 * (default 2) on an empty Redis queue, sampled every second for
 * `idleSeconds` after 5 s of settling; BullMQ's idle Worker process (same
 * total concurrency) beside it.
 */
export async function runIdleTarget(
  options: BenchOptions & { idleSeconds: number },
  log: (line: string) => void,
): Promise<BenchSummary> {
  const { url, cleanup } = place('redis', options);
  const cluster = spawnCluster(clusterConfig(url, options, 0, 1000));
  let taskq: { medianRssMb: number; maxRssMb: number; samples: number };
  try {
    await cluster.ready;
    await sleep((5 + options.idleSeconds) * 1000);
    const ticks = cluster.ticks.filter((_, i) => i >= 5).map((t) => t.rssMb);
    await cluster.stop();
    taskq = { medianRssMb: median(ticks), maxRssMb: Math.max(...ticks), samples: ticks.length };
  } finally {
    await cluster.stop().catch(() => undefined);
    await cleanup();
  }
  log(`taskq idle cluster (${options.workers} workers): RSS median ${taskq.medianRssMb} MB, max ${taskq.maxRssMb} MB`);
  const u = new URL(options.url.startsWith('redis') ? options.url : 'redis://127.0.0.1:6379');
  const prefix = `bench-${randomBytes(4).toString('hex')}`;
  const bullmq = await runRound([
    'bullmq-idle',
    JSON.stringify({
      host: u.hostname,
      port: Number(u.port || 6379),
      prefix,
      concurrency: options.concurrency,
      seconds: options.idleSeconds,
    }),
  ]).catch((error: Error) => ({ error: error.message }));
  await deleteKeys(u.toString(), prefix);
  log(`bullmq idle Worker: ${JSON.stringify(bullmq)}`);
  return {
    target: 'idle',
    mode: 'throughput',
    broker: 'redis',
    workers: options.workers,
    concurrency: options.concurrency,
    idleSeconds: options.idleSeconds,
    taskq,
    bullmq,
  };
}
