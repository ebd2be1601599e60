import { afterEach, describe, expect, it } from 'vitest';
import { MemoryStore, type ResultStore, type Taskq } from '@taskq/core';
import { makeClient } from './helpers.js';

/** A result store that keeps no schedules (a custom store; the memory store with its schedule methods hidden). */
function resultsOnlyStore(): ResultStore {
  const inner = new MemoryStore();
  return new Proxy(inner, {
    get(target, key) {
      if (
        (typeof key === 'string' && key.endsWith('Schedule')) ||
        key === 'listSchedules' ||
        key === 'nextScheduleDueAt' ||
        key === 'listDueSchedules'
      )
        return undefined;
      const value = Reflect.get(target, key) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

let client: Taskq | null = null;
afterEach(async () => {
  await client?.close();
  client = null;
});

describe('a store that keeps no schedules', () => {
  it('fails the cluster start and q.schedule() with a message naming the fix', async () => {
    client = makeClient({ store: resultsOnlyStore() });
    const started = client.cluster({ handleSignals: false }).start();
    await expect(started).rejects.toMatchObject({ code: 'TASKQ_CONFIG_INVALID' });
    const error = (await started.catch((e: unknown) => e)) as Error;
    expect(error.message).toMatch(/keeps no schedules/);
    expect(error.message).toMatch(/scheduler: false/);
    // URL forms that work: sqlite:./file (sqlite:// would be read differently), redis://
    expect(error.message).toContain('sqlite:./taskq.sqlite');
    expect(error.message).toContain('redis://');
    expect(error.message).not.toContain('sqlite://');
    await expect(client.schedule('add', [1, 2])).rejects.toMatchObject({ code: 'TASKQ_CONFIG_INVALID' });
  });

  it('runs a cluster without a scheduler when `scheduler: false` says so', async () => {
    client = makeClient({ store: resultsOnlyStore(), scheduler: false });
    const cluster = await client.cluster({ handleSignals: false }).start();
    const id = await client.enqueue('add', [20, 22]);
    expect(await client.result(id, { wait: 20_000 })).toBe(42);
    await cluster.stop();
  });
});
