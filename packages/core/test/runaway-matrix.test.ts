import { afterEach, describe, expect, it } from 'vitest';
import type { ClusterHandle, Taskq } from '@taskq/core';
import { eventually, linesOf, makeClient, tempFile } from './helpers.js';

// The reliability matrix's runaway row (docs/reliability.md): every kind of misbehaving task at once, on a live
// cluster with ordinary tasks flowing. Each is contained, recorded with its code, its hook runs, and the ordinary
// tasks all finish.
let client: Taskq | null = null;
let cluster: ClusterHandle | null = null;
afterEach(async () => {
  await cluster?.stop({ deadlineMs: 2000 });
  await client?.close();
  client = cluster = null;
});

const RUNAWAYS = [
  { task: 'spin', options: { timeout: 1 }, code: 'TASKQ_TASK_TIMEOUT' },
  { task: 'neverSettles', options: { timeout: 1 }, code: 'TASKQ_TASK_TIMEOUT' },
  { task: 'hog', options: {}, code: 'TASKQ_WORKER_LOST' },
  { task: 'exitsTheProcess', options: {}, code: 'TASKQ_WORKER_LOST' },
  // A thrown non-Error has no code of its own: it is kept as a NonError with its value as the message.
  { task: 'throwsAString', options: {}, code: null },
  { task: 'returnsAFunction', options: {}, code: 'TASKQ_NOT_SERIALIZABLE' },
] as const;

describe('runaway tasks on a live cluster', () => {
  it('contains each one, records it with its code and runs its hook, while ordinary tasks keep finishing', async () => {
    const hooks = tempFile();
    // One task per thread: a neighbour's death would otherwise record a runaway as worker-lost instead of its own code.
    client = makeClient({ workers: 2, concurrency: 1, maxHeapMb: 48, maxAttempts: 1 });
    cluster = await client.cluster({ handleSignals: false }).start();
    // recordHook appends {id, success, code} to the file named by the task's first argument.
    const runaway = await Promise.all(
      RUNAWAYS.map(({ task, options }) => client!.enqueue(task, [hooks], { ...options, hook: 'recordHook' })),
    );
    const ordinary = await Promise.all(
      Array.from({ length: 60 }, (_, i) => client!.enqueue('countRun', [hooks, `ok-${i}`], { hook: 'recordHook' })),
    );
    for (const [i, id] of ordinary.entries()) expect(await client.result(id, { wait: 60_000 })).toBe(`ok-${i}`);
    for (const [i, id] of runaway.entries()) {
      const record = await client.fetch(id, { wait: 60_000 });
      const expected = RUNAWAYS[i]!;
      expect(record?.success, expected.task).toBe(false);
      if (expected.code !== null) expect(record?.error?.code, expected.task).toBe(expected.code);
      else expect(record?.error).toMatchObject({ name: 'NonError', message: 'not an Error' });
    }
    // Every hook ran, the runaways' with their failure and its code.
    const hookRecords = () =>
      linesOf(hooks)
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as { id: string; success: boolean; code: string | null });
    await eventually(() => hookRecords().length === ordinary.length + runaway.length, 'every hook');
    for (const [i, id] of runaway.entries()) {
      const expected = RUNAWAYS[i]!;
      const hook = hookRecords().find((record) => record.id === id);
      expect(hook?.success, expected.task).toBe(false);
      if (expected.code !== null) expect(hook?.code, expected.task).toBe(expected.code);
    }
    expect(cluster.stat()?.status).not.toBe('Stopped');
  });
});
