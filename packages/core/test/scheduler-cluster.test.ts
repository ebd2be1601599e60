import { afterEach, describe, expect, it } from 'vitest';
import { Cluster, createSchedule, createSchedulerPart, getSchedule, scheduleStoreOf, type Taskq } from '@taskq/core';
import { eventually, makeClient } from './helpers.js';

let client: Taskq | null = null;
let cluster: Cluster | null = null;

afterEach(async () => {
  await cluster?.stop({ deadlineMs: 2000 });
  await client?.close();
  client = null;
  cluster = null;
});

describe('the scheduler inside a cluster (memory broker and store, worker threads)', () => {
  it('runs a 6-field cron schedule every second: one task per slot, results grouped by schedule name', async () => {
    client = makeClient({ saveLimit: 0 });
    const runtime = await client.runtime();
    const part = createSchedulerPart(runtime);
    cluster = new Cluster(runtime, { handleSignals: false });
    cluster.addPart(part);
    const store = scheduleStoreOf(runtime.store);
    const schedule = await createSchedule(store, {
      func: 'echo',
      args: [{}],
      type: 'Cron',
      cron: '* * * * * *',
      name: 'every-second',
      intendedDateArg: 'slot',
    });
    await cluster.start();
    await eventually(async () => (await runtime.store.countGroup('every-second')) >= 3, 'three scheduled runs', 15_000);
    const records = await runtime.store.getGroup('every-second');
    const slots = records.map((r) => (runtime.serializer.deserialize(r.result!) as { slot: string }).slot);
    expect(new Set(slots).size).toBe(slots.length);
    for (const slot of slots) expect(Date.parse(slot) % 1000).toBe(0);
    const latest = await getSchedule(store, schedule.id);
    expect(latest?.lastTaskId).toMatch(/^[0-9a-f]{32}$/);
    expect(latest!.nextRun.getTime()).toBeGreaterThan(schedule.nextRun.getTime());
  });
});
