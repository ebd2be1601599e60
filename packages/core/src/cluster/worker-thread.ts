/**
 * The Piscina worker: imports the task modules once, then runs batches of tasks. It verifies and decodes the
 * packages itself (the main thread only moves them), tells the main thread when a task with a timeout starts (the
 * timeout clock starts there, not in a queue), aborts the task's signal at its timeout, and returns results
 * already serialized.
 */
import { BroadcastChannel, parentPort, threadId, workerData } from 'node:worker_threads';
import { checkProgress, makeLogEntry, TaskMetaBuilder } from '../control/progress.js';
import { ErrorCodes, TaskqError, toErrorInfo } from '../errors.js';
import { loadSerializer } from '../serialize/load.js';
import type { Serializer } from '../serialize/serializer.js';
import { codecFromRecipe, type PackageCodec } from '../signing/package-codec.js';
import { stoppedOutcome } from '../control/stopped.js';
import { BatchRunner } from './batch-runner.js';
import { runWithTaskContext } from '../task/context.js';
import { TaskRegistry, type TaskFunction } from '../task/registry.js';
import { toTaskResult } from '../task/task-result.js';
import {
  executeJobOf,
  type BatchAnswer,
  type CancelNotice,
  type ExecuteJob,
  type HookJob,
  type WorkerData,
  type WorkerJob,
  type WorkerMessage,
  type WorkerOutcome,
} from './jobs.js';
import type { TaskMessage } from '../task/task.js';

const data = workerData as WorkerData;
const post = (message: WorkerMessage) => parentPort?.postMessage(message);

const ready: Promise<{ registry: TaskRegistry; serializer: Serializer; codec: PackageCodec | null }> = (async () => {
  const serializer = await loadSerializer(data.serializer);
  return {
    registry: await TaskRegistry.load(data.tasks),
    serializer,
    codec: data.codec === null ? null : codecFromRecipe(data.codec, serializer),
  };
})();
// The main thread waits for the first thread's word before the cluster starts: a module that fails to load here
// stops the start instead of failing every task. Later failures (a replaced thread) also surface per task.
ready.then(
  () => post({ taskq: 'loaded', threadId }),
  (error: unknown) => post({ taskq: 'load-failed', threadId, error: toErrorInfo(error) }),
);

post({ taskq: 'spawned', threadId });

/** Running executions by key, so a cancel notice from the main thread can abort the right task's signal. */
const running = new Map<string, AbortController>();
const cancels = new BroadcastChannel(data.cancelChannel);
cancels.unref();
/** Cancel notices for executions not (yet) running here: one sent to this thread later must not run. Kept a minute. */
const cancelledEarly = new Map<string, number>();
cancels.onmessage = (event) => {
  const { key } = (event as { data: CancelNotice }).data;
  const controller = running.get(key);
  if (controller === undefined) {
    const now = Date.now();
    for (const [k, at] of cancelledEarly) if (at < now - 60_000) cancelledEarly.delete(k);
    cancelledEarly.set(key, now);
    return;
  }
  controller.abort(new TaskqError(ErrorCodes.TASK_CANCELLED, 'The task was cancelled while it ran.'));
  post({ taskq: 'cancelling', key, threadId });
};
if (data.memoryReportMs > 0) {
  setInterval(() => {
    const usage = process.memoryUsage();
    post({ taskq: 'memory', threadId, heapUsedBytes: usage.heapUsed, heapTotalBytes: usage.heapTotal });
  }, data.memoryReportMs).unref();
}

/**
 * Recycling is cooperative: once it has started `recycle` tasks the thread refuses new jobs and the executions
 * still waiting in it (the main thread sends them elsewhere) and asks to be terminated once the jobs it already
 * runs are done, so no running task is ever cut off.
 */
/** Executions started here; the thread retires once `recycle` have. */
let started = 0;
let active = 0;
/** Every job answered so far (results, refusals, hooks): the main thread terminates only after reading them all. */
let answered = 0;
let retiring = false;
let retireSent = false;

/** The tracing module, imported on the first job that carries a trace context. */
let tracing: Promise<typeof import('../observability/tracing.js')> | null = null;
function loadTracing(): Promise<typeof import('../observability/tracing.js')> {
  tracing ??= import('../observability/tracing.js');
  return tracing;
}

/** Runs batches (see BatchRunner), built once the codec is ready. */
let batches: BatchRunner | null = null;
async function batchRunner(): Promise<BatchRunner> {
  const { codec } = await ready;
  batches ??= new BatchRunner({
    threadId,
    concurrency: data.concurrency,
    decode: (payload) => {
      if (codec === null) throw new TaskqError(ErrorCodes.BAD_PACKAGE, 'This pool decodes no packages.');
      return codec.unpack(payload);
    },
    peekTaskId: (payload) => codec?.peekTaskId(payload) ?? null,
    toJob: (message, item) => executeJobOf(message, item, data.defaults),
    execute: runExecution,
    post,
    mayStart: () => {
      if (retiring) return false;
      if (data.recycle > 0 && ++started >= data.recycle) retiring = true;
      return true;
    },
  });
  return batches;
}

