import { createHash } from 'node:crypto';
import { reportFailure } from '../observability/reporters.js';
import { buildTaskMessage, type MessageParts } from '../task/message.js';
import type { ErrorInfo } from '../errors.js';
import { eventChannelOf, finishedEventOf, type TaskEventChannel, type TaskFinishedEvent } from '../events.js';
import type { TaskMessage, TaskMeta, TaskRecord } from '../task/task.js';
import { ITER_GROUP_PREFIX } from '../store/result-store.js';
import type { Runtime } from './runtime.js';
import type { ResolvedConfig } from '../config/config.js';
import type { WorkerOutcome } from './jobs.js';
import { completeFanInMember } from '../control/fan-in.js';
import { controlKeys } from '../control/keys.js';
import { isStoppedCode } from '../control/stopped.js';

/** A finished execution on its way to the store and the broker. */
export interface FinishedTask {
  message: TaskMessage;
  /** Broker receipt; absent in sync mode. */
  receipt?: string;
  outcome: WorkerOutcome & { lost?: boolean };
  /** What the task reported with `progress()`/`log()` while it ran, saved with its record. */
  meta?: TaskMeta | undefined;
}

/** Runs hook tasks: on the worker pool in a cluster, inline in sync mode. */
export type HookRunner = (func: string, record: TaskRecord, trace?: Record<string, string>) => Promise<WorkerOutcome>;

/** What finishing decided, for the caller to act on: the receipts to acknowledge. */
export interface FinishReport {
  acknowledged: string[];
}

/**
 * The monitor's work for a batch of finished tasks (Django Q's save_task +
 * monitor loop, with its defects fixed): save, then acknowledge by the rules,
 * advance chains, collate iters, run hooks, emit postExecute.
 *
 * - Failures are always saved; successes unless `save: false` or saveLimit -1.
 * - A success is acknowledged. A failure is acknowledged when `ackFailure` is
 *   set or when it has run `maxAttempts` times (exactly N executions), or when
 *   it was re-enqueued by a retry policy. Otherwise the broker redelivers it
 *   after `retry` seconds.
 * - A chain advances when its link is done (success or final failure), whether
 *   or not results are saved.
 * - Hooks run after every execution: success, failure and timeout.
 * If saving throws, nothing in the batch is acknowledged: the caller retries,
 * and the broker redelivers whatever is lost with this process.
 */
export class TaskFinisher {
  constructor(
    private readonly runtime: Runtime,
    private readonly runHook: HookRunner,
  ) {}

