import { fileURLToPath } from 'node:url';
import { Taskq, type TaskRecord } from '@taskq/core';
import { hrnow, percentile, round, sampleRss, sleep, until, type RoundResult } from '../measure.js';

const TASKS = fileURLToPath(new URL('../tasks.js', import.meta.url));
const ENQUEUE_CHUNK = 1000;

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
  const starts: number[] = [];
  const latencies: number[] = [];
  let lastDone = 0;
  q.on('postExecute', (record: TaskRecord, task) => {
    lastDone = hrnow();
    const started = Number(JSON.parse(record.result ?? 'NaN'));
    const enqueuedAt = Number(task.args[0]);
    if (record.success && Number.isFinite(started)) {
      starts.push(started);
      latencies.push(started - enqueuedAt);
    }
  });
  await q.runtime();
  const cluster = q.cluster({ handleSignals: false });
  let enqueueRate: number | null = null;
  let total = options.tasks;
  if (options.paced > 0) {
    await cluster.start();
    await sleep(500); // threads up, pusher blocked on an empty queue
    total = options.paced * options.pacedSeconds;
    const began = hrnow();
    for (let i = 0; i < total; i++) {
      const due = began + (i * 1000) / options.paced;
      const wait = due - hrnow();
      if (wait > 0) await sleep(wait);
      await q.enqueue('noop', [hrnow()]);
    }
  } else {
    const began = hrnow();
    for (let sent = 0; sent < total; sent += ENQUEUE_CHUNK) {
      const count = Math.min(ENQUEUE_CHUNK, total - sent);
      const at = hrnow();
      await q.enqueueMany(Array.from({ length: count }, () => ({ task: 'noop', args: [at] })));
    }
    enqueueRate = round(total / ((hrnow() - began) / 1000));
    await cluster.start();
  }
  await until(() => latencies.length >= total, 600_000, 'taskq round');
  await cluster.stop();
  await q.close();
  const first = Math.min(...starts);
  return {
    system: 'taskq',
    tasks: total,
    throughput: round(total / ((lastDone - first) / 1000)),
    enqueueRate,
    latencyP50Ms: percentile(latencies, 50),
    latencyP95Ms: percentile(latencies, 95),
    peakRssMb: peakRss(),
  };
}
