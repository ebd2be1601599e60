import { afterEach, describe, expect, it } from 'vitest';
import { MemoryScheduleStore } from '../src/store/memory-schedule-store.js';
import { Scheduler, type SchedulerOptions } from '../src/scheduler/scheduler.js';
import { createSchedule, pauseSchedule, resumeSchedule, type ScheduleInput } from '../src/scheduler/schedules.js';
import type { ScheduleStore } from '../src/store/schedule-store.js';
import { FakeClock, fakeEnqueue, jittery, until } from './scheduler-helpers.js';

const running: Scheduler[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
});

function setup(start = '2026-01-01T00:00:00Z', extra: Partial<SchedulerOptions> = {}) {
  const clock = new FakeClock(start);
  const store = new MemoryScheduleStore();
  const { calls, enqueue } = fakeEnqueue();
  const scheduler = new Scheduler({ store, cluster: 'default', enqueue, now: clock.now, ...extra });
  const create = (input: ScheduleInput) => createSchedule(store, input, { now: clock.now });
  return { clock, store, calls, enqueue, scheduler, create };
}

describe('one pass (runDue)', () => {
  it('creates a task for a due schedule with the schedule name as group and records it', async () => {
    const { scheduler, store, calls, create } = setup();
    const s = await create({ func: 'report', args: [1, 'x'], type: 'Hourly', name: 'hourly-report', hook: 'done' });
    expect(await scheduler.runDue()).toEqual({ enqueued: 1, lost: 0, errors: 0, more: false });
    expect(calls).toHaveLength(1);
    const call = calls[0]!;
    expect(call.func).toBe('report');
    expect(call.args).toEqual([1, 'x']);
    expect(call.options).toMatchObject({ group: 'hourly-report', hook: 'done' });
    const after = await store.getSchedule(s.id);
    expect(after?.lastTaskId).toBe(call.options.id);
    expect(after?.lastRunAt?.toISOString()).toBe('2026-01-01T00:00:00.000Z');
    expect(after?.nextRun.toISOString()).toBe('2026-01-01T01:00:00.000Z');
    expect(after?.repeats).toBe(-1);
    expect(await scheduler.runDue()).toMatchObject({ enqueued: 0 });
  });

  it('groups by id when unnamed, by taskOptions.group when given, and routes to the schedule cluster', async () => {
    const { scheduler, calls, create } = setup();
    const unnamed = await create({ func: 'a' });
    await create({ func: 'b', name: 'n', group: 'explicit' });
    await create({ func: 'c', cluster: 'default' });
    await create({ func: 'd', cluster: 'elsewhere' });
    await scheduler.runDue();
    const byFunc = Object.fromEntries(calls.map((c) => [c.func, c.options]));
    expect(Object.keys(byFunc).sort()).toEqual(['a', 'b', 'c']);
    expect(byFunc['a']?.group).toBe(unnamed.id);
    expect(byFunc['a']?.cluster).toBeUndefined();
    expect(byFunc['b']?.group).toBe('explicit');
    expect(byFunc['c']?.cluster).toBe('default');
  });

  it('repeats n counts down to 0 and stops; -1 stays -1', async () => {
    const { scheduler, store, calls, clock, create } = setup();
    const limited = await create({ func: 'limited', type: 'Minutes', minutes: 1, repeats: 3 });
    const forever = await create({ func: 'forever', type: 'Minutes', minutes: 1 });
    const seen: number[] = [];
    for (let i = 0; i < 5; i++) {
      await scheduler.runDue();
      seen.push((await store.getSchedule(limited.id))!.repeats);
      clock.advance(60_000);
    }
    expect(seen).toEqual([2, 1, 0, 0, 0]);
    expect(calls.filter((c) => c.func === 'limited')).toHaveLength(3);
    expect(calls.filter((c) => c.func === 'forever')).toHaveLength(5);
    expect((await store.getSchedule(forever.id))!.repeats).toBe(-1);
  });

  it('Once with repeats -1 is deleted after its run; with a count it stays, finished', async () => {
    const { scheduler, store, calls, create } = setup();
    const deleted = await create({ func: 'once', name: 'gone' });
    const kept = await create({ func: 'once', name: 'kept', repeats: 3 });
    await scheduler.runDue();
    expect(calls).toHaveLength(2);
    expect(await store.getSchedule(deleted.id)).toBeNull();
    expect((await store.getSchedule(kept.id))?.repeats).toBe(0);
    expect(await scheduler.runDue()).toMatchObject({ enqueued: 0 });
  });

  it('catchUp true runs every missed slot once, passing each slot time as intendedDateArg', async () => {
    const { scheduler, store, calls, clock, create } = setup('2026-01-01T05:30:00Z');
    const s = await create({
      func: 'hourly',
      type: 'Hourly',
      args: [{ x: 1 }],
      nextRun: '2026-01-01T00:00:00Z',
      intendedDateArg: 'slot',
      catchUp: true,
    });
    while ((await scheduler.runDue()).enqueued > 0);
    expect(calls.map((c) => (c.args[0] as { slot: string }).slot)).toEqual([
      '2026-01-01T00:00:00.000Z',
      '2026-01-01T01:00:00.000Z',
      '2026-01-01T02:00:00.000Z',
      '2026-01-01T03:00:00.000Z',
      '2026-01-01T04:00:00.000Z',
      '2026-01-01T05:00:00.000Z',
    ]);
    expect(calls[0]?.args).toEqual([{ x: 1, slot: '2026-01-01T00:00:00.000Z' }]);
    expect((await store.getSchedule(s.id))?.nextRun.toISOString()).toBe('2026-01-01T06:00:00.000Z');
    void clock;
  });

  it('catchUp false (here the scheduler default) runs once and jumps to the next future slot', async () => {
    const { scheduler, store, calls, create } = setup('2026-01-01T05:30:00Z', { catchUp: false });
    const s = await create({
      func: 'hourly',
      type: 'Hourly',
      args: [7],
      nextRun: '2026-01-01T00:00:00Z',
      intendedDateArg: 'slot',
    });
    while ((await scheduler.runDue()).enqueued > 0);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args).toEqual([7, { slot: '2026-01-01T00:00:00.000Z' }]);
    expect((await store.getSchedule(s.id))?.nextRun.toISOString()).toBe('2026-01-01T06:00:00.000Z');
  });

  it('Monthly from Jan 31 keeps the month end while catching up (no Django Q drift to the 28th)', async () => {
    const { scheduler, calls, create } = setup('2026-05-01T00:00:00Z');
    await create({ func: 'm', type: 'Monthly', nextRun: '2026-01-31T09:00:00Z', intendedDateArg: 'slot' });
    while ((await scheduler.runDue()).enqueued > 0);
    expect(calls.map((c) => (c.args[0] as { slot: string }).slot.slice(0, 10))).toEqual([
      '2026-01-31',
      '2026-02-28',
      '2026-03-31',
      '2026-04-30',
    ]);
  });

  it('paused schedules do not run; resuming skips the slots missed while paused', async () => {
    const { scheduler, store, calls, clock, create } = setup();
    const s = await create({ func: 'p', type: 'Hourly', name: 'p' });
    await pauseSchedule(store, 'p', { now: clock.now });
    clock.advance(3 * 3_600_000 + 60_000);
    expect(await scheduler.runDue()).toMatchObject({ enqueued: 0 });
    const resumed = await resumeSchedule(store, 'p', {}, { now: clock.now });
    expect(resumed.nextRun.toISOString()).toBe('2026-01-01T04:00:00.000Z');
    clock.advance(59 * 60_000);
    await scheduler.runDue();
    expect(calls).toHaveLength(1);
    expect((await store.getSchedule(s.id))?.nextRun.toISOString()).toBe('2026-01-01T05:00:00.000Z');
  });

  it('retries a failed enqueue with the same task id, and never runs a claimed slot twice', async () => {
    let failures = 2;
    const ids: string[] = [];
    const { scheduler, store, create } = setup('2026-01-01T00:00:00Z', {
      enqueueRetryDelaysMs: [0, 0],
      enqueue: async (_f, _a, options) => {
        ids.push(options.id);
        if (failures-- > 0) throw new Error('broker down');
        return options.id;
      },
    });
    const s = await create({ func: 'f', type: 'Daily' });
    expect(await scheduler.runDue()).toMatchObject({ enqueued: 1, errors: 0 });
    expect(new Set(ids).size).toBe(1);
    expect((await store.getSchedule(s.id))?.lastTaskId).toBe(ids[0]);

    failures = 10;
    const other = await create({ func: 'g', type: 'Daily' });
    expect(await scheduler.runDue()).toMatchObject({ enqueued: 0, errors: 1 });
    expect((await store.getSchedule(other.id))?.nextRun.toISOString()).toBe('2026-01-02T00:00:00.000Z');
  });

  it('pauses a schedule whose stored args cannot be decoded', async () => {
    const { scheduler, store, calls, create } = setup();
    const s = await create({ func: 'f' });
    await store.updateSchedule(s.id, { args: 'not json at all {' });
    expect(await scheduler.runDue()).toMatchObject({ errors: 1 });
    expect(calls).toHaveLength(0);
    expect((await store.getSchedule(s.id))?.paused).toBe(true);
  });
});

