import { Queue, Worker } from 'bullmq';
import { hrnow, percentile, round, sampleRss, sleep, until, type RoundResult } from '../measure.js';

const ADD_CHUNK = 1000;

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
  const starts: number[] = [];
  const latencies: number[] = [];
  let completed = 0;
  let lastDone = 0;
  const worker = new Worker(
    'bench',
    async (job) => {
      const started = hrnow();
      starts.push(started);
      latencies.push(started - Number((job.data as { t: number }).t));
      return started;
    },
    { connection, prefix: options.prefix, concurrency: options.concurrency, autorun: false },
  );
  worker.on('completed', () => {
    completed++;
    lastDone = hrnow();
  });
  await queue.waitUntilReady();
  await worker.waitUntilReady();
  let enqueueRate: number | null = null;
  let total = options.tasks;
  if (options.paced > 0) {
    void worker.run();
    await sleep(500);
    total = options.paced * options.pacedSeconds;
    const began = hrnow();
    for (let i = 0; i < total; i++) {
      const due = began + (i * 1000) / options.paced;
      const wait = due - hrnow();
      if (wait > 0) await sleep(wait);
      await queue.add('noop', { t: hrnow() });
    }
  } else {
    const began = hrnow();
    for (let sent = 0; sent < total; sent += ADD_CHUNK) {
      const count = Math.min(ADD_CHUNK, total - sent);
      const t = hrnow();
      await queue.addBulk(Array.from({ length: count }, () => ({ name: 'noop', data: { t } })));
    }
    enqueueRate = round(total / ((hrnow() - began) / 1000));
    void worker.run();
  }
  await until(() => completed >= total, 600_000, 'bullmq round');
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  const first = Math.min(...starts);
  return {
    system: 'bullmq',
    tasks: total,
    throughput: round(total / ((lastDone - first) / 1000)),
    enqueueRate,
    latencyP50Ms: percentile(latencies, 50),
    latencyP95Ms: percentile(latencies, 95),
    peakRssMb: peakRss(),
  };
}
