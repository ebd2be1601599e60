import PgBoss from 'pg-boss';
import { hrnow, RoundRecorder, sampleRss, sendLoad, until, type RoundResult } from '../measure.js';

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
  const round = new RoundRecorder();
  const work = async () => {
    for (let i = 0; i < options.workers; i++) {
      await boss.work<{ t: number }>(
        'bench',
        { batchSize: options.batchSize, pollingIntervalSeconds: 0.5 },
        async (jobs) => {
          await Promise.all(
            jobs.map(async (job) => {
              const started = hrnow();
              round.started(started, Number(job.data.t));
              return started;
            }),
          );
          round.finished(jobs.length);
        },
      );
    }
  };
  const { total, enqueueRate } = await sendLoad(options, {
    startConsumers: work,
    sendOne: async (t) => void (await boss.send('bench', { t })),
    sendChunk: (count, t) => boss.insert(Array.from({ length: count }, () => ({ name: 'bench', data: { t } }))),
  });
  // completion is counted when a batch's handler resolves; pg-boss marks the rows completed right after
  await until(() => round.completed >= total, 600_000, 'pg-boss round');
  await boss.stop({ graceful: true, wait: true, timeout: 30_000 });
  return round.result('pg-boss', total, enqueueRate, peakRss());
}
