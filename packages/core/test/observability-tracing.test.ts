import { createServer, type Server } from 'node:http';
import { BroadcastChannel } from 'node:worker_threads';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SpanKind, SpanStatusCode, context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { ClusterHandle, TaskMessage, Taskq } from '@taskq/core';
import { eventually, makeClient } from './helpers.js';
// @ts-expect-error: a plain JS fixture shared with the worker threads
import { SPANS_CHANNEL, toPlainSpan } from './fixtures/otel/plain-span.mjs';

interface PlainSpan {
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  attributes: Record<string, unknown>;
  status: { code: number; message?: string };
  events: string[];
}

const OTEL_TASKS = fileURLToPath(new URL('./fixtures/otel/tasks.mjs', import.meta.url));
const REGISTER_IN_WORKERS = pathToFileURL(
  fileURLToPath(new URL('./fixtures/otel/register-worker.mjs', import.meta.url)),
).href;

let client: Taskq | null = null;
let cluster: ClusterHandle | null = null;

afterEach(async () => {
  await cluster?.stop({ deadlineMs: 2000 });
  await client?.close();
  client = null;
  cluster = null;
});

async function start(options: Parameters<typeof makeClient>[0] = {}) {
  client = makeClient({ tasks: [OTEL_TASKS], ...options });
  cluster = await client.cluster({ handleSignals: false }).start();
  return client;
}

describe('without an OpenTelemetry SDK', () => {
  it('task messages carry no trace and tasks run as before', async () => {
    const q = await start();
    const seen: TaskMessage[] = [];
    q.on('preExecute', (message) => seen.push(message));
    expect(await q.result(await q.enqueue('step', [1]), { wait: 10_000 })).toBe(2);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.trace).toBeUndefined();
  });
});

describe('with an OpenTelemetry SDK in the main thread and in the worker threads', () => {
  const exporter = new InMemorySpanExporter();
  const workerSpans: PlainSpan[] = [];
  const channel = new BroadcastChannel(SPANS_CHANNEL);
  let server: Server;
  let url = '';

  beforeAll(async () => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
    channel.onmessage = (event) => workerSpans.push((event as MessageEvent<PlainSpan>).data);
    // An HTTP handler that enqueues a two-link chain inside its own server span.
    const tracer = trace.getTracer('test-http');
    server = createServer((req, res) => {
      void tracer.startActiveSpan(`${req.method} ${req.url}`, { kind: SpanKind.SERVER }, async (span) => {
        try {
          const q = client as Taskq;
          const group = await q.chain([
            { task: 'step', args: [1] },
            { task: 'step', args: [2], options: { hook: 'traceHook' } },
          ]);
          res.end(group);
        } catch (error) {
          res.statusCode = 500;
          res.end(String(error));
        } finally {
          span.end();
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address() as { port: number };
    url = `http://127.0.0.1:${address.port}`;
  });

  afterAll(async () => {
    channel.close();
    await new Promise((resolve) => server.close(resolve));
    trace.disable();
    propagation.disable();
    context.disable();
  });

  it('makes one trace from the HTTP handler through enqueue, execution, the next chain link and its hook', async () => {
    const q = await start({ workerExecArgv: ['--import', REGISTER_IN_WORKERS] });
    const response = await fetch(`${url}/orders`);
    expect(response.status).toBe(200);
    const group = await response.text();
    await q.fetchGroup(group, { count: 2, wait: 20_000 });
    const names = () => workerSpans.map((s) => s.name);
    await eventually(
      () => names().filter((n) => n === 'taskq.execute step').length === 2 && names().includes('taskq.hook traceHook'),
      'the worker spans',
    );

    const main = exporter.getFinishedSpans().map((span) => toPlainSpan(span) as PlainSpan);
    const http = main.find((s) => s.name === 'GET /orders') as PlainSpan;
    const enqueue = main.find((s) => s.name === 'taskq.enqueue step') as PlainSpan;
    const execs = workerSpans.filter((s) => s.name === 'taskq.execute step');
    expect(execs).toHaveLength(2);
    const link1 = execs.find((s) => s.parentSpanId === enqueue.spanId) as PlainSpan;
    const link2 = execs.find((s) => s.parentSpanId === link1?.spanId) as PlainSpan;

    // One trace, each span the child of the one before.
    for (const span of [...main, ...workerSpans]) expect(span.traceId).toBe(http.traceId);
    expect(enqueue.parentSpanId).toBe(http.spanId);
    expect(enqueue.kind).toBe(SpanKind.PRODUCER);
    expect(link1).toBeDefined();
    expect(link2).toBeDefined();
    expect(link1.kind).toBe(SpanKind.CONSUMER);
    const hook = workerSpans.find((s) => s.name === 'taskq.hook traceHook') as PlainSpan;
    expect(hook.parentSpanId).toBe(link2.spanId);
    // Spans a task makes itself are children of its execute span.
    const inner = workerSpans.filter((s) => s.name === 'inner work');
    expect(inner.map((s) => s.parentSpanId).sort()).toEqual([link1.spanId, link2.spanId].sort());
    expect(workerSpans.find((s) => s.name === 'inside the hook')?.parentSpanId).toBe(hook.spanId);

    // Attributes a dashboard filters on.
    const records = await q.fetchGroup(group);
    const firstRecord = records.find((r) => r.func === 'step' && r.result === 2);
    expect(link1.attributes).toEqual({
      'messaging.system': 'taskq',
      'messaging.operation.type': 'process',
      'messaging.destination.name': q.config.cluster,
      'messaging.message.id': firstRecord?.id,
      'taskq.task.id': firstRecord?.id,
      'taskq.task.name': firstRecord?.name,
      'taskq.task.func': 'step',
      'taskq.task.group': group,
      'taskq.task.attempt': 1,
      'taskq.task.success': true,
    });
    expect(enqueue.attributes).toMatchObject({
      'messaging.operation.type': 'send',
      'taskq.task.id': firstRecord?.id,
      'taskq.task.func': 'step',
    });
    expect(hook.attributes).toMatchObject({ 'taskq.hook.func': 'traceHook', 'taskq.task.func': 'step' });
  });

  it('marks a failed execution as an error with the exception and its code', async () => {
    const q = await start({ workerExecArgv: ['--import', REGISTER_IN_WORKERS], maxAttempts: 1 });
    const tracer = trace.getTracer('test');
    const id = await tracer.startActiveSpan('checkout', async (span) => {
      try {
        return await q.enqueue('boom');
      } finally {
        span.end();
      }
    });
    await eventually(() => workerSpans.some((s) => s.attributes['taskq.task.id'] === id), 'the failed execution span');
    const failed = workerSpans.find((s) => s.attributes['taskq.task.id'] === id) as PlainSpan;
    expect(failed.status).toEqual({ code: SpanStatusCode.ERROR, message: 'payment declined' });
    expect(failed.events).toEqual(['exception']);
    expect(failed.attributes).toMatchObject({ 'taskq.task.success': false, 'taskq.error.code': 'E_DECLINED' });
    const checkout = exporter.getFinishedSpans().find((s) => s.name === 'checkout');
    expect(failed.traceId).toBe(checkout?.spanContext().traceId);
  });
});
