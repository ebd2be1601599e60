import { Taskq } from '@taskq/core';
import type { ClusterChild } from '../child.js';
import { TASKS } from '../systems/cluster.js';
import { hrnow, round, sleep } from '../measure.js';

/** A taskq client that only enqueues (the cluster runs in other processes). */
export function enqueueClient(broker: string, store: string, name = 'bench'): Taskq {
  return new Taskq({
    name,
    secretKey: 'bench-secret',
    broker,
    store,
    tasks: [TASKS],
    logLevel: 'warn',
    scheduler: false,
  });
}

/** Enqueues `count` no-op tasks in chunks of 1,000 stamped with the enqueue time; returns tasks/s. */
export async function fill(q: Taskq, count: number, progress?: (sent: number) => void): Promise<number> {
  const began = hrnow();
  for (let sent = 0; sent < count; sent += 1000) {
    const n = Math.min(1000, count - sent);
    const t = hrnow();
    await q.enqueueMany(Array.from({ length: n }, () => ({ task: 'noop', args: [t] })));
    if (progress && (sent + n) % 100_000 === 0) progress(sent + n);
  }
  return round(count / ((hrnow() - began) / 1000));
}

/** Sum of tasks the cluster processes finished, from their latest ticks. */
export function doneSoFar(children: readonly ClusterChild[]): number {
  return children.reduce((sum, c) => sum + (c.latest()?.done ?? 0), 0);
}

/** Waits until the cluster processes together finished `total` tasks, or rejects after `timeoutMs`. */
export async function waitDone(children: readonly ClusterChild[], total: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (doneSoFar(children) < total) {
    if (Date.now() > deadline) {
      throw new Error(`bench: ${doneSoFar(children)} of ${total} tasks finished within ${timeoutMs} ms`);
    }
    await sleep(10);
  }
}
