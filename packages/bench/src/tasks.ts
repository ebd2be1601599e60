/**
 * The benchmark's task module (loaded by taskq's worker threads). `noop`
 * returns when it started, so the parent can compute enqueue → start latency.
 */
export function noop(_enqueuedAt: number): number {
  return performance.timeOrigin + performance.now();
}
