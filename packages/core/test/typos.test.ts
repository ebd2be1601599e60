import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TaskRegistry, Taskq, loadConfig, type TaskqOptions } from '@taskq/core';
import { closestName, editDistance } from '../src/util/closest.js';
import { ExitCodes } from '../src/cli/exit-codes.js';
import { TASKS as CLI_TASKS, runCli, tempDir } from './fixtures/cli/harness.js';
import { TASKS, makeClient } from './helpers.js';

/** The error a call throws (sync or async), for asserting its code and message. */
async function errorOf(run: () => unknown): Promise<{ code?: string; message: string }> {
  try {
    await run();
  } catch (error) {
    return error as { code?: string; message: string };
  }
  throw new Error('expected an error');
}

describe('closestName', () => {
  it('finds the valid name a typo was meant to be, and nothing for a different word', () => {
    expect(editDistance('maxAttemps', 'maxAttempts')).toBe(1);
    expect(closestName('maxAttemps', ['maxAge', 'maxAttempts', 'retry'])).toBe('maxAttempts');
    expect(closestName('WORKERS', ['workers'])).toBe('workers');
    expect(closestName('banana', ['maxAttempts', 'retry'])).toBeUndefined();
  });
});

describe('typos fail fast, naming the closest valid name', () => {
  let q: Taskq | null = null;
  afterEach(async () => {
    await q?.close();
    q = null;
  });

  it('an unknown config option', async () => {
    const error = await errorOf(() => new Taskq({ maxAttemps: 3 } as TaskqOptions));
    expect(error.code).toBe('TASKQ_CONFIG_INVALID');
    expect(error.message).toMatch(/`maxAttemps` \(did you mean `maxAttempts`\?\)/);
  });

  it('an unknown task option at enqueue (and in a chain step)', async () => {
    q = makeClient({ secretKey: 'typos' });
    const options = { maxAttemps: 3 } as Record<string, unknown>;
    const error = await errorOf(() => q!.enqueue('add', [1, 2], options));
    expect(error.code).toBe('TASKQ_INVALID_ARGUMENT');
    expect(error.message).toMatch(/unknown option `maxAttemps` \(did you mean `maxAttempts`\?\)/);
    const chain = await errorOf(() => q!.chain([{ task: 'add', args: [1, 2], options: { hok: 'x' } as never }]));
    expect(chain.message).toMatch(/unknown option `hok` \(did you mean `hook`\?\)/);
    // every documented option is accepted
    const id = await q.enqueue('add', [1, 2], { maxAttempts: 2, taskName: 'ok', group: 'g', timeout: 5, save: true });
    expect(id).toMatch(/^[0-9a-f]{32}$/);
  });

  it('an unknown schedule option and task option', async () => {
    q = makeClient({ secretKey: 'typos' });
    const input = { nextrun: '2026-01-01T00:00:00Z' } as Record<string, unknown>;
    const error = await errorOf(() => q!.schedule('add', [1, 2], input));
    expect(error.code).toBe('TASKQ_SCHEDULE_INVALID');
    expect(error.message).toMatch(/`nextrun` \(did you mean `nextRun`\?\)/);
    const taskOptions = { maxAttemps: 2 } as Record<string, unknown>;
    const nested = await errorOf(() => q!.schedule('add', [1, 2], { taskOptions }));
    expect(nested.message).toMatch(/unknown option `maxAttemps` \(did you mean `maxAttempts`\?\)/);
  });

  it('a schedule task name or hook that no configured task module exports', async () => {
    q = makeClient({ secretKey: 'typos' });
    const func = await errorOf(() => q!.schedule('ad', [1, 2]));
    expect(func.code).toBe('TASKQ_SCHEDULE_INVALID');
    expect(func.message).toMatch(/`func` "ad" is not a task of the configured task modules \(did you mean "add"\?\)/);
    const hook = await errorOf(() => q!.schedule('add', [1, 2], { hook: 'recordHok' }));
    expect(hook.message).toMatch(/`hook` "recordHok" .* \(did you mean "recordHook"\?\)/);
    const update = await q.schedule('add', [1, 2], { name: 'typo-update' });
    const renamed = await errorOf(() => q!.schedules.update(update.id, { func: 'ech' }));
    expect(renamed.message).toMatch(/did you mean "echo"\?/);
    // without task modules the names cannot be checked: a web process may schedule any name
    const web = makeClient({ secretKey: 'typos', tasks: [] });
    try {
      expect((await web.schedule('defined_elsewhere', [])).func).toBe('defined_elsewhere');
    } finally {
      await web.close();
    }
  });

  it('an unknown task name at run time names the closest task', async () => {
    const registry = await TaskRegistry.load([TASKS]);
    expect(() => registry.get('ad')).toThrow(/No task named "ad" \(did you mean "add"\?\)/);
  });

  it('a TASKQ_* variable one typo away from a real one; unrelated TASKQ_* names are left alone', async () => {
    const env = { TASKQ_WORKER: '4', TASKQ_BROKER: 'redis://x', TASKQ_REDIS_URL: 'redis://127.0.0.1:6379' };
    const error = await errorOf(() => loadConfig({ env, cwd: tempDir().path }));
    expect(error.code).toBe('TASKQ_CONFIG_INVALID');
    expect(error.message).toMatch(/TASKQ_WORKER is not a taskq variable: did you mean TASKQ_WORKERS\?/);
    expect(error.message).toMatch(/TASKQ_BROKER is not a taskq variable: did you mean TASKQ_BROKER_URL\?/);
    expect(error.message).not.toMatch(/TASKQ_REDIS_URL/);
    const fine = await loadConfig({ env: { TASKQ_WORKERS: '3', TASKQ_DASHBOARD_USER: 'me' }, cwd: tempDir().path });
    expect(fine.config.workers).toBe(3);
  });
});

