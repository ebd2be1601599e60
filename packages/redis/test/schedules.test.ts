import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { sampleSchedule, uniqueName, waitFor } from '@taskq/conformance';
import { Taskq, newTaskId } from '@taskq/core';
import { RedisStore } from '../src/index.js';

const url = process.env.TASKQ_REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = uniqueName('taskq-sched-test');
const TASKS = fileURLToPath(new URL('./support/tasks.mjs', import.meta.url));
const open: Array<{ close(): Promise<void> }> = [];

afterEach(async () => {
  for (const item of open.splice(0).reverse()) await item.close();
});

afterAll(async () => {
  const redis = new Redis(url);
  const keys = await redis.keys(`{${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

describe('schedules in Redis', () => {
  it('are shared by every cluster on the prefix: each slot is claimed once across stores', async () => {
    const p = uniqueName(prefix);
    const east = new RedisStore({ url, prefix: p, namespace: 'east' });
    const west = new RedisStore({ url, prefix: p, namespace: 'west' });
    open.push(east, west);
    const slots = Array.from({ length: 30 }, (_, i) => sampleSchedule({ nextRun: new Date(Date.UTC(2030, 0, 1, i)) }));
    for (const s of slots) await east.createSchedule(s);
    expect((await west.listSchedules({ limit: 1 })).total).toBe(30);
    const claims = await Promise.all(
      slots.flatMap((s) =>
        [east, west, east, west].map((store) =>
          store.claimSchedule(s.id, s.nextRun, {
            nextRun: new Date(s.nextRun.getTime() + 3_600_000),
            repeats: -1,
            lastTaskId: newTaskId(),
            lastRunAt: s.nextRun,
          }),
        ),
      ),
    );
    expect(claims.filter(Boolean)).toHaveLength(30);
  });

  it('two clusters with a redis:// store run each due schedule exactly once', async () => {
    const p = uniqueName(prefix);
    const options = {
      name: 'sched',
      broker: `${url}?prefix=${p}`,
      secretKey: 'redis-schedules',
      tasks: [TASKS],
      workers: 1,
      logLevel: 'silent' as const,
    };
    const a = new Taskq(options);
    const b = new Taskq(options);
    open.push(a, b);
    const count = 12;
    const schedules = [];
    for (let i = 0; i < count; i++) {
      schedules.push(await a.schedule('add', [i, 1000], { name: `once-${i}`, nextRun: new Date(Date.now() - 1000) }));
    }
    await Promise.all([a.cluster({ handleSignals: false }).start(), b.cluster({ handleSignals: false }).start()]);
    const runtime = await a.runtime();
    await waitFor(async () => (await runtime.store.list({ func: 'add', limit: 1 })).total >= count, {
      timeoutMs: 30_000,
      message: 'every scheduled task to finish',
    });
    // Both schedulers saw every slot; a slot that ran twice would leave a second result.
    const { records, total } = await runtime.store.list({ func: 'add', limit: 100 });
    expect(total).toBe(count);
    expect(records.map((r) => r.group).sort()).toEqual(schedules.map((s) => s.name).sort());
    const left = await a.schedules.list();
    expect(left.total).toBe(0);
  });
});
