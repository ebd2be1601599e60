import { Queue, Worker } from 'bullmq';
import { hrnow, RoundRecorder, sampleRss, sendLoad, until, type RoundResult } from '../measure.js';

export interface BullmqRoundOptions {
  host: string;
  port: number;
  prefix: string;
  tasks: number;
  concurrency: number;
  paced: number;
  pacedSeconds: number;
}

/** One BullMQ round: addBulk, one Worker at the same total concurrency, a no-op processor. */
export async function runBullmqRound(options: BullmqRoundOptions): Promise<RoundResult> {
  const peakRss = sampleRss();
  const connection = { host: options.host, port: options.port, maxRetriesPerRequest: null };
  const queue = new Queue('bench', { connection, prefix: options.prefix });
  const round = new RoundRecorder();
  const worker = new Worker(
    'bench',
    async (job) => {
      const started = hrnow();
      round.started(started, Number((job.data as { t: number }).t));
      return started;
    },
    { connection, prefix: options.prefix, concurrency: options.concurrency, autorun: false },
  );
  worker.on('completed', () => round.finished());
  await queue.waitUntilReady();
  await worker.waitUntilReady();
  const { total, enqueueRate } = await sendLoad(options, {
    startConsumers: async () => void worker.run(),
    sendOne: async (t) => void (await queue.add('noop', { t })),
    sendChunk: async (count, t) =>
      void (await queue.addBulk(Array.from({ length: count }, () => ({ name: 'noop', data: { t } })))),
  });
  await until(() => round.completed >= total, 600_000, 'bullmq round');
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  return round.result('bullmq', total, enqueueRate, peakRss());
}
