import { afterEach, describe, expect, it } from 'vitest';
import {
  ErrorCodes,
  Taskq,
  isTaskqError,
  loadErrorReporters,
  parseEnv,
  resolveConfig,
  type ClusterHandle,
  type ErrorReporter,
  type Logger,
  type ReportedTask,
} from '@taskq/core';
import { eventually, makeClient } from './helpers.js';

let client: Taskq | null = null;
let cluster: ClusterHandle | null = null;

afterEach(async () => {
  await cluster?.stop({ deadlineMs: 2000 });
  await client?.close();
  client = null;
  cluster = null;
});

/** A reporter that keeps what it was given. */
function recorder(): ErrorReporter & { reports: { error: Error; task: ReportedTask }[] } {
  const reports: { error: Error; task: ReportedTask }[] = [];
  return { name: 'recorder', reports, report: (error, task) => void reports.push({ error, task }) };
}

/** A logger that keeps error lines. */
function errorLog(): Logger & { errors: { message: string; fields?: Record<string, unknown> }[] } {
  const errors: { message: string; fields?: Record<string, unknown> }[] = [];
  const nothing = () => {};
  return {
    errors,
    debug: nothing,
    info: nothing,
    warn: nothing,
    error: (message: string, fields?: Record<string, unknown>) => void errors.push({ message, fields }),
  } as Logger & { errors: { message: string; fields?: Record<string, unknown> }[] };
}

async function start(options: Parameters<typeof makeClient>[0]) {
  client = makeClient(options);
  cluster = await client.cluster({ handleSignals: false }).start();
  return client;
}

describe('error reporters in a cluster', () => {
  it('report a task failure with its id, name, func, group, attempt, queue and code', async () => {
    const reporter = recorder();
    const q = await start({ errorReporters: [reporter], maxAttempts: 1 });
    const id = await q.enqueue('fail', ['kaput'], { group: 'billing' });
    await eventually(() => reporter.reports.length === 1, 'one report');
    const [{ error, task }] = reporter.reports as [{ error: Error; task: ReportedTask }];
    expect(error.message).toBe('kaput');
    expect((error as Error & { code?: string }).code).toBe('E_TEST');
    expect(error.stack).toContain('fail');
    expect(task).toEqual({
      id,
      name: expect.any(String),
      func: 'fail',
      group: 'billing',
      cluster: q.config.cluster,
      attempt: 1,
      kind: 'failed',
      code: 'E_TEST',
      final: true,
    });
    expect((await q.fetch(id))?.name).toBe(task.name);
  });

  it('report each attempt, marking the last one final', async () => {
    const reporter = recorder();
    const q = await start({
      errorReporters: [reporter],
      maxAttempts: 2,
      retryPolicy: { backoff: 'fixed', delayMs: 0 },
    });
    await q.enqueue('fail');
    await eventually(() => reporter.reports.length === 2, 'two reports');
    expect(reporter.reports.map((r) => [r.task.attempt, r.task.final])).toEqual([
      [1, false],
      [2, true],
    ]);
  });

  it('report a timeout and the task lost with the killed thread', async () => {
    const reporter = recorder();
    const q = await start({ errorReporters: [reporter], workers: 1, concurrency: 2, maxAttempts: 1 });
    const sleeper = await q.enqueue('sleep', [60_000]);
    // Both tasks share the only thread; killing the runaway one loses the sleeper.
    await eventually(() => (cluster?.stat()?.running ?? 0) === 1, 'the sleeper to run');
    const spinner = await q.enqueue('spin', [], { timeout: 0.3 });
    await eventually(() => reporter.reports.length === 2, 'two reports');
    const byId = new Map(reporter.reports.map((r) => [r.task.id, r]));
    expect(byId.get(spinner)?.task).toMatchObject({ func: 'spin', kind: 'timeout', code: ErrorCodes.TASK_TIMEOUT });
    expect(byId.get(sleeper)?.task).toMatchObject({ func: 'sleep', kind: 'lost', code: ErrorCodes.WORKER_LOST });
  });

  it('log a reporter that throws or rejects, and keep saving and running tasks', async () => {
    const logger = errorLog();
    const good = recorder();
    const throwing: ErrorReporter = {
      name: 'throws',
      report: () => {
        throw new Error('reporter is down');
      },
    };
    const rejecting: ErrorReporter = { name: 'rejects', report: () => Promise.reject(new Error('no network')) };
    const q = await start({ errorReporters: [throwing, rejecting, good], logger, maxAttempts: 1 });
    const failed = await q.enqueue('fail');
    expect((await q.fetch(failed, { wait: 10_000 }))?.success).toBe(false);
    expect(await q.result(await q.enqueue('add', [1, 2]), { wait: 10_000 })).toBe(3);
    await eventually(() => logger.errors.length === 2, 'two logged reporter errors');
    expect(logger.errors).toEqual(
      expect.arrayContaining([
        { message: 'error reporter failed', fields: { reporter: 'throws', error: 'reporter is down' } },
        { message: 'error reporter failed', fields: { reporter: 'rejects', error: 'no network' } },
      ]),
    );
    expect(good.reports).toHaveLength(1);
  });

  it('report sync-mode failures as final', async () => {
    const reporter = recorder();
    client = makeClient({ errorReporters: [reporter], sync: true });
    await expect(client.enqueue('fail')).rejects.toThrow('boom');
    await eventually(() => reporter.reports.length === 1, 'one report');
    expect(reporter.reports[0]?.task).toMatchObject({ func: 'fail', kind: 'failed', final: true, attempt: 1 });
  });
});

