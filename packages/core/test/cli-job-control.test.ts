import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Taskq } from '@taskq/core';
import { renderMonitor } from '../src/cli/commands/monitor.js';
import { renderInfo } from '../src/cli/commands/info.js';
import { stripAnsi } from '../src/cli/format.js';
import type { InfoSnapshot, MonitorSnapshot } from '../src/cli/snapshot.js';
import type { ClusterStat } from '../src/stats/cluster-stat.js';
import { CliProcess, deleteRedisPrefix, eventually, runCli, tempDir, uniqueRedis } from './fixtures/cli/harness.js';

/** The core test tasks: `fail` (code E_TEST), `add`, and `reports` (progress and log lines). */
const TASKS = fileURLToPath(new URL('./fixtures/tasks.mjs', import.meta.url));

interface DeadJson {
  id: string;
  name: string;
  func: string;
  args: unknown[];
  error: { code?: string; message: string } | null;
}

/** Job control from the command line, against a Redis broker and store shared with the client API and a cluster. */
describe('taskq tasks cancel, queue, dead and the live progress of tasks show', { timeout: 180_000 }, () => {
  const redis = uniqueRedis();
  const env = { TASKQ_BROKER_URL: redis.url, TASKQ_SECRET_KEY: 'cli-job-control-secret', TASKQ_TASKS: TASKS };
  const cli = async (...args: string[]) => {
    const result = await runCli(args, { env });
    return { ...result, stdout: stripAnsi(result.stdout), stderr: stripAnsi(result.stderr) };
  };
  const json = async <T>(...args: string[]): Promise<T> => {
    const result = await cli(...args, '--json');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    return JSON.parse(result.stdout) as T;
  };
  let q: Taskq;
  const cancelled = { id: '', member: '' };

  beforeAll(() => {
    q = new Taskq({ broker: redis.url, secretKey: env.TASKQ_SECRET_KEY, logLevel: 'silent' });
  });

  afterAll(async () => {
    await q?.close();
    await deleteRedisPrefix(redis.prefix);
  });

  it('cancels waiting tasks by id and by group; a cluster run then saves them cancelled without running them', async () => {
    cancelled.id = await q.enqueue('add', [1, 2], { taskName: 'to-cancel' });
    cancelled.member = await q.enqueue('add', [3, 4], { group: 'batch-7' });
    const kept = await q.enqueue('add', [5, 6]);

    const byId = await cli('tasks', 'cancel', cancelled.id);
    expect(byId.code).toBe(0);
    expect(byId.stdout).toBe(
      `cancel requested for task ${cancelled.id}: waiting, it will not run; running, it is aborted within a guard cycle\n`,
    );
    const byGroup = await cli('tasks', 'cancel', '--group', 'batch-7');
    expect(byGroup.code).toBe(0);
    expect(byGroup.stdout).toBe('cancel requested for every task of group batch-7 enqueued so far\n');
    expect(await json('tasks', 'cancel', '--group', 'batch-7')).toEqual({ cancelled: true, group: 'batch-7' });

    const run = await runCli(['cluster', '--once', '--workers', '1'], { env, timeoutMs: 60_000 });
    expect(run.code).toBe(0);
    for (const id of [cancelled.id, cancelled.member]) {
      const record = await q.fetch(id, { wait: 10_000 });
      expect(record).toMatchObject({ success: false, error: { code: 'TASKQ_TASK_CANCELLED' } });
    }
    expect(await q.fetch(kept, { wait: 10_000 })).toMatchObject({ success: true, result: 11 });

    const show = await cli('tasks', 'show', cancelled.id);
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(/state {5}failed/);
    expect(show.stdout).toContain('[TASKQ_TASK_CANCELLED]');

    // Cancelling a task that already finished is refused like an unknown id in `tasks retry`/`delete`: exit 2.
    const again = await cli('tasks', 'cancel', cancelled.id);
    expect(again.code).toBe(2);
    expect(again.stdout).toBe('');
    expect(again.stderr).toContain(`Task ${cancelled.id} already finished; nothing to cancel`);
    const done = await cli('tasks', 'cancel', kept);
    expect(done.code).toBe(2);
    expect(done.stderr).toContain('already finished');
  });

  it('cancel needs exactly one of an id or name and --group', async () => {
    for (const args of [
      ['tasks', 'cancel'],
      ['tasks', 'cancel', 'some-task', '--group', 'g'],
    ]) {
      const result = await cli(...args);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/give a task id or name, or --group <group> \(one of them\)/);
    }
    // A name cannot be checked for "finished" (a later task may take it): the cancel is requested.
    expect(await json('tasks', 'cancel', 'nightly-import')).toEqual({ cancelled: true, name: 'nightly-import' });
  });

  describe('with a cluster running', () => {
    let cluster: CliProcess;

    beforeAll(async () => {
      cluster = new CliProcess(['cluster', '--workers', '1'], { env, timeoutMs: 170_000 });
      await cluster.waitFor(/cluster default started/);
    });

    afterAll(async () => {
      cluster?.kill('SIGTERM');
      expect((await cluster?.exited)?.code).toBe(0);
    });

    it('pause stops the cluster claiming (monitor and info show it paused), list shows it, resume runs what waited', async () => {
      expect((await cli('queue', 'list')).stdout).toBe('No queue is paused.\n');
      const pause = await cli('queue', 'pause');
      expect(pause.code).toBe(0);
      expect(pause.stdout).toBe('queue default paused (resume it: taskq queue resume default)\n');
      const other = await json('queue', 'pause', 'reports');
      expect(other).toEqual({ queue: 'reports', paused: true });

      const list = await cli('queue', 'list');
      expect(list.code).toBe(0);
      expect(list.stdout).toMatch(/Queue\s+State\s+Since \(UTC\)/);
      expect(list.stdout).toMatch(/^default\s+paused\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/m);
      expect(list.stdout).toMatch(/^reports\s+paused\s/m);
      const listed = await json<{ queue: string; since: string }[]>('queue', 'list');
      expect(listed.map((p) => p.queue)).toEqual(['default', 'reports']);
      for (const p of listed) expect(Date.now() - Date.parse(p.since)).toBeLessThan(60_000);

      // Within a guard cycle the cluster publishes that it is paused.
      await eventually(async () => {
        const snapshot = await json<{ clusters: ClusterStat[] }>('monitor', '--once');
        return snapshot.clusters[0]?.paused === true ? true : undefined;
      });
      expect((await cli('monitor', '--once')).stdout).toMatch(/default\s+default\s+\d+\s+(Idle|Working) \(paused\)/);
      expect((await cli('info')).stdout).toMatch(/Clusters\s+1 \(1 paused\)/);
      expect(await json('info')).toMatchObject({ clusters: 1, paused: 1 });

      // Paused, it claims nothing: the task waits on the queue.
      const id = await q.enqueue('add', [2, 3]);
      const broker = (await q.runtime()).broker;
      // Watched for four guard cycles (0.5 s each): still waiting, never started.
      for (const until = Date.now() + 2_000; Date.now() < until;) {
        expect(await broker.queueSize()).toBe(1);
        expect(await q.fetch(id)).toBeNull();
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(await json('info')).toMatchObject({ queued: 1 });

      const resume = await cli('queue', 'resume');
      expect(resume.code).toBe(0);
      expect(resume.stdout).toBe('queue default resumed\n');
      expect(await q.fetch(id, { wait: 30_000 })).toMatchObject({ success: true, result: 5 });
      expect(await json('queue', 'resume', 'reports')).toEqual({ queue: 'reports', resumed: true });
      // Resuming a queue that is not paused changes nothing and says so.
      const notPaused = await cli('queue', 'resume', 'reports');
      expect(notPaused.code).toBe(0);
      expect(notPaused.stdout).toBe('queue reports was not paused\n');
      expect((await cli('queue', 'list')).stdout).toBe('No queue is paused.\n');
      await eventually(async () => {
        const snapshot = await json<{ clusters: ClusterStat[] }>('monitor', '--once');
        return snapshot.clusters[0]?.paused === false ? true : undefined;
      });
      expect((await cli('info')).stdout).toMatch(/Clusters\s+1\s/);
    });

    it('tasks show: a running task with its live progress, then the record with progress and log lines', async () => {
      const id = await q.enqueue('reports', [3, 4_000], { taskName: 'with-progress' });
      const running = await eventually(async () => {
        const result = await cli('tasks', 'show', id);
        return result.code === 0 && result.stdout.includes('progress  0.5') ? result.stdout : undefined;
      });
      expect(running).toMatch(/state {5}running/);
      expect(running).toContain('logs      3 lines');
      expect(running).toMatch(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO {2}line 0 \{"i":0\}/);
      const live = await json<{ id: string; state: string; meta: { progress: unknown } }>('tasks', 'show', id);
      expect(live).toMatchObject({ id, state: 'running', meta: { progress: 0.5 } });

      const record = await q.fetch(id, { wait: 30_000 });
      expect(record).toMatchObject({ success: true, result: 'done' });
      const done = await cli('tasks', 'show', id);
      expect(done.code).toBe(0);
      expect(done.stdout).toMatch(/state {5}success/);
      // The value the record holds (what `q.progress` returns once the task finished).
      expect(record?.meta?.progress).toBeDefined();
      expect(done.stdout).toContain(`progress  ${JSON.stringify(record?.meta?.progress)}`);
      expect(done.stdout).toContain('logs      3 lines');
      for (const i of [0, 1, 2]) expect(done.stdout).toMatch(new RegExp(`Z INFO  line ${i} \\{"i":${i}\\}$`, 'm'));
      const saved = await json<{ meta: { progress: unknown; logs: { message: string }[] } }>('tasks', 'show', id);
      expect(saved.meta.progress).toEqual(record?.meta?.progress);
      expect(saved.meta.logs.map((l) => l.message)).toEqual(['line 0', 'line 1', 'line 2']);

      // No record and no live progress: still "no finished task", exit 2.
      const unknown = await cli('tasks', 'show', 'f'.repeat(32));
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toMatch(/No finished task with id "f{32}"/);
    });

    it('dead list filters by func, code and time; redrive by id links the new task; --all with --max', async () => {
      const first = await q.enqueue('fail', ['order 1'], { maxAttempts: 1, taskName: 'dead-1' });
      const second = await q.enqueue('fail', ['order 2'], { maxAttempts: 1, taskName: 'dead-2' });
      for (const id of [first, second]) await q.fetch(id, { wait: 30_000 });

      const all = await json<{ deadLetters: DeadJson[]; nextCursor: string | null }>('dead', 'list');
      // Newest first; the cancelled tasks are failures but not dead letters.
      expect(all.deadLetters.map((d) => d.id)).toEqual([second, first]);
      expect(all.deadLetters[0]).toMatchObject({ name: 'dead-2', func: 'fail', args: ['order 2'] });
      expect(all.deadLetters[0]?.error).toMatchObject({ code: 'E_TEST', message: 'order 2' });
      const count = async (...filters: string[]) =>
        (await json<{ deadLetters: DeadJson[] }>('dead', 'list', ...filters)).deadLetters.length;
      expect(await count('--func', 'fail')).toBe(2);
      expect(await count('--func', 'add')).toBe(0);
      expect(await count('--code', 'E_TEST')).toBe(2);
      expect(await count('--code', 'TASKQ_TASK_TIMEOUT')).toBe(0);
      expect(await count('--since', '1h')).toBe(2);
      expect(await count('--since', '2099-01-01T00:00:00Z')).toBe(0);
      expect(await count('--until', '2000-01-01T00:00:00Z')).toBe(0);
      expect(await count('--limit', '1')).toBe(1);

      const table = await cli('dead', 'list', '--code', 'E_TEST');
      expect(table.code).toBe(0);
      expect(table.stdout).toMatch(/Id\s+Name\s+Func\s+Attempts\s+Stopped \(UTC\)\s+Error/);
      expect(table.stdout).toMatch(new RegExp(`${first}\\s+dead-1\\s+fail\\s+1\\s.*E_TEST: order 1`));
      expect((await cli('dead', 'list', '--func', 'add')).stdout).toBe('No dead letters match.\n');

      const redriven = await cli('dead', 'redrive', first);
      expect(redriven.code).toBe(0);
      const pair = new RegExp(`^redriven ${first} → ([0-9a-f]{32})$`, 'm').exec(redriven.stdout);
      expect(pair).not.toBeNull();
      expect(redriven.stdout).toMatch(/^1 dead letter redriven$/m);
      const newId = pair![1]!;
      const rerun = await q.fetch(newId, { wait: 30_000 });
      expect(rerun).toMatchObject({ func: 'fail', args: ['order 1'], meta: { redrivenFrom: first } });
      expect((await cli('tasks', 'show', newId)).stdout).toContain(`redriven from ${first}`);

      // A dead letter is redriven once.
      const twice = await cli('dead', 'redrive', first);
      expect(twice.code).toBe(0);
      expect(twice.stdout).toContain(`skipped ${first}: not a dead letter`);
      expect(twice.stdout).toMatch(/^0 dead letters redriven$/m);

      // The rerun failed for good too: with `second` that makes two; --max 1 redrives the newest.
      const capped = await json<{ from: string; id: string }[]>(
        'dead',
        'redrive',
        '--all',
        '--func',
        'fail',
        '--max',
        '1',
      );
      expect(capped).toEqual([{ from: newId, id: expect.stringMatching(/^[0-9a-f]{32}$/) }]);
      // Each rerun of `fail` becomes a dead letter again once it failed: wait for that one, then redrive the rest.
      await q.fetch(capped[0]!.id, { wait: 30_000 });
      const rest = await cli('dead', 'redrive', '--all', '--code', 'E_TEST');
      expect(rest.code).toBe(0);
      expect(rest.stdout).toMatch(new RegExp(`^redriven ${capped[0]!.id} → [0-9a-f]{32}$`, 'm'));
      expect(rest.stdout).toMatch(new RegExp(`^redriven ${second} → [0-9a-f]{32}$`, 'm'));
      expect(rest.stdout).toMatch(/^2 dead letters redriven$/m);
    });

    it('refuses bad redrive and list arguments with exit code 2', async () => {
      const cases: [string[], RegExp][] = [
        [['dead', 'redrive'], /give dead letter ids, or --all/],
        [['dead', 'redrive', 'a'.repeat(32), '--all'], /give ids, or --all \(with filters and --max\), not both/],
        [['dead', 'redrive', 'b'.repeat(32)], /No finished task with id "b{32}"/],
        [['dead', 'list', '--since', 'yesterday'], /--since "yesterday" is neither an age/],
        [['dead', 'list', '--limit', '0'], /`limit` must be an integer from 1 to 1000/],
        [['dead', 'list', '--limit', 'many'], /--limit "many" is not a whole number/],
      ];
      for (const [args, message] of cases) {
        const result = await cli(...args);
        expect(result.code, args.join(' ')).toBe(args.includes('many') ? 3 : 2);
        expect(result.stderr, args.join(' ')).toMatch(message);
      }
    });
  });

  it('suggests the closest subcommand or option for a typo', async () => {
    const cases: [string[], string][] = [
      [['tasks', 'cancle', 'x'], 'cancel'],
      [['queue', 'pasue'], 'pause'],
      [['queue', 'lst'], 'list'],
      [['dead', 'redrvie'], 'redrive'],
      [['dead', 'redrive', '--al'], '--all'],
      [['dead', 'list', '--fucn', 'x'], '--func'],
      [['tasks', 'cancel', '--gruop', 'g'], '--group'],
    ];
    for (const [args, suggestion] of cases) {
      const result = await cli(...args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr, args.join(' ')).toContain(`(Did you mean ${suggestion}?)`);
    }
  });
});

