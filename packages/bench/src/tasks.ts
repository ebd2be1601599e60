/**
 * The benchmark's task module (loaded by taskq's worker threads). `noop`
 * returns when it started, so the parent can compute enqueue → start latency.
 */
export function noop(_enqueuedAt: number): number {
  return performance.timeOrigin + performance.now();
}

/** Naive recursive Fibonacci: fib(27) is about 300,000 calls (a few ms of CPU). */
export function fibonacci(n: number): number {
  return n < 2 ? n : fibonacci(n - 1) + fibonacci(n - 2);
}

/** The CPU-bound task: computes fib(n) and returns when it started (like `noop`). */
export function fib(n: number, _enqueuedAt: number): number {
  const started = performance.timeOrigin + performance.now();
  fibonacci(n);
  return started;
}
