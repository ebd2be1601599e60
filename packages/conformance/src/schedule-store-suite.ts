import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { isTaskqError, newTaskId, type Schedule, type ScheduleStore } from '@taskq/core';

export interface ScheduleStoreHarness {
  store: ScheduleStore;
  cleanup?: () => Promise<void>;
}

export type ScheduleStoreFactory = () => Promise<ScheduleStore | ScheduleStoreHarness>;

const T0 = Date.parse('2030-01-01T00:00:00.000Z');

/** A complete, valid record for tests; override what the test is about. */
export function sampleSchedule(overrides: Partial<Schedule> = {}): Schedule {
  const nextRun = overrides.nextRun ?? new Date(T0);
  return {
    id: newTaskId(),
    name: null,
    func: 'add',
    args: '[1,2]',
    taskOptions: {},
    type: 'Hourly',
    minutes: null,
    cron: null,
    repeats: -1,
    nextRun,
    anchorAt: nextRun,
    timezone: 'UTC',
    cluster: null,
    intendedDateArg: null,
    catchUp: null,
    paused: false,
    lastTaskId: null,
    lastRunAt: null,
    createdAt: new Date(T0 - 60_000),
    updatedAt: new Date(T0 - 60_000),
    ...overrides,
  };
}

const at = (ms: number) => new Date(T0 + ms);

async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<void> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isTaskqError(error), `expected a TaskqError ${code}, got ${String(error)}`);
    assert.equal((error as { code: string }).code, code);
    return;
  }
  assert.fail(`expected a rejection with ${code}`);
}

type Case = [name: string, body: (store: ScheduleStore) => Promise<void>];

