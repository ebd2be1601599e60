import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Taskq } from '@taskq/core';
import { CliProcess, TASKS, deleteRedisPrefix, eventually, runCli, uniqueRedis } from './fixtures/cli/harness.js';

interface TaskJson {
  id: string;
  name: string;
  func: string;
  state: 'success' | 'failed' | 'retrying';
  args: unknown;
  result: unknown;
  attempts: number;
  maxAttempts: number | null;
  error: { code?: string; message: string } | null;
  group: string | null;
}

/** A real cluster process on Redis (broker and store), failures made by the client API, operated from the CLI. */
describe('taskq tasks: find, read, retry and delete failures', { timeout: 120_000 }, () => {
  const redis = uniqueRedis();
  // retry = 600 s: the failure left for redelivery stays "awaiting retry" for the whole test.
  const env = {
    TASKQ_BROKER_URL: redis.url,
    TASKQ_SECRET_KEY: 'cli-tasks-secret',
    TASKQ_TASKS: TASKS,
    TASKQ_RETRY: '600',
  };
  let cluster: CliProcess;
  let q: Taskq;
  const ids = { final: '', retrying: '', ok: '' };
  const cli = (...args: string[]) => runCli(args, { env });
  const json = async <T>(...args: string[]): Promise<T> => {
    const result = await cli(...args, '--json');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    return JSON.parse(result.stdout) as T;
  };

  beforeAll(async () => {
    cluster = new CliProcess(['cluster', '--workers', '1'], { env, timeoutMs: 150_000 });
    await cluster.waitFor(/cluster default started/);
    q = new Taskq({ broker: redis.url, secretKey: env.TASKQ_SECRET_KEY, logLevel: 'silent' });
    ids.final = await q.enqueue('fail', ['no such order 42'], {
      maxAttempts: 1,
      taskName: 'import-orders',
      group: 'imports',
    });
    // The default policy (3 attempts, each redelivered after `retry`): this one waits for its second attempt.
    ids.retrying = await q.enqueue('fail', ['flaky'], { taskName: 'flaky-sync' });
    ids.ok = await q.enqueue('add', [20, 22], { taskName: 'sum' });
    for (const id of Object.values(ids)) await q.fetch(id, { wait: 30_000 });
  });

  afterAll(async () => {
    await q?.close();
    cluster?.kill('SIGTERM');
    await cluster?.exited;
    await deleteRedisPrefix(redis.prefix);
  });

  it('logs each failure as one warn line at the default level, with its retry state', async () => {
    await cluster.waitFor(new RegExp(`WARN task failed; no more attempts code=E_CLI_TEST id=${ids.final}`));
    expect(cluster.stderr).toMatch(/name=import-orders func=fail attempt=1 maxAttempts=1 nextRetry=null/);
    expect(cluster.stderr).toMatch(
      new RegExp(
        `WARN task failed; will retry code=E_CLI_TEST id=${ids.retrying} name=flaky-sync func=fail attempt=1 maxAttempts=3 nextRetry=\\d{4}-`,
      ),
    );
  });

  it('info and monitor count the failure that awaits its retry', async () => {
    expect(await json('info')).toMatchObject({ successes: 1, failures: 2, retrying: 1 });
    const snapshot = await json<{ retrying: number; queues: Record<string, unknown> }>('monitor', '--once');
    expect(snapshot.retrying).toBe(1);
    expect(snapshot.queues).toHaveProperty('default');
    expect((await cli('info')).stdout).toMatch(/Failures\s+2 \(1 awaiting retry\)/);
  });

  it('lists with filters: --failed, --success, --func, --group, --since', async () => {
    const failed = await json<{ tasks: TaskJson[]; nextCursor: string | null }>('tasks', 'list', '--failed');
    expect(failed.tasks.map((t) => [t.name, t.state]).sort()).toEqual([
      ['flaky-sync', 'retrying'],
      ['import-orders', 'failed'],
    ]);
    expect(failed.nextCursor).toBeNull();
    const ok = await json<{ tasks: TaskJson[] }>('tasks', 'list', '--success', '--func', 'add');
    expect(ok.tasks).toMatchObject([{ id: ids.ok, result: 42, args: [20, 22], state: 'success' }]);
    expect((await json<{ tasks: TaskJson[] }>('tasks', 'list', '--group', 'imports')).tasks).toHaveLength(1);
    expect((await json<{ tasks: TaskJson[] }>('tasks', 'list', '--since', '1h')).tasks).toHaveLength(3);
    expect((await json<{ tasks: TaskJson[] }>('tasks', 'list', '--since', '2099-01-01T00:00:00Z')).tasks).toHaveLength(
      0,
    );
    const page = await json<{ tasks: TaskJson[]; nextCursor: string }>('tasks', 'list', '--limit', '2');
    expect(page.tasks).toHaveLength(2);
    const rest = await json<{ tasks: TaskJson[] }>('tasks', 'list', '--limit', '2', '--cursor', page.nextCursor);
    expect(rest.tasks).toHaveLength(1);
    const table = (await cli('tasks', 'list', '--failed')).stdout;
    expect(table).toMatch(/Id\s+Name\s+Func\s+State\s+Attempts/);
    expect(table).toMatch(
      new RegExp(`${ids.final}\\s+import-orders\\s+fail\\s+failed\\s+1/1\\s.*E_CLI_TEST: no such order 42`),
    );
  });

  it('shows one task by id or by name', async () => {
    const byName = await json<TaskJson>('tasks', 'show', 'import-orders');
    expect(byName).toMatchObject({
      id: ids.final,
      func: 'fail',
      args: ['no such order 42'],
      state: 'failed',
      attempts: 1,
      maxAttempts: 1,
      error: { code: 'E_CLI_TEST', message: 'no such order 42' },
    });
    const text = (await cli('tasks', 'show', ids.final)).stdout;
    expect(text).toContain('attempts  1 of 1');
    expect(text).toContain('[E_CLI_TEST] Error: no such order 42');
    expect(text).toContain(`taskq tasks retry ${ids.final}`);
    const missing = await cli('tasks', 'show', 'no-such-task');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/No finished task with id or name "no-such-task"/);
  });

  it('retry --failed re-enqueues final failures with the same func, args, name and group; not those awaiting a retry', async () => {
    const retried = await json<{ id: string; name: string; newId: string }[]>('tasks', 'retry', '--failed');
    expect(retried).toEqual([
      { id: ids.final, name: 'import-orders', func: 'fail', newId: expect.stringMatching(/^[0-9a-f]{32}$/) },
    ]);
    const again = await q.fetch(retried[0]!.newId, { wait: 30_000 });
    expect(again).toMatchObject({ name: 'import-orders', func: 'fail', group: 'imports', success: false });
    expect(again?.args).toEqual(['no such order 42']);
    // The old failure is gone (Django Q's resubmit); the name now finds the new run.
    expect((await cli('tasks', 'show', ids.final)).code).toBe(2);
    const rerun = await json<TaskJson>('tasks', 'show', 'import-orders');
    // Same name, and the same retry budget (maxAttempts 1): the new failure is final, not awaiting a retry.
    expect(rerun).toMatchObject({ id: retried[0]!.newId, maxAttempts: 1, state: 'failed' });
    const success = await cli('tasks', 'retry', ids.ok);
    expect(success.code).toBe(2);
    expect(success.stderr).toMatch(/succeeded; only failures are retried/);
    expect((await cli('tasks', 'retry')).stderr).toMatch(/give task ids, or --failed/);
  });

  it('deletes by id, and every match of --failed with filters', async () => {
    expect(await json('tasks', 'delete', ids.ok)).toEqual({ deleted: [ids.ok] });
    const deleted = await json<{ deleted: string[] }>('tasks', 'delete', '--failed', '--func', 'fail');
    expect(deleted.deleted).toHaveLength(2);
    expect((await json<{ tasks: TaskJson[] }>('tasks', 'list')).tasks).toEqual([]);
    const bare = await cli('tasks', 'delete');
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(/give task ids, or --failed or --success/);
  });
});