describe('typos through the CLI', { timeout: 60_000 }, () => {
  let dir: ReturnType<typeof tempDir>;
  beforeAll(() => (dir = tempDir()));
  afterAll(() => dir.remove());

  it('TASKQ_WORKER exits with the config code and names TASKQ_WORKERS', async () => {
    const result = await runCli(['info', '--config'], { env: { TASKQ_WORKER: '4' }, cwd: dir.path });
    expect(result.code).toBe(ExitCodes.CONFIG);
    expect(result.stderr).toMatch(/did you mean TASKQ_WORKERS\?/);
  });

  it('schedule add with a misspelt task name exits with the schedule code and names the task', async () => {
    const env = {
      TASKQ_BROKER_URL: `sqlite:${dir.path}/typos.sqlite`,
      TASKQ_SECRET_KEY: 'typos',
      TASKQ_TASKS: CLI_TASKS,
    };
    const result = await runCli(['schedule', 'add', 'ad', '1', '2'], { env, cwd: dir.path });
    expect(result.code).toBe(ExitCodes.SCHEDULE);
    expect(result.stderr).toMatch(/`func` "ad" .*did you mean "add"\?/);
  });
});

describe('typed schedule arguments', { timeout: 120_000 }, () => {
  it('q.schedule(taskRef, args) checks args against the task like enqueue (tsc on a fixture)', async () => {
    const project = fileURLToPath(new URL('./fixtures/typecheck/tsconfig.json', import.meta.url));
    const tsc = fileURLToPath(new URL('../../../node_modules/typescript/bin/tsc', import.meta.url));
    // Each wrong call is marked @ts-expect-error: an unchecked call would make tsc fail with "Unused directive".
    const result = await promisify(execFile)(process.execPath, [tsc, '-p', project]).then(
      () => ({ ok: true, output: '' }),
      (error: { stdout?: string }) => ({ ok: false, output: error.stdout ?? String(error) }),
    );
    expect(result.output).toBe('');
    expect(result.ok).toBe(true);
  });
});