/** The same verbs on a SQL store (SQLite file), each CLI call its own process. */
describe('queue and dead letters on SQLite', { timeout: 60_000 }, () => {
  it('pauses, lists and resumes a queue; lists and redrives a dead letter', async () => {
    const dir = tempDir();
    const url = `sqlite:${dir.path}/taskq.sqlite`;
    const env = { TASKQ_BROKER_URL: url, TASKQ_SECRET_KEY: 'cli-job-control-sqlite', TASKQ_TASKS: TASKS };
    const cli = async (...args: string[]) => {
      const result = await runCli(args, { env });
      return { ...result, stdout: stripAnsi(result.stdout) };
    };
    const q = new Taskq({
      broker: url,
      secretKey: env.TASKQ_SECRET_KEY,
      tasks: [TASKS],
      logLevel: 'silent',
      workers: 1,
    });
    try {
      expect((await cli('queue', 'pause', 'billing')).stdout).toBe(
        'queue billing paused (resume it: taskq queue resume billing)\n',
      );
      expect((await cli('queue', 'list')).stdout).toMatch(/^billing\s+paused\s+\d{4}-/m);
      expect(await q.pausedQueues()).toMatchObject([{ queue: 'billing' }]);
      expect((await cli('queue', 'resume', 'billing')).stdout).toBe('queue billing resumed\n');
      expect(await q.pausedQueues()).toEqual([]);

      const cluster = await q.cluster({ handleSignals: false }).start();
      const id = await q.enqueue('fail', ['sql'], { maxAttempts: 1 });
      await eventually(async () => ((await q.fetch(id)) ? true : undefined));
      await cluster.stop();
      const list = JSON.parse((await cli('dead', 'list', '--json')).stdout) as { deadLetters: DeadJson[] };
      expect(list.deadLetters).toMatchObject([{ id, func: 'fail', args: ['sql'], error: { code: 'E_TEST' } }]);
      const redrive = await cli('dead', 'redrive', id);
      expect(redrive.code).toBe(0);
      expect(redrive.stdout).toMatch(new RegExp(`^redriven ${id} → [0-9a-f]{32}\\n1 dead letter redriven\\n$`));
      expect(JSON.parse((await cli('dead', 'list', '--json')).stdout)).toEqual({ deadLetters: [], nextCursor: null });
    } finally {
      await q.close();
      dir.remove();
    }
  });
});

