import PgBoss from 'pg-boss';
import pg from 'pg';
import { hrnow, RoundRecorder, sampleRss, sendLoad, sleep, until, type RoundResult } from '../measure.js';

export interface PgBossRoundOptions {
  connectionString: string;
  schema: string;
  tasks: number;
  /** Parallel `work()` loops (pg-boss 10 has no teamSize: each work() call is one polling loop). */
  workers: number;
  /** Jobs fetched per loop iteration (`batchSize`), run concurrently. */
  batchSize: number;
  /** `pollingIntervalSeconds` (pg-boss 10's minimum is 0.5). */
  pollingIntervalSeconds?: number;
  paced: number;
  pacedSeconds: number;
}

/**
 * One pg-boss 10 round, tuned for throughput: bulk `insert`, then `workers`
 * work() loops, each fetching `batchSize` jobs at a time (`includeMetadata:
 * false`, `priority: false` — no ORDER BY priority) and running them
 * concurrently, polling at pg-boss's minimum interval (0.5 s; a loop that got
 * jobs still waits out the rest of the interval, so batch × loops bounds it).
 * A batch counts as done when pg-boss has stored it as completed (its
 * `complete()` after the handler is not awaited, so the round confirms it in
 * the job table).
 */
export async function runPgBossRound(options: PgBossRoundOptions): Promise<RoundResult> {
  const peakRss = sampleRss();
  const boss = new PgBoss({
    connectionString: options.connectionString,
    schema: options.schema,
    max: Math.max(10, options.workers + 4),
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
        {
          batchSize: options.batchSize,
          pollingIntervalSeconds: options.pollingIntervalSeconds ?? 0.5,
          includeMetadata: false,
          priority: false,
        },
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
  await until(() => round.completed >= total, 600_000, 'pg-boss round');
  // the handlers are done; the round ends when pg-boss has stored every job as completed
  const client = new pg.Client({ connectionString: options.connectionString });
  await client.connect();
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const { rows } = await client.query<{ n: string }>(
        `select count(*) as n from ${options.schema}.job where name = 'bench' and state = 'completed'`,
      );
      if (Number(rows[0]?.n ?? 0) >= total) break;
      if (Date.now() > deadline) throw new Error('pg-boss did not store every completion within 60 s');
      await sleep(10);
    }
    round.lastDone = Math.max(round.lastDone, hrnow());
  } finally {
    await client.end();
  }
  await boss.stop({ graceful: true, wait: true, timeout: 30_000 });
  return round.result('pg-boss', total, enqueueRate, peakRss());
}