export default async function run(job: WorkerJob): Promise<WorkerOutcome | BatchAnswer> {
  if (retiring) {
    answered++;
    if (job.kind === 'batch') return { threadId, refused: true };
    return { ok: false, refused: true, startedAt: Date.now(), stoppedAt: Date.now(), threadId };
  }
  active++;
  try {
    if (job.kind === 'batch') {
      await (await batchRunner()).run(job);
      return { threadId };
    }
    // Only jobs whose task carries a trace context pay for a span (and load OpenTelemetry at all).
    if (job.trace === undefined) return await runHook(job);
    return await (await loadTracing()).traceHook(job, () => runHook(job));
  } finally {
    active--;
    answered++;
    if (retiring && active === 0 && !retireSent) {
      retireSent = true;
      post({ taskq: 'retire', threadId, tasks: started, answered });
    }
  }
}

/** One execution of a batch: not started when it expired while it waited; traced when its message carries a trace. */
async function runExecution(job: ExecuteJob, message: TaskMessage): Promise<WorkerOutcome> {
  if (message.expiresAt !== undefined && Date.now() > message.expiresAt)
    return stoppedOutcome('expired', message.expiresAt);
  // Only jobs whose task carries a trace context pay for a span (and load OpenTelemetry at all).
  if (job.trace === undefined) return execute(job);
  return (await loadTracing()).traceExecution(job, () => execute(job));
}

async function execute(job: ExecuteJob): Promise<WorkerOutcome> {
  const startedAt = Date.now();
  if (cancelledEarly.delete(job.key)) {
    const error = new TaskqError(ErrorCodes.TASK_CANCELLED, 'The task was cancelled before it started.');
    return failure(startedAt, error, true);
  }
  // The timeout clock starts now; only tasks with a timeout need the main thread to know.
  if (job.timeoutMs !== null)
    post({ taskq: 'started', key: job.key, threadId, at: startedAt, timeoutMs: job.timeoutMs });
  const controller = new AbortController();
  const timer =
    job.timeoutMs === null
      ? undefined
      : setTimeout(() => controller.abort(timeoutError(job.timeoutMs as number)), job.timeoutMs);
  running.set(job.key, controller);
  let meta: TaskMetaBuilder | undefined;
  try {
    const { registry, serializer } = await ready;
    const fn = registry.get(job.func);
    const context = {
      id: job.id,
      name: job.name,
      func: job.func,
      group: job.group,
      attempt: job.attempt,
      deliveredAt: job.deliveredAt,
      signal: controller.signal,
      progress: (value: unknown) => {
        const checked = checkProgress(value);
        (meta ??= new TaskMetaBuilder()).setProgress(checked);
        post({ taskq: 'progress', key: job.key, taskId: job.id, value: checked });
      },
      log: (level: unknown, message: unknown, fields?: unknown) => {
        const entry = makeLogEntry(level, message, fields);
        (meta ??= new TaskMetaBuilder()).addLog(entry);
        post({ taskq: 'log', key: job.key, taskId: job.id, entry });
      },
    };
    const args = callArgs(job.args);
    const value = await runWithTaskContext(context, () => (fn as (...a: unknown[]) => unknown)(...args));
    if (controller.signal.aborted) return withMeta(failure(startedAt, controller.signal.reason, true), meta);
    const argsText = serializer.serialize(job.args);
    const outcome = {
      ok: true,
      result: serializer.serialize(value),
      argsText,
      startedAt,
      stoppedAt: Date.now(),
      threadId,
    };
    return withMeta(outcome, meta);
  } catch (error) {
    const aborted = controller.signal.aborted;
    return withMeta(failure(startedAt, aborted ? controller.signal.reason : error, aborted), meta);
  } finally {
    running.delete(job.key);
    clearTimeout(timer);
  }
}

async function runHook(job: HookJob): Promise<WorkerOutcome> {
  const startedAt = Date.now();
  try {
    const { registry, serializer } = await ready;
    const fn: TaskFunction = registry.get(job.func);
    await (fn as (...args: unknown[]) => unknown)(toTaskResult(job.record, serializer));
    return { ok: true, startedAt, stoppedAt: Date.now(), threadId };
  } catch (error) {
    return failure(startedAt, error, false);
  }
}

/**
 * The arguments as the task receives them: a generic array, whole numbers as small integers. JSON.parse turns an
 * array that mixes whole and fractional numbers (`[27, 1.5]`) into an array of doubles, so the task would get 27 as
 * a boxed double and run its arithmetic several times slower (fib(27) took 1.7× as long); arguments that arrived
 * by structured clone were normalised this way already.
 */
function callArgs(args: unknown[]): unknown[] {
  const out: unknown[] = [undefined]; // an oddball first: the array keeps generic elements, never double ones
  out.length = 0;
  for (const arg of args) out.push(isSmallInteger(arg) ? arg | 0 : arg);
  return out;
}

function isSmallInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && Math.abs(value) < 2 ** 30 && !Object.is(value, -0);
}

function withMeta(outcome: WorkerOutcome, meta: TaskMetaBuilder | undefined): WorkerOutcome {
  if (meta !== undefined) outcome.meta = meta.meta;
  return outcome;
}

/** `aborted`: the task's signal fired — at its timeout, or because it was cancelled (the reason's code says). */
function failure(startedAt: number, error: unknown, aborted: boolean): WorkerOutcome {
  const info = toErrorInfo(error);
  const outcome: WorkerOutcome = { ok: false, error: info, startedAt, stoppedAt: Date.now(), threadId };
  if (aborted && info.code === ErrorCodes.TASK_CANCELLED) outcome.stopped = 'cancelled';
  else outcome.timedOut = aborted;
  return outcome;
}

function timeoutError(ms: number): TaskqError {
  return new TaskqError(ErrorCodes.TASK_TIMEOUT, `Task exceeded its timeout of ${ms / 1000} s and was stopped.`);
}
