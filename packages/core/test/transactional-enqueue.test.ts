import { afterEach, describe, expect, it } from 'vitest';
import type { Taskq } from '@taskq/core';
import { makeClient, rejection } from './helpers.js';

let q: Taskq | null = null;
afterEach(async () => {
  await q?.close();
  q = null;
});

describe('enqueue inside a transaction', () => {
  it('a broker without the transactionalEnqueue capability refuses instead of enqueueing outside it', async () => {
    q = makeClient();
    const error = await rejection(q.enqueue('noop', [], { transaction: {} }));
    expect(error.code).toBe('TASKQ_UNSUPPORTED');
    expect(error.message).toMatch(/capability `transactionalEnqueue`/);
    const bulk = await rejection(q.enqueueMany([{ task: 'noop', options: { transaction: {} } }]));
    expect(bulk.code).toBe('TASKQ_UNSUPPORTED');
    expect(await q.queueSize()).toBe(0);
  });

  it('refuses combinations that cannot keep the promise', async () => {
    q = makeClient();
    const dedup = await rejection(q.enqueue('noop', [], { transaction: {}, dedupKey: 'k' }));
    expect(dedup.message).toMatch(/`dedupKey` cannot be combined with `transaction`/);
    const sync = await rejection(q.enqueue('noop', [], { transaction: {}, sync: true }));
    expect(sync.message).toMatch(/`sync` runs now/);
    const bad = await rejection(q.enqueue('noop', [], { transaction: 'tx' as never }));
    expect(bad.code).toBe('TASKQ_INVALID_ARGUMENT');
  });
});
