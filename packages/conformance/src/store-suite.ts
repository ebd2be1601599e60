import { afterEach, describe, expect, it, type TestContext } from 'vitest';
import {
  ITER_GROUP_PREFIX,
  type ResultStore,
  type SearchPage,
  type SearchQuery,
  type StoreCapabilities,
  type TaskRecord,
} from '@taskq/core';
import { makeFailure, makeRecord, makeStat, taskId } from './fixtures.js';
import { rejectionCode, uniqueName, waitFor } from './wait.js';

export interface StoreSuiteOptions {
  /** Shown in the suite's title, e.g. "RedisStore". */
  name: string;
  /** Returns a connected, EMPTY store (e.g. a fresh namespace or schema per call). */
  create: () => Promise<ResultStore>;
  /** When given, capability tests are skipped at collection time; otherwise read from each store. */
  capabilities?: StoreCapabilities;
}

type Capability = keyof StoreCapabilities;

/** The result-store conformance suite (SPEC section 5); capabilities are the only reason a test is skipped. */
export function runResultStoreSuite(options: StoreSuiteOptions): void {
  const open: ResultStore[] = [];

  async function store(): Promise<ResultStore> {
    const created = await options.create();
    open.push(created);
    return created;
  }

  function itWith(capability: Capability, title: string, fn: (ctx: TestContext) => Promise<void>, timeout?: number) {
    const known = options.capabilities;
    it.skipIf(known !== undefined && !known[capability])(
      `${title} (needs capability ${capability})`,
      async (ctx) => {
        if (known === undefined && !(await store()).capabilities[capability]) ctx.skip();
        await fn(ctx);
      },
      timeout,
    );
  }

  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
  });

  const ids = (records: readonly TaskRecord[]) => records.map((r) => r.id);

  describe(`${options.name}: result store conformance`, () => {
    describe('save and get', () => {
      it('round-trips every field of a record', async () => {
        const s = await store();
        const success = makeRecord({ group: 'g', hook: 'hooks.done', args: '[{"$date":1}]', result: '{"a":[1,"x"]}' });
        const failure = makeFailure();
        expect(await s.saveMany([success, failure])).toEqual([1, 1]);
        expect(await s.get(success.id)).toEqual(success);
        expect(await s.get(failure.id)).toEqual(failure);
        const fetched = await s.get(success.id);
        expect(fetched?.stoppedAt).toBeInstanceOf(Date);
      });

      it('keeps falsy results as results', async () => {
        const s = await store();
        const records = ['0', 'false', '""', 'null'].map((result) => makeRecord({ result }));
        await s.saveMany(records);
        for (const record of records) expect((await s.get(record.id))?.result).toBe(record.result);
      });

      it('save rule: a success is final, a failure is overwritten and counts attempts', async () => {
        const s = await store();
        const id = taskId();
        expect(await s.saveMany([makeFailure({ id })])).toEqual([1]);
        expect(await s.saveMany([makeFailure({ id, error: { name: 'Error', message: 'second' } })])).toEqual([2]);
        expect((await s.get(id))?.error?.message).toBe('second');
        expect(await s.saveMany([makeRecord({ id, result: '42' })])).toEqual([3]);
        const saved = await s.get(id);
        expect(saved).toMatchObject({ success: true, result: '42', attemptCount: 3 });
        // Later saves of a succeeded task change nothing.
        expect(await s.saveMany([makeFailure({ id })])).toEqual([3]);
        expect(await s.saveMany([makeRecord({ id, result: '43' })])).toEqual([3]);
        expect(await s.get(id)).toMatchObject({ success: true, result: '42', attemptCount: 3 });
      });

      it('applies the save rule in order within one batch', async () => {
        const s = await store();
        const id = taskId();
        expect(await s.saveMany([makeFailure({ id }), makeFailure({ id }), makeRecord({ id })])).toEqual([1, 2, 3]);
        expect(await s.saveMany([])).toEqual([]);
      });

      it('gets by id, then by name (the newest with that name)', async () => {
        const s = await store();
        const older = makeRecord({ name: 'alpha-bravo-charlie-delta', result: '1' });
        const newer = makeRecord({ name: 'alpha-bravo-charlie-delta', result: '2' });
        await s.saveMany([older]);
        await s.saveMany([newer]);
        expect((await s.get(older.id))?.result).toBe('1');
        expect((await s.get('alpha-bravo-charlie-delta'))?.id).toBe(newer.id);
        expect(await s.get(taskId())).toBeNull();
        expect(await s.get('no-such-name')).toBeNull();
        expect(await rejectionCode(s.get(''))).toBe('TASKQ_INVALID_ARGUMENT');
      });

      it('delete removes one record and says whether it existed', async () => {
        const s = await store();
        const record = makeRecord();
        await s.saveMany([record]);
        expect(await s.delete(record.id)).toBe(true);
        expect(await s.get(record.id)).toBeNull();
        expect(await s.get(record.name)).toBeNull();
        expect(await s.delete(record.id)).toBe(false);
        expect((await s.list()).total).toBe(0);
      });
    });

    describe('task states', () => {
      it('getStates reports success and attemptCount of the ids that have records, in one call', async () => {
        const s = await store();
        const success = makeRecord();
        const failure = makeFailure();
        await s.saveMany([success, failure]);
        await s.saveMany([failure]);
        const states = await s.getStates([success.id, failure.id, taskId()]);
        expect(states.size).toBe(2);
        expect(states.get(success.id)).toEqual({ success: true, attemptCount: 1 });
        expect(states.get(failure.id)).toEqual({ success: false, attemptCount: 2 });
        expect((await s.getStates([])).size).toBe(0);
      });
    });

    describe('groups', () => {
      it('reads a group of 9,000 records whole (an iter or group that large once wedged a cluster)', async () => {
        const s = await store();
        const records = Array.from({ length: 9000 }, () => makeRecord({ group: 'large' }));
        for (let i = 0; i < records.length; i += 1000) await s.saveMany(records.slice(i, i + 1000));
        const group = await s.getGroup('large');
        expect(group).toHaveLength(9000);
        expect(group[0]?.id).toBe(records[0]?.id);
        expect(group[8999]?.id).toBe(records[8999]?.id);
        expect(await s.countGroup('large')).toBe(9000);
      }, 60_000);

      it('getGroup returns successes in finishing order, failures on request', async () => {
        const s = await store();
        const a = makeRecord({ group: 'g1' });
        const b = makeFailure({ group: 'g1' });
        const c = makeRecord({ group: 'g1' });
        const other = makeRecord({ group: 'g2' });
        await s.saveMany([a, b]);
        await s.saveMany([c, other]);
        expect(ids(await s.getGroup('g1'))).toEqual([a.id, c.id]);
        expect(ids(await s.getGroup('g1', { failures: true }))).toEqual([a.id, b.id, c.id]);
        expect(await s.getGroup('none')).toEqual([]);
      });

      it('countGroup counts all records, or only failures', async () => {
        const s = await store();
        await s.saveMany([makeRecord({ group: 'g' }), makeFailure({ group: 'g' }), makeRecord({ group: 'h' })]);
        expect(await s.countGroup('g')).toBe(2);
        expect(await s.countGroup('g', { failures: true })).toBe(1);
        expect(await s.countGroup('none')).toBe(0);
      });

      it('deleteGroup clears the label, or deletes the tasks too', async () => {
        const s = await store();
        const kept = [makeRecord({ group: 'keep' }), makeFailure({ group: 'keep' })];
        const gone = [makeRecord({ group: 'gone' }), makeRecord({ group: 'gone' })];
        await s.saveMany([...kept, ...gone]);
        expect(await s.deleteGroup('keep')).toBe(2);
        expect(await s.countGroup('keep')).toBe(0);
        expect((await s.get(kept[0]!.id))?.group).toBeNull();
        expect(await s.deleteGroup('gone', { tasks: true })).toBe(2);
        expect(await s.get(gone[0]!.id)).toBeNull();
        expect(await s.countGroup('gone')).toBe(0);
        expect((await s.list()).total).toBe(2);
      });
    });

    describe('list', () => {
      it('lists newest first with filters, totals and pagination', async () => {
        const s = await store();
        const records = [
          makeRecord({ func: 'add', group: 'x' }),
          makeFailure({ func: 'add', group: 'x' }),
          makeRecord({ func: 'mul', group: 'y' }),
          makeRecord({ func: 'add', group: 'y', name: 'one-two-three-four' }),
          makeFailure({ func: 'mul' }),
        ];
        await s.saveMany(records);
        const newestFirst = [...records].reverse();
        const all = await s.list();
        expect(all.total).toBe(5);
        expect(ids(all.records)).toEqual(ids(newestFirst));
        const ok = await s.list({ success: true });
        expect(ok.total).toBe(3);
        expect(ids(ok.records)).toEqual(ids(newestFirst.filter((r) => r.success)));
        expect((await s.list({ success: false })).total).toBe(2);
        expect(ids((await s.list({ group: 'x' })).records)).toEqual([records[1]!.id, records[0]!.id]);
        expect(ids((await s.list({ func: 'add', success: true })).records)).toEqual([records[3]!.id, records[0]!.id]);
        expect(ids((await s.list({ name: 'one-two-three-four' })).records)).toEqual([records[3]!.id]);
        expect((await s.list({ group: 'y', func: 'mul', success: true })).total).toBe(1);
        expect((await s.list({ group: 'nope' })).total).toBe(0);
        const page = await s.list({ limit: 2, offset: 1 });
        expect(page.total).toBe(5);
        expect(ids(page.records)).toEqual(ids(newestFirst.slice(1, 3)));
        expect((await s.list({ limit: 2, offset: 4 })).records).toHaveLength(1);
      });
    });

    describe('search (filters, text search, cursor pagination)', () => {
      /** Every page of a search, following nextCursor. */
      async function allPages(s: ResultStore, query: SearchQuery): Promise<TaskRecord[][]> {
        const pages: TaskRecord[][] = [];
        let cursor: string | null = null;
        do {
          const page: SearchPage = await s.search({ ...query, cursor });
          pages.push(page.records);
          cursor = page.nextCursor;
          if (pages.length > 100) throw new Error('search() never returned nextCursor null');
        } while (cursor !== null);
        return pages;
      }

      it('filters by func, name, group, cluster, state and stoppedAt range, newest first', async () => {
        const s = await store();
        const records = [
          makeRecord({ func: 'add', group: 'x', cluster: 'east' }),
          makeFailure({ func: 'add', group: 'x', cluster: 'west' }),
          makeRecord({ func: 'mul', group: 'y', cluster: 'east' }),
          makeRecord({ func: 'add', group: 'y', name: 'search-me-by-name', cluster: 'west' }),
          makeFailure({ func: 'mul', cluster: 'east' }),
        ];
        await s.saveMany(records);
        const newestFirst = [...records].reverse();
        expect(ids((await s.search()).records)).toEqual(ids(newestFirst));
        expect((await s.search()).nextCursor).toBeNull();
        expect(ids((await s.search({ func: 'add' })).records)).toEqual(
          ids(newestFirst.filter((r) => r.func === 'add')),
        );
        expect(ids((await s.search({ name: 'search-me-by-name' })).records)).toEqual([records[3]!.id]);
        expect(ids((await s.search({ group: 'x' })).records)).toEqual([records[1]!.id, records[0]!.id]);
        expect(ids((await s.search({ cluster: 'east' })).records)).toEqual([
          records[4]!.id,
          records[2]!.id,
          records[0]!.id,
        ]);
        expect(ids((await s.search({ state: 'failure' })).records)).toEqual([records[4]!.id, records[1]!.id]);
        expect(ids((await s.search({ state: 'success', func: 'add', cluster: 'west' })).records)).toEqual([
          records[3]!.id,
        ]);
        const since = records[1]!.stoppedAt;
        const until = records[3]!.stoppedAt;
        expect(ids((await s.search({ since, until })).records)).toEqual([records[2]!.id, records[1]!.id]);
        expect((await s.search({ group: 'nope' })).records).toEqual([]);
      });

      it('finds records by text inside args, results and errors, case-insensitively', async () => {
        const s = await store();
        const inArgs = makeRecord({ args: '[{"customer":"ACME-Widgets-4711"},2]' });
        const inResult = makeRecord({ result: '{"invoice":"INV-XYZZY-9"}' });
        const inError = makeFailure({ error: { name: 'TypeError', message: 'quota exhausted for tenant 88' } });
        await s.saveMany([inArgs, inResult, inError, makeRecord(), makeFailure()]);
        expect(ids((await s.search({ text: 'acme-widgets' })).records)).toEqual([inArgs.id]);
        expect(ids((await s.search({ text: '"customer":"ACME' })).records)).toEqual([inArgs.id]);
        expect(ids((await s.search({ text: 'xyzzy' })).records)).toEqual([inResult.id]);
        expect(ids((await s.search({ text: 'QUOTA EXHAUSTED' })).records)).toEqual([inError.id]);
        expect(ids((await s.search({ text: 'quota', state: 'success' })).records)).toEqual([]);
        expect((await s.search({ text: 'no-such-text-anywhere' })).records).toEqual([]);
        // LIKE wildcards are searched for literally
        expect((await s.search({ text: '%' })).records).toEqual([]);
        expect((await s.search({ text: 'b_om' })).records).toEqual([]);
      });

      it('pages with a cursor: no record twice, none missed, even when stoppedAt ties', async () => {
        const s = await store();
        const base = makeRecord();
        const records: TaskRecord[] = [];
        for (let i = 0; i < 23; i++) {
          // groups of three share a stoppedAt
          const stoppedAt = new Date(base.stoppedAt.getTime() + Math.floor(i / 3) * 1000);
          records.push(i % 2 ? makeFailure({ stoppedAt, func: 'paged' }) : makeRecord({ stoppedAt, func: 'paged' }));
        }
        await s.saveMany(records);
        const pages = await allPages(s, { func: 'paged', limit: 5 });
        expect(pages.map((p) => p.length)).toEqual([5, 5, 5, 5, 3]);
        const seen = pages.flat();
        expect(new Set(ids(seen)).size).toBe(23);
        expect(new Set(ids(seen))).toEqual(new Set(ids(records)));
        const times = seen.map((r) => r.stoppedAt.getTime());
        expect(times).toEqual([...times].sort((a, b) => b - a));
        const failures = (await allPages(s, { func: 'paged', state: 'failure', limit: 4 })).flat();
        expect(new Set(ids(failures))).toEqual(new Set(ids(records.filter((r) => !r.success))));
        // a page exactly as long as what is left
        const exact = await s.search({ func: 'paged', limit: 23 });
        expect(exact.records).toHaveLength(23);
        expect(exact.nextCursor).toBeNull();
      });

      it('rejects a bad cursor, limit or state with TASKQ_INVALID_ARGUMENT', async () => {
        const s = await store();
        expect(await rejectionCode(s.search({ cursor: 'not-a-cursor' }))).toBe('TASKQ_INVALID_ARGUMENT');
        expect(await rejectionCode(s.search({ limit: 0 }))).toBe('TASKQ_INVALID_ARGUMENT');
        expect(await rejectionCode(s.search({ limit: 1001 }))).toBe('TASKQ_INVALID_ARGUMENT');
        expect(await rejectionCode(s.search({ state: 'done' as 'success' }))).toBe('TASKQ_INVALID_ARGUMENT');
      });

      it('throughput counts successes and failures per time bucket', async () => {
        const s = await store();
        const t0 = makeRecord().stoppedAt.getTime() + 60_000;
        const at = (ms: number) => new Date(t0 + ms);
        await s.saveMany([
          makeRecord({ stoppedAt: at(0), func: 'tp' }),
          makeRecord({ stoppedAt: at(59_999), func: 'tp' }),
          makeFailure({ stoppedAt: at(30_000), func: 'tp' }),
          makeRecord({ stoppedAt: at(120_000), func: 'tp' }),
          makeFailure({ stoppedAt: at(150_000), func: 'other' }),
          makeRecord({ stoppedAt: at(180_000), func: 'tp' }),
        ]);
        const buckets = await s.throughput({ since: at(0), until: at(180_000), bucketMs: 60_000 });
        expect(buckets.map((b) => [b.at.getTime() - t0, b.success, b.failure])).toEqual([
          [0, 2, 1],
          [60_000, 0, 0],
          [120_000, 1, 1],
        ]);
        const tp = await s.throughput({ since: at(0), until: at(180_000), bucketMs: 60_000, func: 'tp' });
        expect(tp.map((b) => b.failure)).toEqual([1, 0, 0]);
        expect(await rejectionCode(s.throughput({ since: at(10), until: at(0), bucketMs: 60_000 }))).toBe(
          'TASKQ_INVALID_ARGUMENT',
        );
      });
    });

    describe('prune (saveLimit)', () => {
      it('keeps the newest N successes and every failure', async () => {
        const s = await store();
        const successes = Array.from({ length: 6 }, () => makeRecord());
        const failures = [makeFailure(), makeFailure()];
        await s.saveMany([...successes.slice(0, 3), ...failures, ...successes.slice(3)]);
        expect(await s.prune({ keep: 4 })).toBe(2);
        const left = await s.list({ success: true });
        expect(ids(left.records)).toEqual(ids(successes.slice(2).reverse()));
        expect((await s.list({ success: false })).total).toBe(2);
        expect(await s.prune({ keep: 4 })).toBe(0);
        expect(await s.prune({ keep: 0 })).toBe(0);
        expect((await s.list()).total).toBe(6);
      });

      it('keeps the newest N per group', async () => {
        const s = await store();
        const a = Array.from({ length: 3 }, () => makeRecord({ group: 'a' }));
        const b = Array.from({ length: 3 }, () => makeRecord({ group: 'b' }));
        const none = Array.from({ length: 3 }, () => makeRecord());
        await s.saveMany([...a, ...b, ...none]);
        expect(await s.prune({ keep: 1, per: 'group' })).toBe(6);
        expect(ids(await s.getGroup('a'))).toEqual([a[2]!.id]);
        expect(ids(await s.getGroup('b'))).toEqual([b[2]!.id]);
        expect((await s.list()).total).toBe(3);
      });

      it("never prunes an unfinished iter's sub-task records", async () => {
        const s = await store();
        const subTasks = Array.from({ length: 3 }, () => makeRecord({ group: `${ITER_GROUP_PREFIX}abc` }));
        const others = Array.from({ length: 3 }, () => makeRecord());
        await s.saveMany([...subTasks, ...others]);
        await s.prune({ keep: 1 });
        await s.prune({ keep: 1, per: 'group' });
        await s.prune({ keep: 1, per: 'func' });
        expect(await s.countGroup(`${ITER_GROUP_PREFIX}abc`)).toBe(3);
        expect(await s.get(others[0]!.id)).toBeNull();
      });

      it('keeps the newest N per func', async () => {
        const s = await store();
        const add = Array.from({ length: 3 }, () => makeRecord({ func: 'add' }));
        const mul = Array.from({ length: 2 }, () => makeRecord({ func: 'mul' }));
        await s.saveMany([...add, ...mul]);
        expect(await s.prune({ keep: 2, per: 'func' })).toBe(1);
        expect(await s.get(add[0]!.id)).toBeNull();
        expect((await s.list()).total).toBe(4);
      });
    });

    describe('optional features', () => {
      itWith(
        'ttl',
        'records saved with ttlSeconds expire (Django Q cached)',
        async () => {
          const s = await store();
          const cached = makeRecord({ group: 'cached' });
          const kept = makeRecord({ group: 'cached' });
          await s.saveMany([cached], { ttlSeconds: 1 });
          await s.saveMany([kept]);
          expect((await s.get(cached.id))?.id).toBe(cached.id);
          expect(await s.countGroup('cached')).toBe(2);
          await waitFor(async () => (await s.get(cached.id)) === null, { timeoutMs: 6000, message: 'expired' });
          expect(await s.get(cached.name)).toBeNull();
          expect(await s.countGroup('cached')).toBe(1);
          expect(ids((await s.list()).records)).toEqual([kept.id]);
        },
        15_000,
      );

      itWith(
        'stats',
        'stats: set, read, delete and expire by TTL',
        async () => {
          const s = await store();
          const id = uniqueName('cluster');
          const mine = () => s.getStats().then((all) => all.filter((stat) => stat.clusterId === id));
          await s.setStat(`cluster:${id}`, makeStat(id, { processed: 7 }), 30);
          expect((await mine()).map((stat) => stat.processed)).toEqual([7]);
          await s.deleteStat(`cluster:${id}`);
          expect(await mine()).toEqual([]);
          await s.setStat(`cluster:${id}`, makeStat(id), 1);
          expect(await mine()).toHaveLength(1);
          await waitFor(async () => (await mine()).length === 0, { timeoutMs: 5000, message: 'stat expired' });
        },
        15_000,
      );
    });

    describe('job control (ControlStore)', () => {
      const key = (ns = 'ctl') => `${ns}:${uniqueName('k')}`;

      itWith('control', 'claimValue sets an absent key once and returns the holder to later claims', async () => {
        const s = await store();
        const k = key('dedup');
        expect(await s.claimValue(k, 'task-a', null)).toBeNull();
        expect(await s.claimValue(k, 'task-b', null)).toBe('task-a');
        expect(await s.claimValue(k, 'task-a', null)).toBe('task-a');
        expect(await s.getValues([k])).toEqual(new Map([[k, 'task-a']]));
        expect(await s.deleteValue(k)).toBe(true);
        expect(await s.claimValue(k, 'task-b', 60_000)).toBeNull();
        expect(await s.getValues([k])).toEqual(new Map([[k, 'task-b']]));
      });

      itWith('control', 'claimValue is atomic: of 20 concurrent claims exactly one wins', async () => {
        const s = await store();
        const k = key('dedup');
        const values = Array.from({ length: 20 }, (_, i) => `claimant-${i}`);
        const answers = await Promise.all(values.map((v) => s.claimValue(k, v, null)));
        const winners = values.filter((_, i) => answers[i] === null);
        expect(winners).toHaveLength(1);
        expect(new Set(answers.filter((a) => a !== null))).toEqual(new Set([winners[0]]));
        expect((await s.getValues([k])).get(k)).toBe(winners[0]);
      });

      itWith(
        'control',
        'an expired value is gone for every call: claim, get and list',
        async () => {
          const s = await store();
          const k = key();
          expect(await s.claimValue(k, 'short', 300)).toBeNull();
          expect((await s.listValues('ctl:')).get(k)).toBe('short');
          await waitFor(async () => (await s.getValues([k])).size === 0, { timeoutMs: 5000, message: 'value expired' });
          expect((await s.listValues('ctl:')).has(k)).toBe(false);
          expect(await s.claimValue(k, 'next', null)).toBeNull();
          expect((await s.getValues([k])).get(k)).toBe('next');
        },
        15_000,
      );

      itWith(
        'control',
        'setValue replaces a value and its expiry; getValues returns only keys that hold one',
        async () => {
          const s = await store();
          const [a, b, missing] = [key(), key(), key()];
          await s.setValue(a, 'one', 300);
          await s.setValue(a, 'two', null);
          await s.setValue(b, JSON.stringify({ progress: 0.5, note: 'ünïcode ✓' }), 60_000);
          const big = 'x'.repeat(60_000);
          await s.setValue(missing + 'big', big, null);
          const values = await s.getValues([a, b, missing, missing + 'big']);
          expect(values).toEqual(
            new Map([
              [a, 'two'],
              [b, JSON.stringify({ progress: 0.5, note: 'ünïcode ✓' })],
              [missing + 'big', big],
            ]),
          );
          // 'one' had a 300 ms expiry; 'two' replaced it with none.
          await new Promise((resolve) => setTimeout(resolve, 500));
          expect((await s.getValues([a])).get(a)).toBe('two');
        },
      );

      itWith('control', 'deleteValue with an expected value deletes only while the key holds it', async () => {
        const s = await store();
        const k = key('dedup');
        await s.setValue(k, 'holder', null);
        expect(await s.deleteValue(k, 'someone-else')).toBe(false);
        expect((await s.getValues([k])).get(k)).toBe('holder');
        expect(await s.deleteValue(k, 'holder')).toBe(true);
        expect(await s.deleteValue(k, 'holder')).toBe(false);
        expect(await s.deleteValue(k)).toBe(false);
        expect(await s.getValues([k])).toEqual(new Map());
      });

      itWith('control', 'listValues lists one namespace only, up to its limit', async () => {
        const s = await store();
        const mine = uniqueName('q');
        await s.setValue(`ctl:pause:${mine}`, '1', null);
        await s.setValue(`ctl:cancel:id:${mine}`, '2', null);
        await s.setValue(`ctlx:${mine}`, 'other namespace', null);
        await s.setValue(`dedup:${mine}`, 'other namespace', null);
        const listed = await s.listValues('ctl:');
        expect(listed.get(`ctl:pause:${mine}`)).toBe('1');
        expect(listed.get(`ctl:cancel:id:${mine}`)).toBe('2');
        for (const k of listed.keys()) expect(k.startsWith('ctl:')).toBe(true);
        expect((await s.listValues('ctl:', 1)).size).toBe(1);
        expect(await rejectionCode(s.listValues('ctl'))).toBe('TASKQ_INVALID_ARGUMENT');
      });

      itWith('control', 'addMember counts distinct members; of 20 concurrent adds exactly one sees 20', async () => {
        const s = await store();
        const k = key('fanin');
        expect(await s.addMember(k, 'm0', null)).toBe(1);
        expect(await s.addMember(k, 'm0', null)).toBe(1);
        expect(await s.addMember(k, 'm1', null)).toBe(2);
        const other = key('fanin');
        const sizes = await Promise.all(
          Array.from({ length: 20 }, (_, i) => s.addMember(other, `member-${i}`, 3_600_000)),
        );
        expect([...sizes].sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      });

      itWith(
        'control',
        'a set expires as a whole after its ttl',
        async () => {
          const s = await store();
          const k = key('fanin');
          expect(await s.addMember(k, 'a', 300)).toBe(1);
          expect(await s.addMember(k, 'b', 300)).toBe(2);
          // Not a race: the expiry has passed by then whatever the timing, and every add re-arms it, so only wait.
          await new Promise((resolve) => setTimeout(resolve, 800));
          expect(await s.addMember(k, 'c', null)).toBe(1);
        },
        15_000,
      );

      itWith(
        'control',
        'records keep their meta (progress, logs, redrivenFrom) and a later save replaces it',
        async () => {
          const s = await store();
          const meta = {
            progress: { done: 3, of: 4, stage: 'upload' },
            logs: [
              { at: 1_700_000_000_000, level: 'info' as const, message: 'started', fields: { file: 'a.csv' } },
              { at: 1_700_000_000_500, level: 'warn' as const, message: 'slow ✓' },
            ],
            droppedLogs: 2,
            redrivenFrom: taskId(),
          };
          const failure = makeFailure({ meta });
          const plain = makeRecord();
          await s.saveMany([failure, plain]);
          expect(await s.get(failure.id)).toEqual(failure);
          expect((await s.get(plain.id))?.meta).toBeUndefined();
          const retried = { ...failure, meta: { progress: 1 } };
          await s.saveMany([retried]);
          expect((await s.get(failure.id))?.meta).toEqual({ progress: 1 });
          const page = await s.search({ func: failure.func, state: 'failure' });
          expect(page.records.find((r) => r.id === failure.id)?.meta).toEqual({ progress: 1 });
        },
      );

      itWith('control', 'bad keys, values and expiries are typed errors', async () => {
        const s = await store();
        expect(await rejectionCode(s.claimValue('', 'v', null))).toBe('TASKQ_INVALID_ARGUMENT');
        expect(await rejectionCode(s.setValue(key(), 'x'.repeat(70_000), null))).toBe('TASKQ_INVALID_ARGUMENT');
        expect(await rejectionCode(s.setValue(key(), 'v', 0))).toBe('TASKQ_INVALID_ARGUMENT');
        expect(await rejectionCode(s.addMember(key(), '', null))).toBe('TASKQ_INVALID_ARGUMENT');
      });
    });

    describe('lifecycle', () => {
      it('pings', async () => {
        const s = await store();
        await expect(s.ping()).resolves.toBeUndefined();
      });

      it('close is idempotent and every later call rejects with TASKQ_STORE_CLOSED', async () => {
        const s = await store();
        await s.close();
        await s.close();
        expect(s.closed).toBe(true);
        const calls: Array<() => Promise<unknown>> = [
          () => s.saveMany([makeRecord()]),
          () => s.get(taskId()),
          () => s.getGroup('g'),
          () => s.countGroup('g'),
          () => s.deleteGroup('g'),
          () => s.list(),
          () => s.delete(taskId()),
          () => s.prune({ keep: 1 }),
          () => s.ping(),
          () => s.getStats(),
        ];
        for (const call of calls) expect(await rejectionCode(call())).toBe('TASKQ_STORE_CLOSED');
      });
    });
  });
}