describe('the loop', () => {
  it('runs due schedules right after start, then on wake() when the clock reaches the next slot', async () => {
    const { scheduler, calls, clock, create } = setup('2026-01-01T00:00:00Z', { maxSleepMs: 60_000 });
    await create({ func: 'h', type: 'Hourly' });
    running.push(scheduler);
    await scheduler.start();
    await until(() => calls.length === 1, 5000, 'the first run');
    clock.advance(3_600_000);
    scheduler.wake();
    await until(() => calls.length === 2, 5000, 'the second run');
  });

  it('wakes for a schedule created after start', async () => {
    const { scheduler, calls, create } = setup('2026-01-01T00:00:00Z', { maxSleepMs: 60_000 });
    running.push(scheduler);
    await scheduler.start();
    await create({ func: 'late' });
    scheduler.wake();
    await until(() => calls.length === 1, 5000, 'the new schedule');
  });

  it('sleeps until the next due time on its own (real clock, no wake, no polling cap)', async () => {
    const store = new MemoryScheduleStore();
    const { calls, enqueue } = fakeEnqueue();
    const scheduler = new Scheduler({ store, cluster: 'default', enqueue, maxSleepMs: 600_000 });
    await createSchedule(store, { func: 'tick', type: 'Cron', cron: '* * * * * *', intendedDateArg: 'slot' });
    running.push(scheduler);
    await scheduler.start();
    await until(() => calls.length >= 2, 5000, 'two cron slots');
    const slots = calls.map((c) => (c.args[0] as { slot: string }).slot);
    expect(new Set(slots).size).toBe(slots.length);
  });

  it('sees a schedule created by another process within maxSleepMs (no wake)', async () => {
    const { scheduler, calls, create } = setup('2026-01-01T00:00:00Z', { maxSleepMs: 50 });
    running.push(scheduler);
    await scheduler.start();
    await create({ func: 'from-elsewhere' });
    await until(() => calls.length === 1, 5000, 'the schedule from another process');
  });

  it('run(signal) serves as a sentinel part: runs until the signal aborts', async () => {
    const { scheduler, calls, create } = setup();
    await create({ func: 'x' });
    const abort = new AbortController();
    const done = scheduler.run(abort.signal);
    await until(() => calls.length === 1, 5000, 'the run');
    expect(scheduler.running).toBe(true);
    abort.abort();
    await done;
    expect(scheduler.running).toBe(false);
  });

  it('stop() ends the loop and start() twice is refused', async () => {
    const { scheduler, calls, create } = setup();
    await scheduler.start();
    await expect(scheduler.start()).rejects.toMatchObject({ code: 'TASKQ_CLUSTER_STATE' });
    await scheduler.stop();
    expect(scheduler.running).toBe(false);
    await create({ func: 'x' });
    scheduler.wake();
    expect(calls).toHaveLength(0);
  });
});

