/**
 * OpenTelemetry tracing through the API only: core depends on no SDK. When the
 * application registers none, every call here is the API's no-op and a task
 * message carries no trace. The context travels inside the signed package
 * (`TaskMessage.trace`), so it is signed like the rest of the task.
 */
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  context,
  propagation,
  trace,
  type Attributes,
  type Context,
  type Span,
} from '@opentelemetry/api';
import type { ErrorInfo } from '../errors.js';
import type { ExecuteJob, HookJob, WorkerOutcome } from '../cluster/jobs.js';
import type { TaskMessage } from '../task/task.js';

const TRACER_NAME = '@taskq/core';

/** Span names: `taskq.enqueue <func>`, `taskq.execute <func>`, `taskq.hook <hook func>`. */
export const SpanNames = {
  enqueue: (func: string) => `taskq.enqueue ${func}`,
  execute: (func: string) => `taskq.execute ${func}`,
  hook: (func: string) => `taskq.hook ${func}`,
} as const;

function tracer() {
  return trace.getTracer(TRACER_NAME);
}

function injected(ctx: Context): Record<string, string> | undefined {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  for (const _ in carrier) return carrier;
  return undefined;
}

function taskAttributes(
  operation: 'send' | 'process',
  queue: string,
  task: { id: string; name: string; func: string; group?: string | null | undefined; attempt?: number | undefined },
): Attributes {
  const attributes: Attributes = {
    'messaging.system': 'taskq',
    'messaging.operation.type': operation,
    'messaging.destination.name': queue,
    'messaging.message.id': task.id,
    'taskq.task.id': task.id,
    'taskq.task.name': task.name,
    'taskq.task.func': task.func,
  };
  if (task.group !== undefined && task.group !== null) attributes['taskq.task.group'] = task.group;
  if (task.attempt !== undefined) attributes['taskq.task.attempt'] = task.attempt;
  return attributes;
}

/**
 * Enqueue side: when a trace is active, starts a `taskq.enqueue <func>`
 * producer span per message and stores its context in `message.trace`.
 * Returns null at the cost of one no-op `inject` when no propagator is
 * registered or no trace is active. Messages that already carry a trace
 * (set by a preEnqueue listener) keep it.
 */
export function startEnqueueSpans(messages: readonly TaskMessage[], defaultQueue: string): Span[] | null {
  const active = context.active();
  if (injected(active) === undefined) return null;
  const spans: Span[] = [];
  for (const message of messages) {
    if (message.trace !== undefined) continue;
    const queue = message.cluster ?? defaultQueue;
    const span = tracer().startSpan(
      SpanNames.enqueue(message.func),
      { kind: SpanKind.PRODUCER, attributes: taskAttributes('send', queue, message) },
      active,
    );
    const carrier = injected(trace.setSpan(active, span));
    if (carrier !== undefined) message.trace = carrier;
    spans.push(span);
  }
  return spans;
}

/** Ends enqueue spans once the broker took the packages (or refused them). */
export async function endEnqueueSpans(spans: Span[], sending: Promise<void>): Promise<void> {
  try {
    await sending;
  } catch (error) {
    for (const span of spans) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error)?.message });
    }
    throw error;
  } finally {
    for (const span of spans) span.end();
  }
}

function annotate(span: Span, outcome: WorkerOutcome): void {
  span.setAttribute('taskq.task.success', outcome.ok);
  if (outcome.ok) return;
  const error: ErrorInfo = outcome.error ?? { name: 'Error', message: 'unknown failure' };
  if (error.code !== undefined) span.setAttribute('taskq.error.code', error.code);
  if (outcome.timedOut) span.setAttribute('taskq.task.timed_out', true);
  span.recordException({ name: error.name, message: error.message, ...(error.stack ? { stack: error.stack } : {}) });
  span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
}

async function inSpan(
  span: Span,
  parent: Context,
  run: () => Promise<WorkerOutcome>,
): Promise<{ outcome: WorkerOutcome; ctx: Context }> {
  const ctx = trace.setSpan(parent, span);
  try {
    const outcome = await context.with(ctx, run);
    annotate(span, outcome);
    return { outcome, ctx };
  } finally {
    span.end();
  }
}

/**
 * Worker side: runs a job inside `taskq.execute <func>`, a child of the
 * enqueuer's span. The span is recorded by whatever tracer provider the
 * application registered in the worker thread (none: a no-op). The outcome
 * carries the span's context so chain links and hooks continue the trace.
 */
export async function traceExecution(job: ExecuteJob, run: () => Promise<WorkerOutcome>): Promise<WorkerOutcome> {
  const { carrier, queue } = job.trace as NonNullable<ExecuteJob['trace']>;
  const parent = propagation.extract(ROOT_CONTEXT, carrier);
  const span = tracer().startSpan(
    SpanNames.execute(job.func),
    { kind: SpanKind.CONSUMER, attributes: taskAttributes('process', queue, job) },
    parent,
  );
  const recording = span.isRecording();
  const { outcome, ctx } = await inSpan(span, parent, run);
  const next = recording ? injected(ctx) : undefined;
  return next === undefined ? outcome : { ...outcome, trace: next };
}

/** Worker side: runs a hook inside `taskq.hook <func>`, continuing the finished task's trace. */
export async function traceHook(job: HookJob, run: () => Promise<WorkerOutcome>): Promise<WorkerOutcome> {
  const parent = propagation.extract(ROOT_CONTEXT, job.trace ?? {});
  const attributes: Attributes = {
    'taskq.task.id': job.record.id,
    'taskq.task.name': job.record.name,
    'taskq.task.func': job.record.func,
    'taskq.hook.func': job.func,
  };
  const span = tracer().startSpan(SpanNames.hook(job.func), { kind: SpanKind.INTERNAL, attributes }, parent);
  return (await inSpan(span, parent, run)).outcome;
}