describe('errorReporters by name', () => {
  it('an unknown name is a config error naming the reporters that exist, never an npm install of a missing package', async () => {
    const error = await loadErrorReporters({ sentri: { dsn: 'x' } }).catch((e: unknown) => e);
    expect(isTaskqError(error, ErrorCodes.CONFIG)).toBe(true);
    expect((error as Error).message).toMatch(/no taskq error reporter is called "sentri" \(did you mean "sentry"\?\)/);
    expect((error as Error).message).toMatch(/by name there are sentry, rollbar/);
    expect((error as Error).message).not.toMatch(/npm install/);
    const core = await loadErrorReporters({ core: {} }).catch((e: unknown) => e);
    expect(isTaskqError(core, ErrorCodes.CONFIG)).toBe(true);
    // The client fails on first use, before connecting anything.
    client = makeClient({ errorReporters: { nosuchreporter: {} } });
    await expect(client.enqueue('add', [1, 2])).rejects.toMatchObject({ code: ErrorCodes.CONFIG });
  });

  it('validates names, option objects and still rejects unknown options', () => {
    expect(() => resolveConfig({ errorReporters: { 'Not A Name': {} } })).toThrow(/errorReporters/);
    expect(() => resolveConfig({ errorReporters: { sentry: 'dsn' as never } })).toThrow(
      /`errorReporters`.*set `errorReporters` to reporter names/s,
    );
    expect(() => resolveConfig({ errorReporter: { sentry: {} } } as never)).toThrow(
      /unknown option\(s\) `errorReporter`/,
    );
    expect(resolveConfig({ errorReporters: { sentry: { dsn: 'https://k@h/1' } } }).errorReporters).toEqual({
      sentry: { dsn: 'https://k@h/1' },
    });
  });

  it('come from TASKQ_ERROR_REPORTERS as JSON, with an example when it is not JSON', () => {
    expect(parseEnv({ TASKQ_ERROR_REPORTERS: '{"sentry":{"dsn":"https://k@h/1","sampleRate":0.5}}' })).toEqual({
      errorReporters: { sentry: { dsn: 'https://k@h/1', sampleRate: 0.5 } },
    });
    expect(() => parseEnv({ TASKQ_ERROR_REPORTERS: 'sentry' })).toThrow(
      /TASKQ_ERROR_REPORTERS="sentry" is not JSON, e\.g\. \{"sentry"/,
    );
  });
});

describe('the metrics option', () => {
  it('takes a port or { port, host, path } (also from TASKQ_METRICS), and null by default', () => {
    expect(resolveConfig({}).metrics).toBeNull();
    expect(resolveConfig({ metrics: 9464 }).metrics).toEqual({ port: 9464, host: '127.0.0.1', path: '/metrics' });
    expect(resolveConfig({ metrics: { port: 0, host: '0.0.0.0' } }).metrics).toEqual({
      port: 0,
      host: '0.0.0.0',
      path: '/metrics',
    });
    expect(parseEnv({ TASKQ_METRICS: '9464' })).toEqual({ metrics: 9464 });
    expect(parseEnv({ TASKQ_METRICS: 'none' })).toEqual({ metrics: null });
    expect(() => resolveConfig({ metrics: { port: 9464, hots: 'x' } as never })).toThrow(
      /unknown option\(s\) `metrics.hots`/,
    );
    expect(() => resolveConfig({ metrics: 70000 })).toThrow(/set `metrics` to a port number/);
  });
});

describe('a client without reporters', () => {
  it('builds a runtime with no reporters', async () => {
    client = new Taskq({ broker: 'memory:', logLevel: 'silent' });
    expect((await client.runtime()).reporters).toBeUndefined();
  });
});
