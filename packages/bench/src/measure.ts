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
}