const CASES: Case[] = [
  [
    'round-trips every field by id and by name',
    async (store) => {
      const s = sampleSchedule({
        name: 'nightly-report',
        func: 'report',
        args: '[{"x":1},"a"]',
        taskOptions: { hook: 'done', group: 'g', timeout: 30, retry: { backoff: 'fixed', delayMs: 5 } },
        type: 'Cron',
        cron: '*/5 * * * * *',
        repeats: 7,
        nextRun: at(123),
        anchorAt: at(-5_000_456),
        timezone: 'Europe/Amsterdam',
        cluster: 'billing',
        intendedDateArg: 'intended',
        catchUp: false,
        lastTaskId: newTaskId(),
        lastRunAt: at(-1_001),
        createdAt: at(-9_000_001),
        updatedAt: at(-1_001),
      });
      const created = await store.createSchedule(s);
      assert.deepEqual(created, s);
      assert.deepEqual(await store.getSchedule(s.id), s);
      assert.deepEqual(await store.getSchedule('nightly-report'), s);
      assert.equal(await store.getSchedule('no-such-schedule'), null);
      const minutes = sampleSchedule({ type: 'Minutes', minutes: 15 });
      await store.createSchedule(minutes);
      assert.deepEqual(await store.getSchedule(minutes.id), minutes);
    },
  ],
  [
    'rejects a duplicate name with TASKQ_DUPLICATE_SCHEDULE; unnamed schedules may repeat',
    async (store) => {
      await store.createSchedule(sampleSchedule({ name: 'once-only' }));
      await rejectsWithCode(store.createSchedule(sampleSchedule({ name: 'once-only' })), 'TASKQ_DUPLICATE_SCHEDULE');
      await store.createSchedule(sampleSchedule());
      await store.createSchedule(sampleSchedule());
      assert.equal((await store.listSchedules()).total, 3);
    },
  ],
  [
    'lists by nextRun with filters, limit, offset and total',
    async (store) => {
      const a = sampleSchedule({ nextRun: at(3000), func: 'a', type: 'Daily' });
      const b = sampleSchedule({ nextRun: at(1000), func: 'b', cluster: 'east' });
      const c = sampleSchedule({ nextRun: at(2000), func: 'a', paused: true });
      for (const s of [a, b, c]) await store.createSchedule(s);
      const ids = (r: { schedules: Schedule[] }) => r.schedules.map((s) => s.id);
      assert.deepEqual(ids(await store.listSchedules()), [b.id, c.id, a.id]);
      assert.deepEqual(ids(await store.listSchedules({ func: 'a' })), [c.id, a.id]);
      assert.deepEqual(ids(await store.listSchedules({ type: 'Daily' })), [a.id]);
      assert.deepEqual(ids(await store.listSchedules({ cluster: 'east' })), [b.id]);
      assert.deepEqual(ids(await store.listSchedules({ cluster: null })), [c.id, a.id]);
      assert.deepEqual(ids(await store.listSchedules({ paused: true })), [c.id]);
      assert.deepEqual(ids(await store.listSchedules({ paused: false })), [b.id, a.id]);
      const page = await store.listSchedules({ limit: 1, offset: 1 });
      assert.deepEqual(ids(page), [c.id]);
      assert.equal(page.total, 3);
    },
  ],
  [
    'updates fields, including back to null, and refuses a rename onto a taken name',
    async (store) => {
      const s = sampleSchedule({ name: 'first', lastTaskId: newTaskId(), lastRunAt: at(-1) });
      await store.createSchedule(s);
      await store.createSchedule(sampleSchedule({ name: 'taken' }));
      const updated = await store.updateSchedule(s.id, {
        name: 'renamed',
        repeats: 3,
        nextRun: at(7_777),
        anchorAt: at(7_777),
        taskOptions: { hook: 'h' },
        lastTaskId: null,
        lastRunAt: null,
        catchUp: true,
        paused: true,
        updatedAt: at(5),
      });
      const expected = {
        ...s,
        name: 'renamed',
        repeats: 3,
        nextRun: at(7_777),
        anchorAt: at(7_777),
        taskOptions: { hook: 'h' },
        lastTaskId: null,
        lastRunAt: null,
        catchUp: true,
        paused: true,
        updatedAt: at(5),
      };
      assert.deepEqual(updated, expected);
      assert.deepEqual(await store.getSchedule('renamed'), expected);
      assert.equal(await store.getSchedule('first'), null);
      await rejectsWithCode(store.updateSchedule(s.id, { name: 'taken' }), 'TASKQ_DUPLICATE_SCHEDULE');
      assert.equal((await store.updateSchedule(s.id, { name: 'renamed', repeats: 4 }))?.repeats, 4);
      assert.equal(await store.updateSchedule(newTaskId(), { repeats: 1 }), null);
    },
  ],
  [
    'deletes once',
    async (store) => {
      const s = sampleSchedule({ name: 'gone' });
      await store.createSchedule(s);
      assert.equal(await store.deleteSchedule(s.id), true);
      assert.equal(await store.deleteSchedule(s.id), false);
      assert.equal(await store.getSchedule('gone'), null);
    },
  ],
  [
    'reports the earliest active nextRun for a cluster',
    async (store) => {
      assert.equal(await store.nextScheduleDueAt('default'), null);
      await store.createSchedule(sampleSchedule({ nextRun: at(100), paused: true }));
      await store.createSchedule(sampleSchedule({ nextRun: at(200), repeats: 0 }));
      await store.createSchedule(sampleSchedule({ nextRun: at(300), cluster: 'other' }));
      assert.equal(await store.nextScheduleDueAt('default'), null);
      assert.deepEqual(await store.nextScheduleDueAt('other'), at(300));
      await store.createSchedule(sampleSchedule({ nextRun: at(400) }));
      await store.createSchedule(sampleSchedule({ nextRun: at(500), cluster: 'default' }));
      assert.deepEqual(await store.nextScheduleDueAt('default'), at(400));
      assert.deepEqual(await store.nextScheduleDueAt('other'), at(300));
    },
  ],
  [
    'lists due schedules: active, for the cluster, nextRun <= now, earliest first, limited',
    async (store) => {
      const due1 = sampleSchedule({ nextRun: at(-50) });
      const due2 = sampleSchedule({ nextRun: at(-100), cluster: 'default' });
      const dueNow = sampleSchedule({ nextRun: at(0) });
      for (const s of [
        due1,
        due2,
        dueNow,
        sampleSchedule({ nextRun: at(1) }),
        sampleSchedule({ nextRun: at(-10), paused: true }),
        sampleSchedule({ nextRun: at(-10), repeats: 0 }),
        sampleSchedule({ nextRun: at(-10), cluster: 'other' }),
      ]) {
        await store.createSchedule(s);
      }
      const due = await store.listDueSchedules(at(0), 'default', 10);
      assert.deepEqual(
        due.map((s) => s.id),
        [due2.id, due1.id, dueNow.id],
      );
      assert.deepEqual(due[0], due2);
      assert.equal((await store.listDueSchedules(at(0), 'default', 2)).length, 2);
      assert.equal((await store.listDueSchedules(at(0), 'other', 10)).length, 3);
    },
  ],
  [
    'claims a slot once: compare-and-set on nextRun records the run',
    async (store) => {
      const s = sampleSchedule({ nextRun: at(-1_234), repeats: 5 });
      await store.createSchedule(s);
      const taskId = newTaskId();
      const outcome = { nextRun: at(3_598_766), repeats: 4, lastTaskId: taskId, lastRunAt: at(1) };
      assert.equal(await store.claimSchedule(s.id, at(-1_234), outcome), true);
      assert.deepEqual(await store.getSchedule(s.id), { ...s, ...outcome, updatedAt: at(1) });
      assert.equal(await store.claimSchedule(s.id, at(-1_234), { ...outcome, lastTaskId: newTaskId() }), false);
      assert.equal((await store.getSchedule(s.id))?.lastTaskId, taskId);
      assert.equal(await store.claimSchedule(newTaskId(), at(-1_234), outcome), false);
    },
  ],
  [
    'does not claim paused or finished schedules',
    async (store) => {
      const paused = sampleSchedule({ paused: true });
      const finished = sampleSchedule({ repeats: 0 });
      await store.createSchedule(paused);
      await store.createSchedule(finished);
      const outcome = { nextRun: at(1), repeats: -1, lastTaskId: newTaskId(), lastRunAt: at(0) };
      assert.equal(await store.claimSchedule(paused.id, paused.nextRun, outcome), false);
      assert.equal(await store.claimSchedule(finished.id, finished.nextRun, outcome), false);
      assert.equal(await store.claimSchedule(paused.id, paused.nextRun, { delete: true }), false);
      assert.deepEqual(await store.getSchedule(paused.id), paused);
      assert.deepEqual(await store.getSchedule(finished.id), finished);
    },
  ],
  [
    'a delete claim removes the schedule once',
    async (store) => {
      const s = sampleSchedule({ type: 'Once', nextRun: at(-5) });
      await store.createSchedule(s);
      assert.equal(await store.claimSchedule(s.id, at(-4), { delete: true }), false);
      assert.equal(await store.claimSchedule(s.id, at(-5), { delete: true }), true);
      assert.equal(await store.claimSchedule(s.id, at(-5), { delete: true }), false);
      assert.equal(await store.getSchedule(s.id), null);
    },
  ],
  [
    'concurrent claims of one slot: exactly one wins',
    async (store) => {
      const s = sampleSchedule({ nextRun: at(-999) });
      await store.createSchedule(s);
      const results = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          store.claimSchedule(s.id, at(-999), {
            nextRun: at(3_600_000 - 999),
            repeats: -1,
            lastTaskId: newTaskId(),
            lastRunAt: at(i),
          }),
        ),
      );
      assert.equal(results.filter(Boolean).length, 1);
      const del = sampleSchedule({ type: 'Once', nextRun: at(-1) });
      await store.createSchedule(del);
      const deletes = await Promise.all(
        Array.from({ length: 6 }, () => store.claimSchedule(del.id, at(-1), { delete: true })),
      );
      assert.equal(deletes.filter(Boolean).length, 1);
    },
  ],
];

export interface ScheduleStoreSuiteOptions {
  /** Shown in the suite's title, e.g. "SqlStore on postgres". */
  name: string;
  /**
   * Returns an EMPTY store for every test (due queries look at every schedule
   * in it): isolate with a fresh schema, table prefix or database.
   */
  create: ScheduleStoreFactory;
}

/** The ScheduleStore conformance suite (SPEC section 7): exactly-once claims, due queries, edits. */
export function runScheduleStoreSuite(options: ScheduleStoreSuiteOptions): void {
  describe(`${options.name}: schedule store conformance`, () => {
    for (const [name, body] of CASES) {
      it(name, async () => {
        const made = await options.create();
        const harness: ScheduleStoreHarness = 'store' in made ? made : { store: made };
        try {
          await body(harness.store);
        } finally {
          await harness.cleanup?.();
        }
      });
    }
  });
}