describe('monitor and info mark a paused cluster', () => {
  const stat: ClusterStat = {
    clusterId: 'f'.repeat(24) + '1234abcd',
    name: 'billing',
    queue: 'billing',
    host: 'web-1',
    pid: 42,
    status: 'Idle',
    workers: 2,
    concurrency: 1,
    taskQueueSize: 0,
    resultQueueSize: 0,
    running: 0,
    reincarnations: 0,
    processed: 0,
    failed: 0,
    rejected: 0,
    startedAt: 1_000,
    updatedAt: 2_000,
    paused: true,
    memory: { rssBytes: 1, heapUsedBytes: 1, threads: [] },
  };
  const snapshot: MonitorSnapshot = {
    at: '',
    broker: { server: 'redis 7.0.15', queue: 'billing' },
    queue: 'billing',
    queued: 4,
    locked: 0,
    successes: 0,
    failures: 0,
    retrying: 0,
    clusters: [stat],
    queues: { billing: { queued: 4, locked: 0 } },
  };

  it('monitor: the State column says (paused), before a broker outage marker', () => {
    expect(stripAnsi(renderMonitor(snapshot, false, 61_000))).toMatch(/billing\s+billing\s+4\s+Idle \(paused\)\s+2\s/);
    const both = { ...snapshot, clusters: [{ ...stat, status: 'Working' as const, brokerUnreachableSince: 49_000 }] };
    expect(stripAnsi(renderMonitor(both, false, 61_000))).toContain('Working (paused) (broker unreachable 0:00:12)');
    const resumed = { ...snapshot, clusters: [{ ...stat, paused: false }] };
    expect(stripAnsi(renderMonitor(resumed, false, 61_000))).not.toContain('paused');
  });

  it('info: Clusters counts the paused ones', () => {
    const info: InfoSnapshot = {
      version: '0.0.0',
      broker: snapshot.broker,
      queue: 'billing',
      clusters: 3,
      paused: 2,
      workers: 6,
      restarts: 0,
      queued: 0,
      locked: 0,
      successes: 0,
      failures: 0,
      retrying: 0,
      schedules: null,
      tasksPerUnit: { rate: 0, unit: 'day', sample: 0, windowSeconds: 86_400 },
      averageTime: null,
    };
    expect(stripAnsi(renderInfo(info))).toMatch(/Clusters\s+3 \(2 paused\)/);
    expect(stripAnsi(renderInfo({ ...info, paused: 0 }))).not.toContain('paused');
  });
});
