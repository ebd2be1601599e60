import { randomBytes } from 'node:crypto';
import { MongoConnection } from '@taskq/mongo';
import { MongoTestServer } from '@taskq/test-servers/mongo';
import { runRound } from '../child.js';
import type { RoundResult } from '../measure.js';
import { aggregate } from './redis.js';
import type { BenchOptions, BenchSummary } from './types.js';

/**
 * taskq alone on the MongoDB broker with results saved in MongoDB (no peer
 * has a MongoDB backend to compare with). `--url mongodb://…` picks a real
 * server; otherwise the rounds run against the wire-protocol test server of
 * @taskq/test-servers, started in this process on a spare loopback port, so
 * the numbers measure that stand-in as much as taskq. Each round uses its
 * own database, dropped afterwards.
 */
export async function runMongoTarget(options: BenchOptions, log: (line: string) => void): Promise<BenchSummary> {
  const external = options.url.startsWith('mongodb') ? options.url.replace(/\/[^/]*$/, '') : undefined;
  const server = external ? undefined : await MongoTestServer.start();
  const base = external ?? server!.url;
  const workers = options.workers;
  const concurrency = Math.max(1, Math.round(options.concurrency / workers));
  const rounds: RoundResult[] = [];
  try {
    for (let i = 0; i < options.rounds; i++) {
      const url = `${base}/bench_${randomBytes(4).toString('hex')}`;
      const config = {
        broker: url,
        store: url,
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
          `round ${i + 1} taskq/mongo ${result.throughput} tasks/s  enqueue ${result.enqueueRate ?? '-'} /s  ` +
            `p50 ${result.latencyP50Ms} ms  p95 ${result.latencyP95Ms} ms  rss ${result.peakRssMb} MB`,
        );
      } finally {
        await dropDatabase(url);
      }
    }
  } finally {
    await server?.stop();
  }
  return {
    target: 'mongo',
    mode: options.paced > 0 ? 'paced' : 'throughput',
    server: external ? 'mongodb (--url)' : 'wire-protocol test server (@taskq/test-servers)',
    tasks: rounds[0]?.tasks ?? options.tasks,
    rounds: options.rounds,
    workers,
    concurrency,
    bulk: options.bulk,
    queueLimit: options.queueLimit,
    taskq: aggregate(rounds),
  };
}

async function dropDatabase(url: string): Promise<void> {
  const connection = new MongoConnection({ url });
  try {
    await connection.db.dropDatabase();
  } finally {
    await connection.release();
  }
}
