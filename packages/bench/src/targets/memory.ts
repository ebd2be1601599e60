import { runRound } from '../child.js';
import type { RoundResult } from '../measure.js';
import { aggregate } from './redis.js';
import type { BenchOptions, BenchSummary } from './types.js';

/** taskq alone on the in-memory broker and store: the ceiling of the cluster pipeline itself. */
export async function runMemoryTarget(options: BenchOptions, log: (line: string) => void): Promise<BenchSummary> {
  const workers = options.workers;
  const concurrency = Math.max(1, Math.round(options.concurrency / workers));
  const rounds: RoundResult[] = [];
  for (let i = 0; i < options.rounds; i++) {
    const config = {
      broker: 'memory:',
      store: 'memory:',
      name: 'bench',
      tasks: options.tasks,
      workers,
      concurrency,
      bulk: options.bulk,
      queueLimit: options.queueLimit,
      paced: options.paced,
      pacedSeconds: options.pacedSeconds,
    };
    const result = await runRound(['taskq', JSON.stringify(config)]);
    rounds.push(result);
    log(
      `round ${i + 1} taskq/memory ${result.throughput} tasks/s  enqueue ${result.enqueueRate ?? '-'} /s  ` +
        `p50 ${result.latencyP50Ms} ms  p95 ${result.latencyP95Ms} ms  rss ${result.peakRssMb} MB`,
    );
  }
  return {
    target: 'memory',
    mode: options.paced > 0 ? 'paced' : 'throughput',
    tasks: rounds[0]?.tasks ?? options.tasks,
    rounds: options.rounds,
    workers,
    concurrency,
    bulk: options.bulk,
    queueLimit: options.queueLimit,
    taskq: aggregate(rounds),
  };
}
