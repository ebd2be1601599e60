import { describe, expect, it } from 'vitest';
import { MemoryScheduleStore } from '../src/store/memory-schedule-store.js';
import {
  createSchedule,
  deleteSchedule,
  getSchedule,
  listSchedules,
  pauseSchedule,
  resumeSchedule,
  runScheduleNow,
  scheduleArgs,
  updateSchedule,
  type ScheduleInput,
} from '../src/scheduler/schedules.js';
import { FakeClock, fakeEnqueue } from './scheduler-helpers.js';

function setup(start = '2026-01-01T00:00:00Z') {
  const clock = new FakeClock(start);
  const store = new MemoryScheduleStore();
  const opts = { now: clock.now };
  return { clock, store, opts, create: (input: ScheduleInput) => createSchedule(store, input, opts) };
}

async function invalidMessage(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect(error).toMatchObject({ code: 'TASKQ_SCHEDULE_INVALID' });
    return (error as Error).message;
  }
  throw new Error('expected TASKQ_SCHEDULE_INVALID');
}

describe('createSchedule', () => {
  it('fills Django Q defaults: Once, repeats -1, next run now, the configured time zone', async () => {
    const { store, clock } = setup();
    const s = await createSchedule(
      store,
      { func: 'add', args: [1, 2] },
      { now: clock.now, timezone: 'Europe/Amsterdam' },
    );
    expect(s).toMatchObject({
      func: 'add',
      type: 'Once',
      repeats: -1,
      name: null,
      cluster: null,
      timezone: 'Europe/Amsterdam',
      catchUp: null,
      paused: false,
      lastTaskId: null,
      taskOptions: {},
    });
    expect(s.nextRun.toISOString()).toBe('2026-01-01T00:00:00.000Z');
    expect(s.anchorAt).toEqual(s.nextRun);
    expect(scheduleArgs(s)).toEqual([1, 2]);
    expect(await getSchedule(store, s.id)).toEqual(s);
  });

  it('keeps args of any serializable type and puts hook and group in taskOptions', async () => {
    const { create } = setup();
    const when = new Date('2020-05-05T00:00:00Z');
    const s = await create({
      func: 'f',
      args: [when, new Map([['a', 1]]), 10n],
      hook: 'h',
      group: 'g',
      taskOptions: { timeout: 5 },
    });
    expect(scheduleArgs(s)).toEqual([when, new Map([['a', 1]]), 10n]);
    expect(s.taskOptions).toEqual({ hook: 'h', group: 'g', timeout: 5 });
  });

  it('accepts type names in any case and parses nextRun strings and epoch ms', async () => {
    const { create } = setup();
    const a = await create({ func: 'f', type: 'daily', nextRun: '2026-02-01T08:00:00Z' });
    const b = await create({ func: 'f', type: 'Weekly', nextRun: Date.parse('2026-02-01T08:00:00Z') });
    expect(a.type).toBe('Daily');
    expect(b.nextRun).toEqual(a.nextRun);
  });

  it('moves a Cron schedule to its first match (not Django Q\'s "run now, then cron")', async () => {
    const { create } = setup('2026-01-01T10:15:00Z');
    const s = await create({ func: 'f', type: 'Cron', cron: '0 22 * * 1-5' });
    expect(s.nextRun.toISOString()).toBe('2026-01-01T22:00:00.000Z');
    const tz = await create({ func: 'f', type: 'Cron', cron: '0 9 * * *', timezone: 'America/New_York' });
    expect(tz.nextRun.toISOString()).toBe('2026-01-01T14:00:00.000Z');
    const from = await create({ func: 'f', type: 'Cron', cron: '30 * * * * *', nextRun: '2026-03-01T00:00:00Z' });
    expect(from.nextRun.toISOString()).toBe('2026-03-01T00:00:30.000Z');
  });

  it('rejects a duplicate name with TASKQ_DUPLICATE_SCHEDULE', async () => {
    const { create } = setup();
    await create({ func: 'f', name: 'nightly' });
    await expect(create({ func: 'g', name: 'nightly' })).rejects.toMatchObject({
      code: 'TASKQ_DUPLICATE_SCHEDULE',
      message: 'A schedule named "nightly" already exists.',
    });
  });

  const bad: Array<[string, ScheduleInput, string]> = [
    [
      'a bad cron (Django Q: "out of bands")',
      { func: 'f', type: 'Cron', cron: '0 22 * * 1-12' },
      '`cron` "0 22 * * 1-12" is not a valid 5- or 6-field cron expression: Invalid value for dayOfWeek: 8',
    ],
    [
      'a cron with too few fields',
      { func: 'f', type: 'Cron', cron: '1-12' },
      '`cron` "1-12" is not a valid 5- or 6-field cron expression',
    ],
    ['a 7-field cron', { func: 'f', type: 'Cron', cron: '0 0 0 1 1 * 2030' }, 'requires exactly 5 or 6 parts'],
    [
      'a cron that never matches',
      { func: 'f', type: 'Cron', cron: '0 0 30 2 *' },
      '`cron` "0 0 30 2 *" never matches a future time',
    ],
    ['Cron without cron', { func: 'f', type: 'Cron' }, 'type Cron needs `cron`'],
    [
      'an unknown type',
      { func: 'f', type: 'Fortnightly' as never },
      '`type` "Fortnightly" is not a schedule type; use one of Once, Minutes, Hourly',
    ],
    ['Minutes without minutes', { func: 'f', type: 'Minutes' }, 'type Minutes needs `minutes`'],
    [
      'Minutes with 0 minutes',
      { func: 'f', type: 'Minutes', minutes: 0 },
      '`minutes` must be a whole number of minutes, at least 1 (got 0)',
    ],
    ['minutes on a Daily schedule', { func: 'f', type: 'Daily', minutes: 5 }, '`minutes` only applies to type Minutes'],
    [
      'cron on an Hourly schedule',
      { func: 'f', type: 'Hourly', cron: '* * * * *' },
      '`cron` only applies to type Cron',
    ],
    ['a bad time zone', { func: 'f', timezone: 'Mars/Olympus' }, '`timezone` "Mars/Olympus" is not an IANA time zone'],
    [
      'repeats -2',
      { func: 'f', repeats: -2 },
      '`repeats` must be -1 (forever), 0 (paused) or a positive number of runs (got -2)',
    ],
    ['fractional repeats', { func: 'f', repeats: 1.5 }, '`repeats` must be -1'],
    ['no func', { func: '' }, '`func` must be the name of a task'],
    ['a bad nextRun', { func: 'f', nextRun: 'tomorrow-ish' }, '`nextRun` must be a valid Date'],
    ['a bad cluster', { func: 'f', cluster: 'a b' }, '`cluster` must be a cluster name'],
    ['args that are not an array', { func: 'f', args: 5 as never }, '`args` must be an array'],
    [
      'an unknown option (Django Q spelling)',
      { func: 'f', schedule_type: 'D' } as never,
      'unknown option(s) `schedule_type`',
    ],
    ['a bad timeout', { func: 'f', taskOptions: { timeout: -1 } }, '`timeout` must be a positive number of seconds'],
  ];
  it.each(bad)('rejects %s with a precise TASKQ_SCHEDULE_INVALID', async (_name, input, fragment) => {
    const { create, store } = setup();
    expect(await invalidMessage(create(input))).toContain(fragment);
    expect((await listSchedules(store)).total).toBe(0);
  });

  it('lists every problem at once, naming the schedule', async () => {
    const { create } = setup();
    const message = await invalidMessage(
      create({ func: 'f', name: 'x', type: 'Minutes', timezone: 'Nowhere', repeats: -5 }),
    );
    expect(message).toMatch(/^Invalid schedule "x":\n {2}- /);
    expect(message).toContain('type Minutes needs `minutes`');
    expect(message).toContain('`timezone` "Nowhere"');
    expect(message).toContain('`repeats` must be');
  });

  it('refuses values the serializer cannot store', async () => {
    const { create } = setup();
    await expect(create({ func: 'f', args: [() => 1] })).rejects.toMatchObject({ code: 'TASKQ_NOT_SERIALIZABLE' });
  });
});