/** The same commands on a SQL store (SQLite file): every store lists through ResultStore.search. */
describe('taskq tasks on SQLite', { timeout: 60_000 }, () => {
  it('lists, shows and deletes', async () => {
    const { tempDir } = await import('./fixtures/cli/harness.js');
    const dir = tempDir();
    const url = `sqlite:${dir.path}/taskq.sqlite`;
    const env = { TASKQ_BROKER_URL: url, TASKQ_SECRET_KEY: 'cli-tasks-sqlite', TASKQ_TASKS: TASKS };
    const q = new Taskq({
      broker: url,
      secretKey: env.TASKQ_SECRET_KEY,
      tasks: [TASKS],
      logLevel: 'silent',
      workers: 1,
    });
    try {
      const cluster = await q.cluster({ handleSignals: false }).start();
      const id = await q.enqueue('fail', ['sql'], { maxAttempts: 1 });
      await eventually(async () => ((await q.fetch(id)) ? true : undefined));
      await cluster.stop();
      const list = JSON.parse((await runCli(['tasks', 'list', '--failed', '--json'], { env })).stdout);
      expect(list.tasks).toMatchObject([{ id, state: 'failed', args: ['sql'] }]);
      expect(JSON.parse((await runCli(['tasks', 'show', id, '--json'], { env })).stdout)).toMatchObject({ id });
      expect(JSON.parse((await runCli(['tasks', 'delete', id, '--json'], { env })).stdout)).toEqual({ deleted: [id] });
    } finally {
      await q.close();
      dir.remove();
    }
  });
});
