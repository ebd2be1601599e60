import type { SandboxedJob } from 'bullmq';
import { fibonacci } from './tasks.js';

/**
 * BullMQ's sandboxed processor for the CPU scenario (loaded by BullMQ in a
 * worker thread with `useWorkerThreads: true`): the same fib(n) as taskq's
 * `fib` task; returns when it started.
 */
export default async function fibProcessor(job: SandboxedJob<{ n: number; t: number }>): Promise<number> {
  const started = performance.timeOrigin + performance.now();
  fibonacci(job.data.n);
  return started;
}
