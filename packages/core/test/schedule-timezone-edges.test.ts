import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TASKS, runCli, tempDir } from './fixtures/cli/harness.js';
import { makeClient } from './helpers.js';
import type { Taskq } from '@taskq/core';

/**
 * A wall-clock time with no offset names a time in the schedule's zone, never
 * in the host's: every case runs with a host TZ (New York) that differs from
 * both the schedule's zone and UTC, so reading it in either would show.
 */
const HOST_TZ = 'America/New_York';

describe('taskq schedule add --next-run with a host TZ that differs', { timeout: 60_000 }, () => {
  let dir: ReturnType<typeof tempDir>;
  let env: Record<string, string>;
  const addJson = async (...args: string[]) => {
    const result = await runCli(['schedule', 'add', 'add', '1', '2', ...args, '--json'], { env, cwd: dir.path });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    return JSON.parse(result.stdout) as { nextRun: string; timezone: string };
  };

  beforeAll(() => {
    dir = tempDir();
    env = {
      TZ: HOST_TZ,
      TASKQ_BROKER_URL: `sqlite:${join(dir.path, 'taskq.sqlite')}`,
      TASKQ_SECRET_KEY: 'tz',
      TASKQ_TASKS: TASKS,
    };
  });
  afterAll(() => dir.remove());

  it('reads a time without an offset in --timezone (09:00 Amsterdam in winter is 08:00Z)', async () => {
    const s = await addJson('--next-run', '2026-11-30T09:00:00', '--timezone', 'Europe/Amsterdam');
    expect(s.nextRun).toBe('2026-11-30T08:00:00.000Z');
    expect(s.timezone).toBe('Europe/Amsterdam');
    // summer time: UTC+2
    expect((await addJson('--next-run', '2026-07-01T09:00', '--timezone', 'Europe/Amsterdam')).nextRun).toBe(
      '2026-07-01T07:00:00.000Z',
    );
  });

  it('without --timezone uses the configured timezone, not the host TZ', async () => {
    const s = await runCli(['schedule', 'add', 'add', '1', '2', '--next-run', '2026-11-30T09:00:00', '--json'], {
      env: { ...env, TASKQ_TIMEZONE: 'Asia/Tokyo' },
      cwd: dir.path,
    });
    expect(s.code).toBe(0);
    expect(JSON.parse(s.stdout).nextRun).toBe('2026-11-30T00:00:00.000Z');
    // and with no timezone configured at all: UTC
    expect((await addJson('--next-run', '2026-11-30T09:00:00')).nextRun).toBe('2026-11-30T09:00:00.000Z');
  });

  it('respects an explicit offset or Z whatever the zone', async () => {
    const zulu = await addJson('--next-run', '2026-11-30T09:00:00Z', '--timezone', 'Europe/Amsterdam');
    expect(zulu.nextRun).toBe('2026-11-30T09:00:00.000Z');
    const plus = await addJson('--next-run', '2026-11-30T09:00:00+05:30', '--timezone', 'Europe/Amsterdam');
    expect(plus.nextRun).toBe('2026-11-30T03:30:00.000Z');
  });

  it('prints the instant and the wall-clock time in the zone', async () => {
    const result = await runCli(
      ['schedule', 'add', 'add', '--next-run', '2026-11-30T09:00:00', '--timezone', 'Europe/Amsterdam'],
      { env, cwd: dir.path },
    );
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/next run 2026-11-30T08:00:00\.000Z \(2026-11-30 09:00:00 Europe\/Amsterdam\)/);
  });

  it('rejects a wall-clock time that does not exist on the calendar', async () => {
    const result = await runCli(
      ['schedule', 'add', 'add', '--next-run', '2026-02-30T09:00:00', '--timezone', 'Europe/Amsterdam'],
      { env, cwd: dir.path },
    );
    expect(result.code).toBe(7);
    expect(result.stderr).toMatch(/`nextRun` must be a valid Date/);
  });
});

describe('q.schedule() nextRun with a host TZ that differs', () => {
  const savedTz = process.env['TZ'];
  let q: Taskq | null = null;
  afterEach(async () => {
    await q?.close();
    q = null;
    if (savedTz === undefined) delete process.env['TZ'];
    else process.env['TZ'] = savedTz;
  });

  it('reads "2026-11-30T09:00:00" in the schedule zone, the client zone by default, and keeps offsets', async () => {
    process.env['TZ'] = HOST_TZ;
    // Node applies a TZ change at once: proof the host zone is New York here.
    expect(new Date(2026, 10, 30, 9).toISOString()).toBe('2026-11-30T14:00:00.000Z');
    q = makeClient({ secretKey: 'tz', timezone: 'Asia/Tokyo' });
    const amsterdam = await q.schedule('add', [1, 2], { nextRun: '2026-11-30T09:00:00', timezone: 'Europe/Amsterdam' });
    expect(amsterdam.nextRun.toISOString()).toBe('2026-11-30T08:00:00.000Z');
    const tokyo = await q.schedule('add', [1, 2], { nextRun: '2026-11-30T09:00:00' });
    expect(tokyo.nextRun.toISOString()).toBe('2026-11-30T00:00:00.000Z');
    const offset = await q.schedule('add', [1, 2], {
      nextRun: '2026-11-30T09:00:00-03:00',
      timezone: 'Europe/Amsterdam',
    });
    expect(offset.nextRun.toISOString()).toBe('2026-11-30T12:00:00.000Z');
    const instant = await q.schedule('add', [1, 2], { nextRun: new Date('2026-11-30T09:00:00Z') });
    expect(instant.nextRun.toISOString()).toBe('2026-11-30T09:00:00.000Z');

    // an update reads a wall-clock time in the schedule's (new or kept) zone
    const moved = await q.schedules.update(amsterdam.id, { nextRun: '2026-12-01T10:30:00' });
    expect(moved.nextRun.toISOString()).toBe('2026-12-01T09:30:00.000Z');
    const rezoned = await q.schedules.update(amsterdam.id, { nextRun: '2026-12-01T10:30:00', timezone: 'UTC' });
    expect(rezoned.nextRun.toISOString()).toBe('2026-12-01T10:30:00.000Z');
  });
});
