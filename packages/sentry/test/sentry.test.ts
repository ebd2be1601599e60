import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as Sentry from '@sentry/node';
import { ErrorCodes, Taskq, type ClusterHandle, type ReportedTask } from '@taskq/core';
import { SentryReporter } from '../src/index.js';
import { parseEnvelope, type EnvelopeItem } from './support/envelope.js';
import { IngestServer, eventually } from '@taskq/test-servers/ingest';

const TASKS = fileURLToPath(new URL('./support/tasks.mjs', import.meta.url));

let ingest: IngestServer;
let client: Taskq | null = null;
let cluster: ClusterHandle | null = null;

beforeEach(async () => {
  ingest = await new IngestServer().start();
});

afterEach(async () => {
  await cluster?.stop({ deadlineMs: 2000 });
  await client?.close();
  client = null;
  cluster = null;
  await ingest.stop();
});

function dsn(): string {
  return `http://publickey@127.0.0.1:${ingest.port}/1`;
}

/** Every envelope item of a type the SDK sent so far. */
function items(type: string): EnvelopeItem[] {
  return ingest.requests.flatMap((r) => parseEnvelope(r.body).items).filter((item) => item.type === type);
}

const events = () => items('event').map((item) => item.payload as SentryEvent);

interface SentryEvent {
  exception: { values: { type: string; value: string; stacktrace?: { frames: { function?: string }[] } }[] };
  fingerprint: string[];
  tags: Record<string, string>;
  contexts: { taskq: Record<string, unknown> };
  environment: string;
  release: string;
  level: string;
  transaction: string;
}

const task: ReportedTask = {
  id: '0123456789abcdef0123456789abcdef',
  name: 'alpha-bravo-charlie-delta',
  func: 'charge',
  cluster: 'default',
  attempt: 1,
  kind: 'failed',
  code: 'E_DECLINED',
  final: true,
};

describe('@taskq/sentry in a cluster (configured by name)', () => {
  it('sends each failure as an event with the task, grouped by func and error code', async () => {
    client = new Taskq({
      name: 'sentry-test',
      broker: 'memory:',
      tasks: [TASKS],
      workers: 1,
      maxAttempts: 1,
      logLevel: 'silent',
      errorReporters: { sentry: { dsn: dsn(), environment: 'staging', release: 'shop@1.2.3' } },
    });
    cluster = await client.cluster({ handleSignals: false }).start();
    const first = await client.enqueue('charge', [42], { group: 'checkout' });
    const second = await client.enqueue('charge', [7]);
    const timedOut = await client.enqueue('spin', [], { timeout: 0.3 });
    await eventually(() => events().length === 3, 'three Sentry events');

    const request = ingest.requests[0];
    expect(request?.method).toBe('POST');
    expect(request?.url).toMatch(/^\/api\/1\/envelope\/\?sentry_version=7&sentry_key=publickey/);
    const byId = new Map(events().map((event) => [event.contexts.taskq['id'], event]));
    const event = byId.get(first) as SentryEvent;
    expect(event.exception.values[0]).toMatchObject({ type: 'Error', value: 'card declined for 42' });
    // The stack is the worker thread's, parsed into frames.
    expect(event.exception.values[0]?.stacktrace?.frames.some((f) => f.function === 'charge')).toBe(true);
    expect(event.contexts.taskq).toEqual({
      id: first,
      name: (await client.fetch(first))?.name,
      func: 'charge',
      group: 'checkout',
      queue: 'sentry-test',
      attempt: 1,
      kind: 'failed',
      code: 'E_DECLINED',
      final: true,
    });
    expect(event.tags).toEqual({
      'taskq.func': 'charge',
      'taskq.queue': 'sentry-test',
      'taskq.kind': 'failed',
      'taskq.code': 'E_DECLINED',
    });
    expect(event).toMatchObject({
      environment: 'staging',
      release: 'shop@1.2.3',
      level: 'error',
      transaction: 'taskq charge',
      fingerprint: ['taskq', 'charge', 'E_DECLINED'],
    });
    // Two failures of one function with one code are one issue; a timeout is another.
    expect(byId.get(second)?.fingerprint).toEqual(['taskq', 'charge', 'E_DECLINED']);
    expect(byId.get(timedOut)).toMatchObject({
      fingerprint: ['taskq', 'spin', ErrorCodes.TASK_TIMEOUT],
      tags: { 'taskq.kind': 'timeout', 'taskq.code': ErrorCodes.TASK_TIMEOUT },
    });
  });

  it('reports an attempt that will be retried as a warning', async () => {
    client = new Taskq({
      name: 'sentry-retry',
      broker: 'memory:',
      tasks: [TASKS],
      workers: 1,
      maxAttempts: 2,
      retryPolicy: { backoff: 'fixed', delayMs: 0 },
      logLevel: 'silent',
      errorReporters: { sentry: { dsn: dsn() } },
    });
    cluster = await client.cluster({ handleSignals: false }).start();
    await client.enqueue('plainFailure');
    await eventually(() => events().length === 2, 'two Sentry events');
    const levels = events()
      .sort((a, b) => Number(a.contexts.taskq['attempt']) - Number(b.contexts.taskq['attempt']))
      .map((e) => [e.contexts.taskq['attempt'], e.level, e.fingerprint]);
    expect(levels).toEqual([
      [1, 'warning', ['taskq', 'plainFailure', 'TypeError']],
      [2, 'error', ['taskq', 'plainFailure', 'TypeError']],
    ]);
  });
});

describe('SentryReporter', () => {
  it("respects the SDK's sampleRate and beforeSend", async () => {
    const sampledOut = new SentryReporter({ dsn: dsn(), sampleRate: 0 });
    sampledOut.report(new Error('never sent'), task);
    await sampledOut.flush();
    const filtered = new SentryReporter({
      dsn: dsn(),
      beforeSend: (event) => (event.contexts?.['taskq']?.['code'] === 'E_IGNORED' ? null : event),
    });
    filtered.report(new Error('ignored'), { ...task, code: 'E_IGNORED' });
    filtered.report(new Error('kept'), task);
    await filtered.flush();
    await sampledOut.close();
    await filtered.close();
    expect(events().map((e) => e.exception.values[0]?.value)).toEqual(['kept']);
  });

  it("reports through the app's own Sentry.init() client when given no DSN", async () => {
    const reporter = new SentryReporter();
    expect(() => reporter.report(new Error('x'), task)).toThrow(/Sentry is not initialised/);
    Sentry.init({ dsn: dsn(), defaultIntegrations: false, environment: 'from-app' });
    try {
      reporter.report(new Error('through the global client'), task);
      await reporter.flush();
      expect(events()).toHaveLength(1);
      expect(events()[0]).toMatchObject({ environment: 'from-app', fingerprint: ['taskq', 'charge', 'E_DECLINED'] });
    } finally {
      await Sentry.close(2000);
    }
  });

  it('rejects bad options with a TaskqError naming the option', () => {
    expect(() => new SentryReporter({ dsn: 'not a dsn' })).toThrow(
      expect.objectContaining({ code: ErrorCodes.CONFIG, message: expect.stringContaining('`dsn`') }),
    );
    expect(() => new SentryReporter({ sampleRate: 2 })).toThrow(/`sampleRate`: use a number from 0/);
    expect(() => new SentryReporter({ environment: 3 as never })).toThrow(/`environment`: use a string/);
  });
});
