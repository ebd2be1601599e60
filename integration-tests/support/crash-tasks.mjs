import { currentTask } from '@taskq/core/worker';

// Tasks for the crash tests: short I/O-like work so 2,000 tasks take a few seconds.
export async function work(index) {
  await new Promise((resolve) => setTimeout(resolve, 5));
  return index;
}

/** Which process ran it, for tests that check several clusters share a queue. */
export async function workWhere(index, ms = 5) {
  await new Promise((resolve) => setTimeout(resolve, ms));
  return [index, process.pid];
}

// The matrix counts executions outside the store under test: one Redis hash per run, field = task index.
let counter;

/** Counts its own execution in Redis (TASKQ_MATRIX_REDIS), then returns its index. */
export async function counted(index, countsKey) {
  if (!counter) {
    const { Redis } = await import('ioredis');
    counter = new Redis(process.env.TASKQ_MATRIX_REDIS ?? 'redis://127.0.0.1:6379');
  }
  await counter.hincrby(countsKey, String(index), 1);
  return index;
}

// Job control (job-control.test.ts).

/** Reports progress and a log line, then waits for its signal (a cancel) and gives up with its reason. */
export async function untilCancelled() {
  const task = currentTask();
  task.progress({ stage: 'waiting' });
  task.log('info', 'waiting for cancel', { pid: process.pid });
  await new Promise((resolve) => task.signal.addEventListener('abort', resolve, { once: true }));
  throw task.signal.reason;
}

/** Fails with the given error code. */
export function failsWith(code) {
  const error = new Error(`failed with ${code}`);
  error.code = code;
  throw error;
}

/** A fan-in callback that counts its own executions in Redis (field "callback" of `countsKey`). */
export async function collectCounted(results, countsKey) {
  await counted('callback', countsKey);
  return results;
}

// Keyed limits (keyed-limits.test.ts): each task records its key, start and stop times in a Redis list.
let spans;

/** Takes `ms`, then pushes {key, delivered, start, stop, pid} to the Redis list `listKey`. */
export async function span(key, ms, listKey) {
  const start = Date.now();
  const delivered = currentTask().deliveredAt;
  await new Promise((resolve) => setTimeout(resolve, ms));
  const stop = Date.now();
  if (!spans) {
    const { Redis } = await import('ioredis');
    spans = new Redis(process.env.TASKQ_MATRIX_REDIS ?? 'redis://127.0.0.1:6379');
  }
  await spans.rpush(listKey, JSON.stringify({ key, delivered, start, stop, pid: process.pid }));
}
