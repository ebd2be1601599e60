import { runRound } from '../child.js';
import type { RoundResult } from '../measure.js';
import { aggregate } from './redis.js';
import type { BenchOptions, BenchSummary } from './types.js';

/** Where one round of a taskq-alone target runs, and how to clean up after it. */
export interface AloneRound {
  broker: string;
  store: string;
  cleanup?: () => Promise<void>;
}

/**
 * The round loop of the targets no peer can run against (memory, SQS and MongoDB stand-ins): each round in its
 * own process on a fresh queue from `nextRound`, then one summary with the same JSON as the other targets.
 */
export async function runTaskqAlone(
  target: { name: string; server?: string },
  options: BenchOptions,
  log: (line: string) => void,
  nextRound: () => AloneRound,
): Promise<BenchSummary> {
  const workers = options.workers;
  const concurrency = Math.max(1, Math.round(options.concurrency / workers));
  const rounds: RoundResult[] = [];
  for (let i = 0; i < options.rounds; i++) {
    const { broker, store, cleanup } = nextRound();
    const config = {
      broker,
      store,
      name: 'bench',
      tasks: options.tasks,
      workers,
      concurrency,
      bulk: options.bulk,
      queueLimit: options.queueLimit,
      paced: options.paced,
      pacedSeconds: options.pacedSeconds,
    };
    try {
      const result = await runRound(['taskq', JSON.stringify(config)]);
      rounds.push(result);
      log(
        `round ${i + 1} taskq/${target.name} ${result.throughput} tasks/s  enqueue ${result.enqueueRate ?? '-'} /s  ` +
          `p50 ${result.latencyP50Ms} ms  p95 ${result.latencyP95Ms} ms  rss ${result.peakRssMb} MB`,
      );
    } finally {
      await cleanup?.();
    }
  }
  return {
    target: target.name,
    mode: options.paced > 0 ? 'paced' : 'throughput',
    ...(target.server === undefined ? {} : { server: target.server }),
    tasks: rounds[0]?.tasks ?? options.tasks,
    rounds: options.rounds,
    workers,
    concurrency,
    bulk: options.bulk,
    queueLimit: options.queueLimit,
    taskq: aggregate(rounds),
  };
}