describe('several schedulers sharing one store', () => {
  async function drive(store: ScheduleStore, clock: FakeClock, count: number) {
    const { calls, enqueue } = fakeEnqueue();
    const schedulers = Array.from(
      { length: count },
      () => new Scheduler({ store, cluster: 'default', enqueue, now: clock.now, maxSleepMs: 20 }),
    );
    return { calls, schedulers };
  }

  it('concurrent passes: each slot produces exactly one task', async () => {
    const clock = new FakeClock('2026-01-01T00:00:00Z');
    const base = new MemoryScheduleStore();
    const store = jittery(base);
    const { calls, schedulers } = await drive(store, clock, 4);
    await createSchedule(
      base,
      { func: 'sec', type: 'Cron', cron: '*/5 * * * * *', intendedDateArg: 'slot', catchUp: true },
      { now: clock.now },
    );
    await createSchedule(
      base,
      { func: 'min', type: 'Minutes', minutes: 1, intendedDateArg: 'slot', repeats: 5 },
      { now: clock.now },
    );
    await createSchedule(base, { func: 'once', nextRun: '2026-01-01T00:00:30Z' }, { now: clock.now });
    for (let step = 0; step < 40; step++) {
      // Irregular steps, so some passes catch up several slots at once.
      clock.advance(step % 7 === 0 ? 30_000 : 10_000);
      await Promise.all(
        schedulers.map(async (s) => {
          while ((await s.runDue()).more);
        }),
      );
    }
    for (const s of schedulers) while ((await s.runDue()).enqueued > 0);
    const slots = (func: string) =>
      calls.filter((c) => c.func === func).map((c) => (c.args[0] as { slot: string }).slot);
    const sec = slots('sec');
    expect(new Set(sec).size).toBe(sec.length);
    // Every 5 s from 00:00:00 (created then) up to the clock, none missing.
    const elapsed = (clock.t - Date.parse('2026-01-01T00:00:00Z')) / 1000;
    expect(sec).toHaveLength(Math.floor(elapsed / 5) + 1);
    expect(sec.sort().at(-1)).toBe(new Date(clock.t).toISOString());
    expect(slots('min')).toHaveLength(5);
    expect(new Set(slots('min')).size).toBe(5);
    expect(calls.filter((c) => c.func === 'once')).toHaveLength(1);
    expect(new Set(calls.map((c) => c.options.id)).size).toBe(calls.length);
  });

  it('running loops: each slot produces exactly one task', async () => {
    const clock = new FakeClock('2026-01-01T00:00:00Z');
    const base = new MemoryScheduleStore();
    const { calls, schedulers } = await drive(jittery(base), clock, 3);
    await createSchedule(
      base,
      { func: 'sec', type: 'Cron', cron: '* * * * * *', intendedDateArg: 'slot' },
      { now: clock.now },
    );
    running.push(...schedulers);
    await Promise.all(schedulers.map((s) => s.start()));
    for (let step = 1; step <= 15; step++) {
      clock.advance(1_000);
      schedulers.forEach((s) => s.wake());
      await until(() => calls.length >= step + 1, 5000, `slot ${step}`);
    }
    clock.advance(5_000);
    schedulers.forEach((s) => s.wake());
    await until(() => calls.length >= 21, 5000, 'the catch-up slots');
    await Promise.all(schedulers.map((s) => s.stop()));
    const slots = calls.map((c) => (c.args[0] as { slot: string }).slot);
    // 00:00:00 (at start) through 00:00:20, each once.
    expect(slots).toHaveLength(21);
    expect(new Set(slots).size).toBe(21);
  });
});