describe('updateSchedule, pause, resume, delete, list', () => {
  it('changes fields and re-serializes args; unknown ids fail with TASKQ_SCHEDULE_NOT_FOUND', async () => {
    const { store, opts, create, clock } = setup();
    const s = await create({ func: 'f', name: 'a', type: 'Daily', args: [1] });
    clock.advance(1000);
    const u = await updateSchedule(store, 'a', { name: 'b', args: [2, 3], hook: 'h', repeats: 4 }, opts);
    expect(u).toMatchObject({ name: 'b', repeats: 4, taskOptions: { hook: 'h' } });
    expect(scheduleArgs(u)).toEqual([2, 3]);
    expect(u.nextRun).toEqual(s.nextRun);
    expect(u.updatedAt.toISOString()).toBe('2026-01-01T00:00:01.000Z');
    await expect(updateSchedule(store, 'nope', { repeats: 1 }, opts)).rejects.toMatchObject({
      code: 'TASKQ_SCHEDULE_NOT_FOUND',
    });
  });

  it('validates the merged schedule: switching to Minutes needs minutes, switching away clears them', async () => {
    const { store, opts, create } = setup();
    const s = await create({ func: 'f', type: 'Daily' });
    expect(await invalidMessage(updateSchedule(store, s.id, { type: 'Minutes' }, opts))).toContain(
      'type Minutes needs `minutes`',
    );
    const m = await updateSchedule(store, s.id, { type: 'Minutes', minutes: 10 }, opts);
    expect(m.minutes).toBe(10);
    const h = await updateSchedule(store, s.id, { type: 'Hourly' }, opts);
    expect(h.minutes).toBeNull();
  });

  it('a new cron or nextRun starts a new series', async () => {
    const { store, opts, create } = setup('2026-01-01T10:00:00Z');
    const s = await create({ func: 'f', type: 'Monthly', nextRun: '2026-01-31T00:00:00Z' });
    const moved = await updateSchedule(store, s.id, { nextRun: '2026-02-15T06:00:00Z' }, opts);
    expect(moved.anchorAt.toISOString()).toBe('2026-02-15T06:00:00.000Z');
    const cron = await updateSchedule(store, s.id, { type: 'Cron', cron: '0 12 * * *' }, opts);
    expect(cron.nextRun.toISOString()).toBe('2026-01-01T12:00:00.000Z');
  });

  it('pause keeps repeats; resume of a finished schedule needs repeats', async () => {
    const { store, opts, create } = setup();
    const s = await create({ func: 'f', type: 'Hourly', repeats: 2, name: 'p' });
    expect((await pauseSchedule(store, s.id, opts)).paused).toBe(true);
    const r = await resumeSchedule(store, 'p', {}, opts);
    expect(r).toMatchObject({ paused: false, repeats: 2 });
    await store.updateSchedule(s.id, { repeats: 0 });
    expect(await invalidMessage(resumeSchedule(store, 'p', {}, opts))).toContain('has no runs left (repeats 0)');
    expect((await resumeSchedule(store, 'p', { repeats: -1 }, opts)).repeats).toBe(-1);
  });

  it('deletes by id or name and lists with filters', async () => {
    const { store, create } = setup();
    await create({ func: 'a', name: 'one' });
    const two = await create({ func: 'b', type: 'Daily' });
    expect((await listSchedules(store, { type: 'Daily' })).schedules.map((s) => s.id)).toEqual([two.id]);
    expect(await deleteSchedule(store, 'one')).toBe(true);
    expect(await deleteSchedule(store, two.id)).toBe(true);
    expect(await deleteSchedule(store, two.id)).toBe(false);
    expect((await listSchedules(store)).total).toBe(0);
  });
});