  async finish(batch: readonly FinishedTask[]): Promise<FinishReport> {
    const records = batch.map((item) => this.toRecord(item));
    const attemptCounts = await this.#save(batch, records);
    const acknowledged: string[] = [];
    const followUps: Promise<unknown>[] = [];
    const finished: TaskFinishedEvent[] = [];
    for (let i = 0; i < batch.length; i++) {
      const item = batch[i] as FinishedTask;
      const record = records[i] as TaskRecord;
      record.attemptCount = attemptCounts[i] ?? record.attemptCount;
      // Cancelled or expired: final whatever the retry budget says, and the chain stops here.
      const stopped = item.outcome.stopped !== undefined;
      const final = stopped || this.isFinal(item.message, record, item.outcome.lost === true);
      // Not final: either re-sent now by a retry policy (acknowledge this delivery) or left for redelivery.
      const resentAfterMs = final ? null : await this.#retryWithPolicy(item, record);
      const acknowledge = final || resentAfterMs !== null;
      if (acknowledge && item.receipt !== undefined) acknowledged.push(item.receipt);
      // The trace continues from the execution's span when the thread recorded one (see observability/).
      const trace = item.outcome.trace ?? item.message.trace;
      if (final && !stopped && item.message.chain?.length) followUps.push(this.#advanceChain(item.message, trace));
      if (final && item.message.iter) followUps.push(this.#collateIter(item.message));
      if (final) followUps.push(...this.jobControlFollowUps(item.message, item.outcome.stopped === undefined));
      if (item.message.hook) followUps.push(this.#hook(item.message.hook, record, trace));
      if (!record.success) this.#failed(item, record, final, resentAfterMs);
      finished.push(finishedEventOf(record, final || item.receipt === undefined));
    }
    await Promise.all(followUps);
    this.#publish(finished);
    for (let i = 0; i < batch.length; i++) {
      this.runtime.events.emit('postExecute', records[i] as TaskRecord, (batch[i] as FinishedTask).message);
    }
    return { acknowledged };
  }

  /**
   * Tells other processes (web servers awaiting results, `q.on('taskFinished')`) through the broker's event
   * channel: one message for the whole saved batch, not awaited, never failing the batch.
   */
  #publish(events: TaskFinishedEvent[]): void {
    const channel = (this.#channel ??= { value: eventChannelOf(this.runtime.broker, this.runtime.store) }).value;
    if (channel === null || events.length === 0) return;
    channel.publishFinished(events).catch((error: unknown) => {
      // A publish still in flight when the cluster stops and closes the broker is not worth a warning.
      if ((error as { code?: unknown }).code === 'TASKQ_BROKER_CLOSED') return;
      this.runtime.logger.warn('could not publish finished tasks; waiting clients re-check the store', {
        tasks: events.length,
        error: (error as Error).message,
      });
    });
  }

  #channel: { value: TaskEventChannel | null } | undefined;

  /**
   * What job control does once a task is done for good: release its dedup key and count it in its fan-in group.
   * A `'queued'` key was released when the task started (the pusher); a task that never started (cancelled or
   * expired) releases it here. A `{ ttlMs }` key is left to expire. Tasks that use neither pay nothing. The
   * pusher calls this for replays too (`started`: the replayed task ran), so a crash between the save and these
   * steps is repaired when the package comes back; a key whose release was lost anyway is taken over by the next
   * enqueue once its holder is done (claimDedupKey).
   */
  jobControlFollowUps(message: TaskMessage, started: boolean): Promise<void>[] {
    const { dedup, fanIn } = message;
    const release = dedup !== undefined && (dedup.mode === 'active' || (dedup.mode === 'queued' && !started));
    if (!release && fanIn === undefined) return NO_STEPS;
    const warn = (what: string) => (error: unknown) =>
      this.runtime.logger.warn(what, { id: message.id, error: (error as Error).message });
    const steps: Promise<void>[] = [];
    if (release) {
      steps.push(
        this.runtime.store
          .deleteValue(controlKeys.dedup(dedup.key), message.id)
          .then(() => undefined, warn('could not release the dedup key of a finished task')),
      );
    }
    if (fanIn !== undefined) {
      steps.push(completeFanInMember(this.runtime, message).catch(warn('could not complete a fan-in group member')));
    }
    return steps;
  }

  toRecord(item: FinishedTask): TaskRecord {
    const { message, outcome } = item;
    const record: TaskRecord = {
      id: message.id,
      name: message.name,
      func: message.func,
      args: outcome.argsText ?? this.runtime.serializer.serialize(message.args),
      result: outcome.ok ? (outcome.result ?? null) : null,
      error: outcome.ok ? null : this.#failure(item),
      success: outcome.ok,
      group: message.group ?? null,
      hook: message.hook ?? null,
      cluster: message.cluster ?? this.runtime.config.cluster,
      enqueuedAt: new Date(message.enqueuedAt),
      startedAt: new Date(outcome.startedAt),
      stoppedAt: new Date(outcome.stoppedAt),
      attemptCount: message.attempt ?? 1,
    };
    // Only tasks that reported progress or logs, or were redriven, carry meta (no work for the others).
    if (item.meta !== undefined || message.redrivenFrom !== undefined) record.meta = metaOf(item);
    return record;
  }

  /**
   * The failure's error, with the retry budget it ran under, so readers of the store (`taskq tasks`, info,
   * monitor, dashboard) can tell a failure that will run again from a final one (see {@link awaitsRetry}).
   */
  #failure(item: FinishedTask): ErrorInfo {
    const { message, outcome } = item;
    const error = outcome.error ?? { name: 'Error', message: 'unknown failure' };
    // Cancelled and expired tasks are final: no retry budget, so nothing reads them as awaiting a retry.
    if (outcome.stopped !== undefined) return error;
    const info: ErrorInfo = { ...error, maxAttempts: message.maxAttempts ?? this.runtime.config.maxAttempts };
    // A lost task is not its own failure: ackFailure does not end it (see isFinal).
    if (outcome.lost !== true && (message.ackFailure ?? this.runtime.config.ackFailures)) info.ackFailure = true;
    return info;
  }

  /** Saves what must be saved (cached tasks with their TTL), returning attempt counts per item. */
  async #save(batch: readonly FinishedTask[], records: TaskRecord[]): Promise<(number | undefined)[]> {
    const { config, store } = this.runtime;
    const counts: (number | undefined)[] = new Array(batch.length).fill(undefined);
    const groups = new Map<number | null, number[]>();
    for (let i = 0; i < batch.length; i++) {
      const { message } = batch[i] as FinishedTask;
      const record = records[i] as TaskRecord;
      const skip =
        record.success &&
        !message.iter &&
        (message.save === false || (message.save !== true && config.saveLimit === -1));
      if (skip) continue;
      const cached = message.cached ?? config.cached;
      const ttl = typeof cached === 'number' && store.capabilities.ttl ? cached : null;
      const indexes = groups.get(ttl);
      if (indexes) indexes.push(i);
      else groups.set(ttl, [i]);
    }
    for (const [ttl, indexes] of groups) {
      const saved = await store.saveMany(
        indexes.map((i) => records[i] as TaskRecord),
        ttl === null ? {} : { ttlSeconds: ttl },
      );
      indexes.forEach((index, j) => (counts[index] = saved[j]));
    }
    return counts;
  }

  /**
   * Whether this execution is the task's last: a success, or a failure that
   * is acknowledged (`ackFailure`) or has used up `maxAttempts`. A task lost
   * with its thread (another task's timeout, a crash) is not its own failure,
   * so `ackFailure` does not end it; `maxAttempts` still bounds it.
   */
  isFinal(message: TaskMessage, record: TaskRecord, lost = false): boolean {
    return isFinalState(this.runtime.config, message, record, lost);
  }

  /** Re-sends a failed task under its retry policy (same id, next attempt, backoff delay): the delay, or null without one. */
  async #retryWithPolicy(item: FinishedTask, record: TaskRecord): Promise<number | null> {
    const { config } = this.runtime;
    const { message } = item;
    const policy = message.retry ?? config.retryPolicy;
    if (policy === null || item.receipt === undefined) return null;
    const attempt = record.attemptCount + 1;
    const base = policy.backoff === 'fixed' ? policy.delayMs : policy.delayMs * 2 ** (record.attemptCount - 1);
    const capped = Math.min(base, policy.maxDelayMs ?? Number.POSITIVE_INFINITY);
    const delayMs = Math.round(capped * (1 + (policy.jitter ?? 0) * Math.random()));
    await this.runtime.send({ ...message, attempt }, { delayMs });
    return delayMs;
  }

