import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { isTaskqError } from '../src/errors.js';
import { runCli, tempDir } from './fixtures/cli/harness.js';

/** `taskq info --config --json`: the resolved config as the binary sees it. */
async function resolvedBy(args: string[], cwd: string, env: Record<string, string> = {}) {
  const result = await runCli(['info', '--config', '--json', ...args], { cwd, env });
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

describe('config loading (taskq binary)', { timeout: 60_000 }, () => {
  let dir: ReturnType<typeof tempDir>;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => dir.remove());

  it('layers the config file < TASKQ_* environment < flags', async () => {
    writeFileSync(
      join(dir.path, 'taskq.config.json'),
      JSON.stringify({ name: 'fromfile', workers: 2, timeout: 10, tasks: ['./tasks/jobs.mjs'] }),
    );
    const fileOnly = await resolvedBy([], dir.path);
    expect(fileOnly).toMatchObject({
      name: 'fromfile',
      workers: 2,
      timeout: 10,
      configFile: join(dir.path, 'taskq.config.json'),
    });
    // relative task paths resolve against the config file's directory
    expect(fileOnly['tasks']).toEqual([join(dir.path, 'tasks/jobs.mjs')]);

    const env = { TASKQ_NAME: 'fromenv', TASKQ_WORKERS: '3', TASKQ_TIMEOUT: 'none', TASKQ_ACK_FAILURES: 'yes' };
    const withEnv = await resolvedBy([], dir.path, env);
    expect(withEnv).toMatchObject({ name: 'fromenv', workers: 3, ackFailures: true });
    expect(withEnv['timeout']).toBeNull(); // "none" means no timeout
    const withFlags = await resolvedBy(['--name', 'fromflag', '--log-level', 'warn'], dir.path, env);
    expect(withFlags).toMatchObject({ name: 'fromflag', workers: 3, logLevel: 'warn', cluster: 'fromflag' });
  });

  it('finds taskq.config.ts from a subdirectory and loads it without a build step', async () => {
    writeFileSync(
      join(dir.path, 'taskq.config.ts'),
      [
        "import type { TaskqOptions } from '@taskq/core';",
        'const retry: number = 90;',
        "const config: TaskqOptions = { name: 'typed', retry, tasks: ['./jobs.mjs'], secretKey: 'hunter2-very-secret' };",
        'export default config;',
      ].join('\n'),
    );
    const sub = join(dir.path, 'a', 'b');
    mkdirSync(sub, { recursive: true });
    const config = await resolvedBy([], sub);
    expect(config).toMatchObject({ name: 'typed', retry: 90, configFile: join(dir.path, 'taskq.config.ts') });
    expect(config['tasks']).toEqual([join(dir.path, 'jobs.mjs')]);
    expect(config['secretKey']).toBe('********');
  });

  it('--config names a file (and --config-file on info); an ES module may export a function', async () => {
    writeFileSync(
      join(dir.path, 'other.mjs'),
      "export default async () => ({ name: 'frommodule', concurrency: 7 });\n",
    );
    writeFileSync(join(dir.path, 'taskq.config.json'), JSON.stringify({ name: 'ignored' }));
    expect(await resolvedBy(['--config-file', 'other.mjs'], dir.path)).toMatchObject({
      name: 'frommodule',
      concurrency: 7,
    });
    const viaEnv = await resolvedBy([], dir.path, { TASKQ_CONFIG: join(dir.path, 'other.mjs') });
    expect(viaEnv).toMatchObject({ name: 'frommodule' });
  });

  it('with no config at all, uses the defaults', async () => {
    const config = await resolvedBy([], dir.path);
    expect(config).toMatchObject({ name: 'default', cluster: 'default', configFile: null });
    expect(typeof config['broker']).toBe('string');
    expect(config['secretKey']).toBeUndefined();
    // read-only commands work on the default broker without a secret key
    const monitor = await runCli(['monitor', '--json'], { cwd: dir.path });
    expect(monitor.code).toBe(0);
    expect(JSON.parse(monitor.stdout)).toMatchObject({ queue: 'default', queued: 0, clusters: [] });
  });

  it('masks passwords in URLs', async () => {
    const config = await resolvedBy([], dir.path, { TASKQ_BROKER_URL: 'redis://user:pa55word@127.0.0.1:6379' });
    expect(config['broker']).toBe('redis://user:********@127.0.0.1:6379');
  });

  it('prints the resolved config as `option: value` lines without --json', async () => {
    const result = await runCli(['info', '--config'], {
      cwd: dir.path,
      env: { TASKQ_WORKERS: '5', TASKQ_SECRET_KEY: 'x' },
    });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^workers: 5$/m);
    expect(result.stdout).toMatch(/^secretKey: "\*{8}"$/m);
    expect(result.stdout).not.toContain('"x"');
  });
});

describe('loadConfig()', () => {
  it('maps every TASKQ_* scalar and names the variable when a value has the wrong type', async () => {
    const { config, sources } = await loadConfig({
      cwd: '/',
      env: {
        TASKQ_BROKER_URL: 'redis://h:1',
        TASKQ_STORE_URL: 'postgres://h/db',
        TASKQ_TASKS: './a.mjs, pkg-tasks',
        TASKQ_CONCURRENCY: '25',
        TASKQ_RETRY: '120',
        TASKQ_TIMEOUT: '30.5',
        TASKQ_CACHED: '60',
        TASKQ_SAVE_LIMIT_PER: 'group',
        TASKQ_RETRY_POLICY: '{"backoff":"fixed","delayMs":5}',
        TASKQ_WORKER_EXEC_ARGV: '--max-old-space-size=256 --enable-source-maps',
        TASKQ_SCHEDULER: 'off',
      },
    });
    expect(config).toMatchObject({
      broker: 'redis://h:1',
      store: 'postgres://h/db',
      tasks: ['/a.mjs', 'pkg-tasks'],
      concurrency: 25,
      retry: 120,
      timeout: 30.5,
      cached: 60,
      saveLimitPer: 'group',
      retryPolicy: { backoff: 'fixed', delayMs: 5 },
      workerExecArgv: ['--max-old-space-size=256', '--enable-source-maps'],
      scheduler: false,
    });
    expect(sources['concurrency']).toBe('TASKQ_CONCURRENCY');
    for (const [name, value, expected] of [
      ['TASKQ_WORKERS', 'many', /TASKQ_WORKERS="many" is not a whole number/],
      ['TASKQ_RETRY', '1m', /TASKQ_RETRY="1m" is not a number/],
      ['TASKQ_COMPRESS', 'maybe', /TASKQ_COMPRESS="maybe" is not a boolean/],
    ] as const) {
      const error = await loadConfig({ cwd: '/', env: { [name]: value } }).catch((e: unknown) => e);
      expect(isTaskqError(error, 'TASKQ_CONFIG_INVALID')).toBe(true);
      expect((error as Error).message).toMatch(expected);
    }
  });

  it('says which variable set an option that fails validation', async () => {
    const error = await loadConfig({ cwd: '/', env: { TASKQ_WORKERS: '0' } }).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/`workers`.*\(set by TASKQ_WORKERS\)/);
  });

  it('overrides beat the environment, undefined overrides are ignored', async () => {
    const { config } = await loadConfig({
      cwd: '/',
      env: { TASKQ_NAME: 'env', TASKQ_WORKERS: '4' },
      overrides: { name: 'flag', workers: undefined },
    });
    expect(config).toMatchObject({ name: 'flag', workers: 4 });
  });
});
