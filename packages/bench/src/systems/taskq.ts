import { fileURLToPath } from 'node:url';
import { Taskq, type TaskRecord } from '@taskq/core';
import { RoundRecorder, sampleRss, sendLoad, until, type RoundResult } from '../measure.js';

const TASKS = fileURLToPath(new URL('../tasks.js', import.meta.url));

export interface TaskqRoundOptions {
  broker: string;
  store: string;
  name: string;
  tasks: number;
  workers: number;
  concurrency: number;
  bulk: number;
  queueLimit?: number | null;
  /** Tasks per second; 0 = enqueue everything first, then run (throughput mode). */
  paced: number;
  pacedSeconds: number;
  /** `noop` (default) or `fib` (CPU-bound: fib(fibN)). */
  task?: 'noop' | 'fib';
  fibN?: number;
}

/** One taskq round: enqueue, run a cluster, measure throughput, latency and RSS. */
export async function runTaskqRound(options: TaskqRoundOptions): Promise<RoundResult> {
  const peakRss = sampleRss();
  const q = new Taskq({
    name: options.name,
    secretKey: 'bench-secret',
    broker: options.broker,
    store: options.store,
    tasks: [TASKS],
    workers: options.workers,
    concurrency: options.concurrency,
    bulk: options.bulk,
    queueLimit: options.queueLimit ?? null,
    saveLimit: 0,
    recycle: 0,
    retry: 60,
    logLevel: 'warn',
    scheduler: false,
  });
  const task = options.task ?? 'noop';
  const fibN = options.fibN ?? 27;
  // the enqueue time is the last argument of both tasks
  const args = (t: number) => (task === 'fib' ? [fibN, t] : [t]);
  const round = new RoundRecorder();
  q.on('postExecute', (record: TaskRecord, job) => {
    const started = Number(JSON.parse(record.result ?? 'NaN'));
    if (record.success && Number.isFinite(started)) round.started(started, Number(job.args.at(-1)));
    round.finished();
  });
  await q.runtime();
  const cluster = q.cluster({ handleSignals: false });
  const { total, enqueueRate } = await sendLoad(options, {
    startConsumers: async () => void (await cluster.start()),
    sendOne: async (t) => void (await q.enqueue(task, args(t))),
    sendChunk: async (count, t) =>
      void (await q.enqueueMany(Array.from({ length: count }, () => ({ task, args: args(t) })))),
  });
  await until(() => round.latencies.length >= total, 600_000, 'taskq round');
  await cluster.stop();
  await q.close();
  return round.result('taskq', total, enqueueRate, peakRss());
}