  async #advanceChain(message: TaskMessage, trace: Record<string, string> | undefined): Promise<void> {
    const [next, ...rest] = message.chain ?? [];
    if (next === undefined) return;
    const parts: MessageParts = { func: next.func, args: next.args, chain: rest };
    if (next.options !== undefined) parts.options = next.options;
    if (message.group !== undefined) parts.group = message.group;
    if (message.cluster !== undefined) parts.cluster = message.cluster;
    const link = buildTaskMessage(parts);
    if (trace !== undefined) link.trace = trace;
    await this.runtime.send(link);
  }

  /** When the last sub-task of an iter is saved, save one record with every result in input order. */
  async #collateIter(message: TaskMessage): Promise<void> {
    const iter = message.iter;
    if (!iter) return;
    const { store, serializer } = this.runtime;
    const group = iterGroup(iter.id);
    if ((await store.countGroup(group)) < iter.count) return;
    const records = new Map((await store.getGroup(group, { failures: true })).map((r) => [r.id, r]));
    const ordered: TaskRecord[] = [];
    for (let index = 0; index < iter.count; index++) {
      const record = records.get(iterSubTaskId(iter.id, index));
      // Missing: another process is collating, or a record expired. Not final: a retry is still coming.
      if (!record || !this.isFinal(message, record)) return;
      ordered.push(record);
    }
    const first = ordered[0] as TaskRecord;
    const last = ordered.reduce((a, b) => (a.stoppedAt > b.stoppedAt ? a : b));
    const args = ordered.map((r) => serializer.deserialize(r.args));
    const results = ordered.map((r) => (r.result === null ? undefined : serializer.deserialize(r.result)));
    const failed = ordered.find((r) => !r.success);
    const collated: TaskRecord = {
      ...first,
      id: iter.id,
      name: message.name.replace(/#\d+$/, ''),
      args: serializer.serialize(args),
      result: serializer.serialize(results),
      error: failed?.error ?? null,
      success: failed === undefined,
      group: null,
      startedAt: ordered.reduce((a, b) => (a.startedAt < b.startedAt ? a : b)).startedAt,
      stoppedAt: last.stoppedAt,
      attemptCount: 1,
    };
    const cached = iter.cached ?? false;
    await store.saveMany(
      [collated],
      typeof cached === 'number' && store.capabilities.ttl ? { ttlSeconds: cached } : {},
    );
    await store.deleteGroup(group, { tasks: true });
  }

  async #hook(func: string, record: TaskRecord, trace: Record<string, string> | undefined): Promise<void> {
    const outcome = await this.runHook(func, record, trace);
    if (!outcome.ok) {
      this.runtime.logger.error('hook failed', { hook: func, task: record.name, error: outcome.error?.message });
    }
  }

  /**
   * Logs one warn line per failed execution, and tells error reporters and `retry` listeners (no work when nobody
   * listens). `resentAfterMs`: the retry policy's delay when it re-sent the task, else null.
   */
  #failed(item: FinishedTask, record: TaskRecord, final: boolean, resentAfterMs: number | null): void {
    const { config, events, logger } = this.runtime;
    if (item.outcome.stopped !== undefined) {
      // Asked for, not an error: no warning and nothing sent to error reporters.
      logger.info(`task ${item.outcome.stopped}`, { id: record.id, name: record.name, func: record.func });
      return;
    }
    const reporters = this.runtime.reporters ?? (Array.isArray(config.errorReporters) ? config.errorReporters : []);
    // Without a receipt (sync mode) nothing redelivers the task: this failure is its last.
    const retried = !final && item.receipt !== undefined;
    const resent = resentAfterMs !== null;
    const lost = item.outcome.lost === true;
    // A redelivery comes when this delivery's lease lapses: about `retry` seconds from now.
    const nextRetryMs = !retried ? null : resent ? resentAfterMs : config.retry * 1000;
    logger.warn(retried ? 'task failed; will retry' : 'task failed; no more attempts', {
      code: record.error?.code ?? record.error?.name,
      id: record.id,
      name: record.name,
      func: record.func,
      attempt: record.attemptCount,
      maxAttempts: item.message.maxAttempts ?? config.maxAttempts,
      nextRetry: nextRetryMs === null ? null : new Date(Date.now() + nextRetryMs).toISOString(),
      error: record.error?.message,
    });
    if (reporters.length > 0) reportFailure(reporters, logger, item.message, record, { lost, final: !retried });
    if (retried && events.listenerCount('retry') > 0) {
      const { message } = item;
      events.emit('retry', {
        taskId: message.id,
        name: message.name,
        func: message.func,
        queue: message.cluster ?? config.cluster,
        attempt: record.attemptCount,
        via: resent ? 'policy' : 'redelivery',
      });
    }
  }
}

