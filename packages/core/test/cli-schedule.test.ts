import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCodes } from '../src/cli/exit-codes.js';
import { TASKS, runCli, tempDir } from './fixtures/cli/harness.js';

/** Schedules and migrations need a SQL store: an SQLite file in a temporary directory. */
describe('taskq schedule and migrate (SQLite)', { timeout: 60_000 }, () => {
  let dir: ReturnType<typeof tempDir>;
  let env: Record<string, string>;
  const cli = (...args: string[]) => runCli(args, { env, cwd: dir.path });
  const json = async (...args: string[]) => {
    const result = await cli(...args, '--json');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    return JSON.parse(result.stdout);
  };

  beforeAll(() => {
    dir = tempDir();
    env = {
      TASKQ_BROKER_URL: `sqlite:${join(dir.path, 'taskq.sqlite')}`,
      TASKQ_SECRET_KEY: 'sched',
      TASKQ_TASKS: TASKS,
    };
  });
  afterAll(() => dir.remove());

  it('migrate creates the tables once, then reports the database up to date', async () => {
    const [first] = await json('migrate');
    expect(first.applied.length).toBeGreaterThan(0);
    const [second] = await json('migrate');
    expect(second).toMatchObject({ applied: [], version: first.version });
    expect((await cli('migrate')).stdout).toMatch(/up to date \(version \d+\)/);
  });

  it('add, list, pause, resume, run and remove a schedule', async () => {
    const created = await json(
      'schedule',
      'add',
      'add',
      '2',
      '40',
      '--type',
      'minutes',
      '--minutes',
      '5',
      '--schedule-name',
      'every5',
    );
    expect(created).toMatchObject({
      name: 'every5',
      func: 'add',
      args: [2, 40],
      type: 'Minutes',
      minutes: 5,
      repeats: -1,
      paused: false,
    });

    const duplicate = await cli('schedule', 'add', 'add', '--schedule-name', 'every5');
    expect(duplicate.code).toBe(ExitCodes.SCHEDULE);
    expect(duplicate.stderr).toMatch(/TASKQ_DUPLICATE_SCHEDULE/);
    const invalid = await cli('schedule', 'add', 'add', '--type', 'cron', '--cron', 'not a cron');
    expect(invalid.code).toBe(ExitCodes.SCHEDULE);
    expect(invalid.stderr).toMatch(/TASKQ_SCHEDULE_INVALID/);

    const listed = await json('schedule', 'list');
    expect(listed.total).toBe(1);
    expect(listed.schedules[0]).toMatchObject({ id: created.id, name: 'every5' });
    expect((await cli('schedule', 'list')).stdout).toMatch(/every5\s+add\s+Minutes\s+5 min/);

    expect((await cli('schedule', 'pause', 'every5')).stdout).toMatch(/Paused schedule every5/);
    expect((await json('schedule', 'list')).schedules[0].paused).toBe(true);
    expect((await cli('schedule', 'resume', 'every5')).stdout).toMatch(/Resumed schedule every5, next run/);
    expect((await json('schedule', 'list')).schedules[0].paused).toBe(false);

    const run = await cli('schedule', 'run', 'every5');
    expect(run.code).toBe(0);
    const taskId = /Enqueued task ([0-9a-f]{32})/.exec(run.stdout)?.[1];
    expect(taskId).toBeDefined();
    expect((await json('schedule', 'list')).schedules[0].lastTaskId).toBe(taskId);

    // the task the schedule created runs on a cluster
    const cluster = await cli('cluster', '--once', '--workers', '1');
    expect(cluster.code).toBe(0);
    expect((await json('info')).successes).toBe(1);
    expect((await json('info')).schedules).toBe(1);

    expect((await cli('schedule', 'remove', 'every5')).code).toBe(0);
    const missing = await cli('schedule', 'remove', 'every5');
    expect(missing.code).toBe(ExitCodes.SCHEDULE);
    expect(missing.stderr).toMatch(/No schedule with id or name "every5"/);
    expect((await json('schedule', 'list')).total).toBe(0);
  });
});
