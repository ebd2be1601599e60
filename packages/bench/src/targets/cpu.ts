import { randomBytes } from 'node:crypto';
import { runRound } from '../child.js';
import { median, round, type RoundResult } from '../measure.js';
import { rotate } from './postgres.js';
import { aggregate, deleteKeys } from './redis.js';
import type { BenchOptions, BenchSummary } from './types.js';
import { fibonacci } from '../tasks.js';

type System = 'taskq' | 'bullmq' | 'bullmq-sandboxed';

/**
 * `--cpu`: CPU-bound tasks (naive fib(n), n = `--fib`, default 27) on Redis.
 * taskq with `--workers` worker threads (default 2, concurrency 1 per thread)
 * against BullMQ's single-process Worker (the processor runs on its event loop,
 * concurrency = the same parallelism) and BullMQ's sandboxed processor on
 * worker threads (`useWorkerThreads: true`, concurrency = the same parallelism:
 * BullMQ keeps that many threads). Rounds rotate the order; each in its own process.
 */
export async function runCpuTarget(
  options: BenchOptions & { fibN: number },
  log: (line: string) => void,
): Promise<BenchSummary> {
  const url = new URL(options.url);
  const host = url.hostname;
  const port = Number(url.port || 6379);
  const parallel = options.workers;
  const fibMs = timeFib(options.fibN);
  log(
    `fib(${options.fibN}) takes ${fibMs} ms on one core here: ${parallel} cores at most ~${round((parallel * 1000) / fibMs)} tasks/s`,
  );
  const results: Record<System, RoundResult[]> = { taskq: [], bullmq: [], 'bullmq-sandboxed': [] };
  const systems: System[] = ['taskq', 'bullmq', 'bullmq-sandboxed'];
  for (let i = 0; i < options.rounds; i++) {
    for (const system of rotate(systems, i)) {
      const prefix = `bench-${randomBytes(4).toString('hex')}`;
      const common = { tasks: options.tasks, paced: 0, pacedSeconds: 0, task: 'fib', fibN: options.fibN };
      let result: RoundResult;
      try {
        if (system === 'taskq') {
          const broker = `${options.url}?prefix=${prefix}`;
          const config = {
            ...common,
            broker,
            store: broker,
            name: 'bench',
            workers: parallel,
            concurrency: 1,
            bulk: options.bulk,
            queueLimit: options.queueLimit,
          };
          result = await runRound(['taskq', JSON.stringify(config)]);
        } else {
          const sandbox = system === 'bullmq-sandboxed';
          const config = { ...common, host, port, prefix, concurrency: parallel, sandbox };
          result = await runRound(['bullmq', JSON.stringify(config)]);
        }
      } finally {
        await deleteKeys(options.url, prefix);
      }
      results[system].push(result);
      log(
        `round ${i + 1} ${system.padEnd(16)} ${String(result.throughput).padStart(8)} tasks/s  ` +
          `enqueue ${result.enqueueRate ?? '-'} /s  rss ${result.peakRssMb} MB`,
      );
    }
  }
  const ratios = (peer: System) =>
    results.taskq.map((t, i) => round(t.throughput / (results[peer][i] as RoundResult).throughput, 2));
  const vsBullmq = ratios('bullmq');
  const vsSandboxed = ratios('bullmq-sandboxed');
  return {
    target: 'cpu',
    mode: 'throughput',
    broker: 'redis',
    task: `fib(${options.fibN}) naive recursive`,
    tasks: options.tasks,
    rounds: options.rounds,
    parallelism: parallel,
    fibMsOneCore: fibMs,
    ceilingTasksPerSecond: round((parallel * 1000) / fibMs),
    taskq: { ...aggregate(results.taskq), workers: parallel, concurrencyPerThread: 1 },
    bullmq: { ...aggregate(results.bullmq), concurrency: parallel, note: 'one process, processor on its event loop' },
    bullmqSandboxed: { ...aggregate(results['bullmq-sandboxed']), concurrency: parallel, useWorkerThreads: true },
    ratio: round(median(vsBullmq), 2),
    ratios: vsBullmq,
    ratioVsSandboxed: round(median(vsSandboxed), 2),
    ratiosVsSandboxed: vsSandboxed,
  };
}

/** Median time of one fib(n) in this process (after a warm-up): what a task costs a core. */
function timeFib(n: number): number {
  for (let i = 0; i < 5; i++) fibonacci(n);
  const samples: number[] = [];
  for (let i = 0; i < 21; i++) {
    const t = performance.now();
    fibonacci(n);
    samples.push(performance.now() - t);
  }
  return round(median(samples), 2);
}
