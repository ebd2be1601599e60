import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Taskq, type TaskRecord } from '@taskq/core';
import { hrnow, round } from '../measure.js';

export const TASKS = fileURLToPath(new URL('../tasks.js', import.meta.url));

/** How a cluster process (`cli.js --cluster-process <json>`) is configured. */
export interface ClusterProcessOptions {
  broker: string;
  store: string;
  name: string;
  workers: number;
  concurrency: number;
  bulk: number;
  queueLimit: number | null;
  /** taskq `saveLimit` (0 = keep all successes). */
  saveLimit: number;
  /** Report every this many ms (a `tick` line with counts and RSS). */
  tickMs: number;
  /**
   * Enqueue → start latencies kept for the result (default 1,000,000). The soak keeps none: a million kept
   * latencies would grow the very RSS it measures by several MB.
   */
  keepLatencies?: number;
}

/** What a cluster process prints, one JSON object a line. */
export type ClusterMessage =
  | { type: 'ready'; pid: number; startCalledAt: number; readyAt: number }
  | { type: 'tick'; done: number; firstStart: number | null; lastDone: number; rssMb: number; at: number }
  | {
      type: 'result';
      done: number;
      firstStart: number | null;
      lastDone: number;
      startCalledAt: number;
      peakRssMb: number;
      latencies: number[];
    };

/**
 * A taskq cluster in this process, driven by its parent: it starts at once,
 * prints `ready`, then a `tick` every `tickMs` (tasks finished, first start,
 * last finish, RSS) until its stdin says `stop`; then it stops the cluster and
 * prints `result` (with the enqueue → start latencies it saw) and exits.
 * The parent enqueues (so several cluster processes can share one queue).
 */
export async function runClusterProcess(options: ClusterProcessOptions): Promise<void> {
  const emit = (message: ClusterMessage) => process.stdout.write(`${JSON.stringify(message)}\n`);
  const emitFlushed = (message: ClusterMessage) =>
    new Promise<void>((resolve) => process.stdout.write(`${JSON.stringify(message)}\n`, () => resolve()));
  const q = new Taskq({
    name: options.name,
    secretKey: 'bench-secret',
    broker: options.broker,
    store: options.store,
    tasks: [TASKS],
    workers: options.workers,
    concurrency: options.concurrency,
    bulk: options.bulk,
    queueLimit: options.queueLimit,
    saveLimit: options.saveLimit,
    recycle: 0,
    retry: 60,
    logLevel: 'warn',
    scheduler: false,
  });
  let done = 0;
  let firstStart: number | null = null;
  let lastDone = 0;
  let peakRss = process.memoryUsage.rss();
  const latencies: number[] = [];
  const keepLatencies = options.keepLatencies ?? 1_000_000;
  q.on('postExecute', (record: TaskRecord, job) => {
    const started = Number(JSON.parse(record.result ?? 'NaN'));
    if (record.success && Number.isFinite(started)) {
      if (firstStart === null || started < firstStart) firstStart = started;
      if (latencies.length < keepLatencies) latencies.push(started - Number(job.args.at(-1)));
    }
    done++;
    lastDone = hrnow();
  });
  const rssSampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 50);
  await q.runtime();
  const cluster = q.cluster({ handleSignals: false });
  const startCalledAt = hrnow();
  await cluster.start();
  emit({ type: 'ready', pid: process.pid, startCalledAt, readyAt: hrnow() });
  const ticker = setInterval(() => {
    const rss = process.memoryUsage.rss();
    peakRss = Math.max(peakRss, rss);
    emit({ type: 'tick', done, firstStart, lastDone, rssMb: round(rss / 1024 / 1024), at: hrnow() });
  }, options.tickMs);
  await new Promise<void>((resolve) => {
    const lines = createInterface({ input: process.stdin });
    lines.on('line', (line) => {
      if (line.trim() === 'stop') resolve();
    });
    lines.on('close', () => resolve());
  });
  clearInterval(ticker);
  await cluster.stop();
  await q.close();
  clearInterval(rssSampler);
  // Awaited: the result line is large (every latency), and process.exit() after the run would cut a pipe write short.
  await emitFlushed({
    type: 'result',
    done,
    firstStart,
    lastDone,
    startCalledAt,
    peakRssMb: round(Math.max(peakRss, process.memoryUsage.rss()) / 1024 / 1024),
    latencies,
  });
}
