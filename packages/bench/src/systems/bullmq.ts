import { fileURLToPath } from 'node:url';
import { createPostgresBackend, Queue, Worker, withBackend } from 'bullmq';
import { hrnow, RoundRecorder, sampleRss, sendLoad, until, type RoundResult } from '../measure.js';
import { fibonacci } from '../tasks.js';

const FIB_PROCESSOR = fileURLToPath(new URL('../bullmq-fib-processor.js', import.meta.url));

export interface BullmqRoundOptions {
  /** `redis` (default, host/port/prefix) or `postgres` (BullMQ 6.7's own backend: connectionString/schema). */
  backend?: 'redis' | 'postgres';
  host?: string;
  port?: number;
  prefix?: string;
  connectionString?: string;
  schema?: string;
  tasks: number;
  concurrency: number;
  paced: number;
  pacedSeconds: number;
  /** `noop` (default) or `fib` (CPU-bound: fib(fibN)). */
  task?: 'noop' | 'fib';
  fibN?: number;
  /** Run the processor in BullMQ's sandbox (a file) on worker threads (`useWorkerThreads: true`). */
  sandbox?: boolean;
}

/**
 * One BullMQ round: addBulk, one Worker at the same total concurrency, a
 * no-op (or fib) processor; on Redis or on BullMQ's PostgreSQL backend.
 */
export async function runBullmqRound(options: BullmqRoundOptions): Promise<RoundResult> {
  const peakRss = sampleRss();
  const task = options.task ?? 'noop';
  const fibN = options.fibN ?? 27;
  const inline = async () => {
    const started = hrnow();
    if (task === 'fib') fibonacci(fibN);
    return started;
  };
  const processor = options.sandbox ? FIB_PROCESSOR : inline;
  const workerExtra = options.sandbox ? { useWorkerThreads: true } : {};
  let queue: Queue;
  let worker: Worker;
  if (options.backend === 'postgres') {
    const pgClasses = withBackend(createPostgresBackend);
    const connection = { connectionString: options.connectionString!, schema: options.schema!, migrate: true };
    queue = new pgClasses.Queue('bench', { connection }) as unknown as Queue;
    worker = new pgClasses.Worker('bench', processor, {
      connection,
      concurrency: options.concurrency,
      autorun: false,
      ...workerExtra,
    }) as unknown as Worker;
  } else {
    const connection = { host: options.host!, port: options.port!, maxRetriesPerRequest: null };
    queue = new Queue('bench', { connection, prefix: options.prefix });
    worker = new Worker('bench', processor, {
      connection,
      prefix: options.prefix,
      concurrency: options.concurrency,
      autorun: false,
      ...workerExtra,
    });
  }
  const round = new RoundRecorder();
  worker.on('completed', (job, started: unknown) => {
    round.started(Number(started), Number((job.data as { t: number }).t));
    round.finished();
  });
  worker.on('failed', (_job, error) => console.error('bullmq job failed:', error.message));
  await queue.waitUntilReady();
  await worker.waitUntilReady();
  const data = (t: number) => (task === 'fib' ? { t, n: fibN } : { t });
  const { total, enqueueRate } = await sendLoad(options, {
    startConsumers: async () => void worker.run(),
    sendOne: async (t) => void (await queue.add(task, data(t))),
    sendChunk: async (count, t) =>
      void (await queue.addBulk(Array.from({ length: count }, () => ({ name: task, data: data(t) })))),
  });
  await until(() => round.completed >= total, 600_000, 'bullmq round');
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  return round.result(options.sandbox ? 'bullmq-sandboxed' : 'bullmq', total, enqueueRate, peakRss());
}

/** An idle BullMQ Worker (empty queue) for `seconds` after 5 s of settling: its process's RSS every second. */
export async function runBullmqIdle(options: {
  host: string;
  port: number;
  prefix: string;
  concurrency: number;
  seconds: number;
}): Promise<{ medianRssMb: number; maxRssMb: number; samples: number }> {
  const connection = { host: options.host, port: options.port, maxRetriesPerRequest: null };
  const worker = new Worker('bench', async () => hrnow(), {
    connection,
    prefix: options.prefix,
    concurrency: options.concurrency,
  });
  await worker.waitUntilReady();
  await new Promise((resolve) => setTimeout(resolve, 5000));
  const samples: number[] = [];
  for (let i = 0; i < options.seconds; i++) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    samples.push(Math.round(process.memoryUsage.rss() / 1024 / 102.4) / 10);
  }
  await worker.close();
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    medianRssMb: sorted[Math.ceil(sorted.length / 2) - 1] ?? Number.NaN,
    maxRssMb: Math.max(...samples),
    samples: samples.length,
  };
}