const NO_STEPS: Promise<void>[] = [];

/** The record's `meta`: progress and logs the task reported, and the dead letter it was redriven from. */
function metaOf(item: FinishedTask): TaskMeta {
  const redrivenFrom = item.message.redrivenFrom;
  return { ...item.meta, ...(redrivenFrom === undefined ? {} : { redrivenFrom }) };
}

/** The group of an iter's sub-tasks; stores never prune it (see ResultStore.prune). */
export function iterGroup(iterId: string): string {
  return `${ITER_GROUP_PREFIX}${iterId}`;
}

/** Sub-task ids of an iter are derived from its id, so collation can order them by input position. */
export function iterSubTaskId(iterId: string, index: number): string {
  return createHash('sha256').update(`${iterId}:${index}`).digest('hex').slice(0, 32);
}

/**
 * Whether a saved failure will run again: its execution count is below the retry budget it ran under
 * (0 = unlimited) and `ackFailure` did not end it. Failures saved before the budget was recorded count as final.
 */
export function awaitsRetry(record: TaskRecord): boolean {
  const error = record.error;
  if (record.success || error === null || error.maxAttempts === undefined || error.ackFailure === true) return false;
  return error.maxAttempts === 0 || record.attemptCount < error.maxAttempts;
}

/** {@link TaskFinisher.isFinal} from a saved state alone: also how the pusher tells a replayed package. */
export function isFinalState(
  config: Pick<ResolvedConfig, 'ackFailures' | 'maxAttempts'>,
  message: TaskMessage,
  state: Pick<TaskRecord, 'success' | 'attemptCount'> & { error?: ErrorInfo | null },
  lost = false,
): boolean {
  if (state.success) return true;
  if (isStoppedCode(state.error?.code)) return true;
  if (!lost && (message.ackFailure ?? config.ackFailures)) return true;
  const maxAttempts = message.maxAttempts ?? config.maxAttempts;
  return maxAttempts > 0 && state.attemptCount >= maxAttempts;
}
