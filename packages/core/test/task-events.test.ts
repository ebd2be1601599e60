import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { eventChannelOf, type ClusterHandle, type TaskFinishedEvent, type Taskq } from '@taskq/core';
import { eventually, makeClient } from './helpers.js';

let client: Taskq | null = null;
let cluster: ClusterHandle | null = null;

afterEach(async () => {
  await cluster?.stop({ deadlineMs: 2000 });
  await client?.close();
  client = null;
  cluster = null;
});

describe('taskFinished / taskFailed', () => {
  it('without an event channel (memory broker) the client polls the store and emits each execution once', async () => {
    client = makeClient({ retry: 1, guardCycle: 0.1, maxAttempts: 2 });
    cluster = await client.cluster({ handleSignals: false }).start();
    const runtime = await client.runtime();
    expect(eventChannelOf(runtime.broker, runtime.store)).toBeNull();
    const finished: TaskFinishedEvent[] = [];
    const failed: TaskFinishedEvent[] = [];
    client.on('taskFinished', (e) => finished.push(e));
    client.on('taskFailed', (e) => failed.push(e));
    await client.eventsReady();
    const ok = await client.enqueue('add', [1, 2], { taskName: 'one-plus-two' });
    const bad = await client.enqueue('fail', ['nope']);
    await eventually(() => failed.length === 2 && finished.length === 3, 'three executions');
    expect(finished.find((e) => e.id === ok)).toMatchObject({ name: 'one-plus-two', success: true, final: true });
    // The first failure will be retried (attempt 1 of 2), the second is final.
    expect(failed.map((e) => [e.id, e.attempt, e.final])).toEqual([
      [bad, 1, false],
      [bad, 2, true],
    ]);
  });

  it('types results where the task is typed (tsc on a fixture)', async () => {
    const project = fileURLToPath(new URL('./fixtures/typecheck-results/tsconfig.json', import.meta.url));
    const tsc = fileURLToPath(new URL('../../../node_modules/typescript/bin/tsc', import.meta.url));
    // Wrong uses are marked @ts-expect-error: if they type-checked, tsc would fail with "Unused directive".
    const result = await promisify(execFile)(process.execPath, [tsc, '-p', project]).then(
      () => ({ ok: true, output: '' }),
      (error: { stdout?: string }) => ({ ok: false, output: error.stdout ?? String(error) }),
    );
    expect(result.output).toBe('');
    expect(result.ok).toBe(true);
  });
});
