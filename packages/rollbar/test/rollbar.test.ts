import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCodes, Taskq, type ClusterHandle, type ReportedTask } from '@taskq/core';
import { RollbarReporter } from '../src/index.js';
import { IngestServer, eventually } from '@taskq/test-servers/ingest';

const TASKS = fileURLToPath(new URL('./support/tasks.mjs', import.meta.url));
const TOKEN = 'a'.repeat(32);

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

function endpoint(): string {
  return `http://127.0.0.1:${ingest.port}/api/1/item/`;
}

interface RollbarItem {
  access_token?: string;
  data: {
    environment: string;
    level: string;
    code_version?: string;
    fingerprint: string;
    title: string;
    context: string;
    custom: { taskq: Record<string, unknown> };
    body: { trace_chain: { exception: { class: string; message: string }; frames: { method?: string }[] }[] };
  };
}

const items = () => ingest.requests.map((r) => JSON.parse(r.body) as RollbarItem);

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

describe('@taskq/rollbar in a cluster (configured by name)', () => {
  it('sends each failure as an item with the task, grouped by func and error code', async () => {
    client = new Taskq({
      name: 'rollbar-test',
      broker: 'memory:',
      tasks: [TASKS],
      workers: 1,
      maxAttempts: 1,
      logLevel: 'silent',
      errorReporters: {
        rollbar: { accessToken: TOKEN, endpoint: endpoint(), environment: 'staging', codeVersion: 'abc123' },
      },
    });
    cluster = await client.cluster({ handleSignals: false }).start();
    const first = await client.enqueue('charge', [42], { group: 'checkout' });
    const second = await client.enqueue('charge', [7]);
    const timedOut = await client.enqueue('spin', [], { timeout: 0.3 });
    await eventually(() => ingest.requests.length === 3, 'three Rollbar items');

    const request = ingest.requests[0];
    expect(request?.method).toBe('POST');
    expect(request?.url).toBe('/api/1/item/');
    expect(request?.headers['x-rollbar-access-token']).toBe(TOKEN);
    const byId = new Map(items().map((item) => [item.data.custom.taskq['id'], item]));
    const item = byId.get(first) as RollbarItem;
    expect(item.data.body.trace_chain[0]?.exception).toEqual({ class: 'Error', message: 'card declined for 42' });
    // The stack is the worker thread's, parsed into frames.
    expect(item.data.body.trace_chain[0]?.frames.some((f) => f.method === 'charge')).toBe(true);
    expect(item.data.custom.taskq).toEqual({
      id: first,
      name: (await client.fetch(first))?.name,
      func: 'charge',
      group: 'checkout',
      queue: 'rollbar-test',
      attempt: 1,
      kind: 'failed',
      code: 'E_DECLINED',
      final: true,
    });
    expect(item.data).toMatchObject({
      environment: 'staging',
      code_version: 'abc123',
      level: 'error',
      context: 'taskq#charge',
      title: 'charge: card declined for 42',
      fingerprint: 'taskq:charge:E_DECLINED',
    });
    // Two failures of one function with one code are one Rollbar item; a timeout is another.
    expect(byId.get(second)?.data.fingerprint).toBe('taskq:charge:E_DECLINED');
    expect(byId.get(timedOut)?.data).toMatchObject({
      fingerprint: `taskq:spin:${ErrorCodes.TASK_TIMEOUT}`,
      custom: { taskq: { kind: 'timeout', code: ErrorCodes.TASK_TIMEOUT } },
    });
  });
});

describe('RollbarReporter', () => {
  it('reports an attempt that will be retried as a warning, and takes `release` as the code version', async () => {
    const reporter = new RollbarReporter({ accessToken: TOKEN, endpoint: endpoint(), release: 'shop@1.2.3' });
    await reporter.report(new TypeError('x is undefined'), { ...task, code: undefined, final: false } as ReportedTask);
    await reporter.close();
    expect(items()[0]?.data).toMatchObject({
      level: 'warning',
      code_version: 'shop@1.2.3',
      fingerprint: 'taskq:charge:TypeError',
    });
  });

  it("respects the SDK's reportLevel and checkIgnore (e.g. only final failures, not retried attempts)", async () => {
    const reporter = new RollbarReporter({
      accessToken: TOKEN,
      endpoint: endpoint(),
      reportLevel: 'error',
      checkIgnore: (_uncaught, args) => (args[0] as Error).message === 'ignored',
    });
    await reporter.report(new Error('ignored'), task);
    await reporter.report(new Error('retried, so a warning'), { ...task, final: false });
    await reporter.report(new Error('kept'), task);
    await reporter.close();
    expect(items().map((item) => item.data.body.trace_chain[0]?.exception.message)).toEqual(['kept']);
  });

  it('rejects a report Rollbar refuses, so taskq logs it', async () => {
    await ingest.stop();
    const reporter = new RollbarReporter({ accessToken: TOKEN, endpoint: endpoint() });
    await expect(reporter.report(new Error('x'), task)).rejects.toThrow(/Rollbar did not take the item/);
    ingest = await new IngestServer().start();
  });

  it('rejects bad options with a TaskqError naming the option', () => {
    expect(() => new RollbarReporter({})).toThrow(
      expect.objectContaining({ code: ErrorCodes.CONFIG, message: expect.stringContaining('`accessToken`') }),
    );
    expect(() => new RollbarReporter({ accessToken: TOKEN, endpoint: 'http://x/api/1/' })).toThrow(
      /`endpoint`: use the full item URL/,
    );
    expect(() => new RollbarReporter({ accessToken: TOKEN, maxItems: -1 })).toThrow(/`maxItems`: use a whole number/);
  });
});
