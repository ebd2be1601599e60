import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { runRound } from '../child.js';
import { median, round, type RoundResult } from '../measure.js';
import type { BenchOptions, BenchSummary } from './types.js';

/**
 * taskq on Redis (no-op tasks, results saved in Redis) against BullMQ (one
 * Worker) at the same total concurrency, alternating rounds against the same
 * Redis. Each round runs in its own process.
 */
export async function runRedisTarget(options: BenchOptions, log: (line: string) => void): Promise<BenchSummary> {
  const url = new URL(options.url);
  const host = url.hostname;
  const port = Number(url.port || 6379);
  const workers = options.workers;
  const concurrency = Math.max(1, Math.round(options.concurrency / workers));
  const taskq: RoundResult[] = [];
  const bullmq: RoundResult[] = [];
  for (let i = 0; i < options.rounds; i++) {
    const order = i % 2 === 0 ? ['taskq', 'bullmq'] : ['bullmq', 'taskq'];
    for (const system of order) {
      const prefix = `bench-${randomBytes(4).toString('hex')}`;
      const common = { tasks: options.tasks, paced: options.paced, pacedSeconds: options.pacedSeconds };
      let result: RoundResult;
      if (system === 'taskq') {
        const broker = `${options.url}?prefix=${prefix}`;
        const config = {
          ...common,
          broker,
          store: broker,
          name: 'bench',
          workers,
          concurrency,
          bulk: options.bulk,
          queueLimit: options.queueLimit,
        };
        result = await runRound(['taskq', JSON.stringify(config)]);
        taskq.push(result);
      } else {
        const config = { ...common, host, port, prefix, concurrency: workers * concurrency };
        result = await runRound(['bullmq', JSON.stringify(config)]);
        bullmq.push(result);
      }
      await deleteKeys(options.url, prefix);
      log(
        `round ${i + 1} ${system.padEnd(6)} ${String(result.throughput).padStart(8)} tasks/s  ` +
          `enqueue ${result.enqueueRate ?? '-'} /s  p50 ${result.latencyP50Ms} ms  p95 ${result.latencyP95Ms} ms  ` +
          `rss ${result.peakRssMb} MB`,
      );
    }
  }
  const ratios = taskq.map((t, i) => round(t.throughput / (bullmq[i] as RoundResult).throughput, 2));
  return {
    target: 'redis',
    mode: options.paced > 0 ? 'paced' : 'throughput',
    tasks: taskq[0]?.tasks ?? options.tasks,
    rounds: options.rounds,
    totalConcurrency: workers * concurrency,
    workers,
    concurrency,
    bulk: options.bulk,
    queueLimit: options.queueLimit,
    taskq: aggregate(taskq),
    bullmq: aggregate(bullmq),
    ratio: options.paced > 0 ? null : round(median(ratios), 2),
    ratios,
  };
}

export function aggregate(rounds: readonly RoundResult[]) {
  const pick = (f: (r: RoundResult) => number | null) => {
    const values = rounds.map(f).filter((v): v is number => v !== null);
    return values.length ? round(median(values), 3) : null;
  };
  return {
    throughput: pick((r) => r.throughput),
    enqueueRate: pick((r) => r.enqueueRate),
    latencyP50Ms: pick((r) => r.latencyP50Ms),
    latencyP95Ms: pick((r) => r.latencyP95Ms),
    peakRssMb: Math.max(...rounds.map((r) => r.peakRssMb)),
    perRound: rounds.map((r) => r.throughput),
  };
}

/** Removes a round's keys (taskq keys start with `{prefix:`, BullMQ's with `prefix:`). */
export async function deleteKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url);
  for (const pattern of [`{${prefix}:*`, `${prefix}:*`]) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  }
  await redis.quit();
}