describe('runScheduleNow', () => {
  it('creates one extra task without moving the series, also when paused', async () => {
    const { store, opts, create } = setup();
    const s = await create({
      func: 'f',
      type: 'Daily',
      name: 'daily',
      args: [{ a: 1 }],
      intendedDateArg: 'at',
      nextRun: '2026-01-02T00:00:00Z',
      repeats: 3,
    });
    await pauseSchedule(store, s.id, opts);
    const { calls, enqueue } = fakeEnqueue();
    const taskId = await runScheduleNow(store, 'daily', enqueue, opts);
    expect(calls).toEqual([
      { func: 'f', args: [{ a: 1, at: '2026-01-01T00:00:00.000Z' }], options: { id: taskId, group: 'daily' } },
    ]);
    const after = await getSchedule(store, s.id);
    expect(after).toMatchObject({ lastTaskId: taskId, repeats: 3, paused: true });
    expect(after?.nextRun).toEqual(s.nextRun);
  });
});

describe('bindScheduleApi (q.schedules)', () => {
  it('binds store, serializer, time zone and enqueue, and reports changes', async () => {
    const { bindScheduleApi } = await import('../src/scheduler/schedule-api.js');
    const { taggedJson } = await import('../src/serialize/tagged-json.js');
    const store = new MemoryScheduleStore();
    const { calls, enqueue } = fakeEnqueue();
    let changes = 0;
    const api = bindScheduleApi(async () => ({
      store,
      serializer: taggedJson,
      timezone: 'America/New_York',
      enqueue,
      onChange: () => changes++,
    }));
    const s = await api.create({ func: 'f', args: [1], type: 'Daily', name: 'd' });
    expect(s.timezone).toBe('America/New_York');
    expect(await api.args(s)).toEqual([1]);
    await api.update('d', { repeats: 2 });
    await api.pause('d');
    await api.resume('d');
    expect((await api.list()).total).toBe(1);
    expect((await api.get('d'))?.repeats).toBe(2);
    const id = await api.runNow('d');
    expect(calls[0]?.options.id).toBe(id);
    expect(await api.delete('d')).toBe(true);
    expect(changes).toBe(5);
  });
});
