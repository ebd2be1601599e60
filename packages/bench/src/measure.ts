/** Wall-clock time in ms with sub-ms precision, comparable across worker threads of one process. */
export function hrnow(): number {
  return performance.timeOrigin + performance.now();
}

export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return round(sorted[index] as number, 3);
}

export function median(values: readonly number[]): number {
  return percentile(values, 50) ?? Number.NaN;
}

export function round(value: number, digits = 1): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** Samples this process's RSS (threads included) until stopped; returns the peak in MB. */
export function sampleRss(intervalMs = 50): () => number {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, intervalMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    peak = Math.max(peak, process.memoryUsage.rss());
    return round(peak / 1024 / 1024);
  };
}

/** Resolves when `done()` is true, checking every few ms, or rejects after the deadline. */
export async function until(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`bench: ${what} did not finish within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** What one round of one system reports (child process → parent). */
export interface RoundResult {
  system: string;
  tasks: number;
  /** Tasks per second from the first task start to the last saved result. */
  throughput: number;
  /** Tasks per second enqueued in bulk (null in paced mode). */
  enqueueRate: number | null;
  latencyP50Ms: number | null;
  latencyP95Ms: number | null;
  peakRssMb: number;
  /** Wall-clock ms (hrnow) of the first task start and the last finish: rounds run side by side add up by them. */
  firstStartAt?: number;
  lastDoneAt?: number;
}

/** Start times and enqueue→start latencies of one round, as consumers report them. */
export class RoundRecorder {
  readonly starts: number[] = [];
  readonly latencies: number[] = [];
  completed = 0;
  lastDone = 0;

  /** A task started at `started` (hrnow) that was enqueued at `enqueuedAt`. */
  started(started: number, enqueuedAt: number): void {
    this.starts.push(started);
    this.latencies.push(started - enqueuedAt);
  }

  /** `count` tasks finished now. */
  finished(count = 1): void {
    this.completed += count;
    this.lastDone = hrnow();
  }

  result(system: string, tasks: number, enqueueRate: number | null, peakRssMb: number): RoundResult {
    return {
      system,
      tasks,
      throughput: round(tasks / ((this.lastDone - Math.min(...this.starts)) / 1000)),
      enqueueRate,
      latencyP50Ms: percentile(this.latencies, 50),
      latencyP95Ms: percentile(this.latencies, 95),
      peakRssMb,
      firstStartAt: Math.min(...this.starts),
      lastDoneAt: this.lastDone,
    };
  }
}

export interface LoadPlan {
  tasks: number;
  /** Tasks per second; 0 = enqueue everything first in bulk, then start the consumers. */
  paced: number;
  pacedSeconds: number;
}

/** How one system is driven: the same two load shapes for every system compared. */
export interface LoadDriver {
  startConsumers(): Promise<void>;
  /** Paced mode: send one task stamped with its enqueue time. */
  sendOne(enqueuedAt: number): Promise<void>;
  /** Bulk mode: send `count` tasks stamped with one enqueue time. */
  sendChunk(count: number, enqueuedAt: number): Promise<void>;
}

const CHUNK = 1000;

/**
 * Paced: consumers start first and tasks arrive at `paced` per second (latency).
 * Bulk: every task is enqueued in chunks of 1,000 (the enqueue rate), then the
 * consumers start (throughput). Returns the task count and the bulk enqueue rate.
 */
export async function sendLoad(
  plan: LoadPlan,
  driver: LoadDriver,
): Promise<{ total: number; enqueueRate: number | null }> {
  if (plan.paced > 0) {
    await driver.startConsumers();
    await sleep(500); // consumers up and blocked on an empty queue
    const total = plan.paced * plan.pacedSeconds;
    const began = hrnow();
    for (let i = 0; i < total; i++) {
      const wait = began + (i * 1000) / plan.paced - hrnow();
      if (wait > 0) await sleep(wait);
      await driver.sendOne(hrnow());
    }
    return { total, enqueueRate: null };
  }
  const began = hrnow();
  for (let sent = 0; sent < plan.tasks; sent += CHUNK) {
    await driver.sendChunk(Math.min(CHUNK, plan.tasks - sent), hrnow());
  }
  const enqueueRate = round(plan.tasks / ((hrnow() - began) / 1000));
  await driver.startConsumers();
  return { total: plan.tasks, enqueueRate };
}
