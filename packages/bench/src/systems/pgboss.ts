import PgBoss from 'pg-boss';
import { hrnow, percentile, round, sampleRss, sleep, until, type RoundResult } from '../measure.js';

const INSERT_CHUNK = 1000;

export interface PgBossRoundOptions {
  connectionString: string;
  schema: string;
  tasks: number;
  /** Jobs in flight at once: `workers` work() loops × `batchSize` jobs each, run concurrently. */
  workers: number;
  batchSize: number;
  paced: number;
  pacedSeconds: number;
}

/**
 * One pg-boss 10 round: bulk `insert`, then `workers` work() loops each
 * fetching `batchSize` jobs and running them concurrently (no-op handler);
 * pg-boss completes a batch when its handler resolves (the job row keeps the output).
 */
export async function runPgBossRound(options: PgBossRoundOptions): Promise<RoundResult> {
  const peakRss = sampleRss();
  const boss = new PgBoss({
    connectionString: options.connectionString,
    schema: options.schema,
    max: 10,
    supervise: false,
    schedule: false,
  });
  boss.on('error', (error) => console.error('pg-boss', error.message));
  await boss.start();
  await boss.createQueue('bench');
  const starts: number[] = [];
  const latencies: number[] = [];
  let completed = 0;
  let lastDone = 0;
  const work = async () => {
    for (let i = 0; i < options.workers; i++) {
      await boss.work<{ t: number }>(
        'bench',
        { batchSize: options.batchSize, pollingIntervalSeconds: 0.5 },
        async (jobs) => {
          await Promise.all(
            jobs.map(async (job) => {
              const started = hrnow();
              starts.push(started);
              latencies.push(started - Number(job.data.t));
              return started;
            }),
          );
          completed += jobs.length;
          lastDone = hrnow();
        },
      );
    }
  };
  let enqueueRate: number | null = null;
  let total = options.tasks;
  if (options.paced > 0) {
    await work();
    await sleep(500);
    total = options.paced * options.pacedSeconds;
    const began = hrnow();
    for (let i = 0; i < total; i++) {
      const due = began + (i * 1000) / options.paced;
      const wait = due - hrnow();
      if (wait > 0) await sleep(wait);
      await boss.send('bench', { t: hrnow() });
    }
  } else {
    const began = hrnow();
    for (let sent = 0; sent < total; sent += INSERT_CHUNK) {
      const count = Math.min(INSERT_CHUNK, total - sent);
      const t = hrnow();
      await boss.insert(Array.from({ length: count }, () => ({ name: 'bench', data: { t } })));
    }
    enqueueRate = round(total / ((hrnow() - began) / 1000));
    await work();
  }
  // completion is counted when a batch's handler resolves; pg-boss marks the rows completed right after
  await until(() => completed >= total, 600_000, 'pg-boss round');
  await boss.stop({ graceful: true, wait: true, timeout: 30_000 });
  const first = Math.min(...starts);
  return {
    system: 'pg-boss',
    tasks: total,
    throughput: round(total / ((lastDone - first) / 1000)),
    enqueueRate,
    latencyP50Ms: percentile(latencies, 50),
    latencyP95Ms: percentile(latencies, 95),
    peakRssMb: peakRss(),
  };
}
