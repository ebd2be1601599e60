import { awaitsRetry } from '../cluster/finisher.js';
import { REJECTED_FUNC } from '../cluster/pusher.js';
import type { Runtime } from '../cluster/runtime.js';
import {
  CANCEL_MARK_TTL_MS,
  CONTROL_NAMESPACE,
  controlKeys,
  markTime,
  markValue,
  parseControlKey,
} from '../control/keys.js';
import { isStoppedCode } from '../control/stopped.js';
import { ErrorCodes, TaskqError } from '../errors.js';
import type { ResultStore } from '../store/result-store.js';
import { isTaskId } from '../task/ids.js';
import type { DedupMode, TaskMessage, TaskMeta, TaskRecord } from '../task/task.js';

/** Refuses, naming the feature, when the store cannot do job control (rather than silently doing nothing). */
export function requireControl(store: ResultStore, feature: string): void {
  if (!store.capabilities.control) {
    throw new TaskqError(
      ErrorCodes.UNSUPPORTED,
      `${feature} needs a result store with job control (capability \`control\`): the memory, Redis, SQL and ` +
        `MongoDB stores have it; ${store.constructor.name} does not.`,
    );
  }
}

/** Whether a saved record is done for good (so a dedup key it still holds is stale, and it cannot be cancelled). */
function isDone(record: TaskRecord | null): boolean {
  return record !== null && (record.success || !awaitsRetry(record));
}

/**
 * Claims a message's dedup key for it. Returns null when the message may be sent, or the id of the task that
 * holds the key (waiting or running). A key still held by a task that finished for good (its release was lost
 * with a crash) is taken over, unless it holds for a fixed time.
 */
export async function claimDedupKey(runtime: Runtime, message: TaskMessage): Promise<string | null> {
  const dedup = message.dedup as { key: string; mode: DedupMode };
  const key = controlKeys.dedup(dedup.key);
  const ttlMs = typeof dedup.mode === 'object' ? dedup.mode.ttlMs : null;
  for (let attempt = 0; attempt < 3; attempt++) {
    const holder = await runtime.store.claimValue(key, message.id, ttlMs);
    if (holder === null || holder === message.id) return null;
    if (ttlMs !== null || !isDone(await runtime.store.get(holder))) return holder;
    await runtime.store.deleteValue(key, holder);
  }
  throw new TaskqError(ErrorCodes.STORE_UNAVAILABLE, `Could not claim dedup key "${dedup.key}" (contended).`);
}

/** Frees keys claimed for messages that were then not sent. */
export async function releaseDedupKeys(runtime: Runtime, messages: readonly TaskMessage[]): Promise<void> {
  await Promise.all(
    messages.map((m) =>
      runtime.store.deleteValue(controlKeys.dedup((m.dedup as { key: string }).key), m.id).catch(() => false),
    ),
  );
}

/**
 * Cancels a task by id or name: a waiting one never runs, a running one has its signal aborted within a guard
 * cycle (its thread terminated if it ignores it). False when the task (by id) already finished for good.
 */
export async function cancelTask(runtime: Runtime, idOrName: string): Promise<boolean> {
  const { store } = runtime;
  requireControl(store, 'cancel()');
  if (typeof idOrName !== 'string' || idOrName === '') {
    throw new TaskqError(ErrorCodes.INVALID_ARGUMENT, 'cancel() needs a task id or name.');
  }
  const byId = isTaskId(idOrName);
  if (byId && isDone(await store.get(idOrName))) return false;
  await store.setValue(controlKeys.cancel(byId ? 'id' : 'name', idOrName), markValue(), CANCEL_MARK_TTL_MS);
  return true;
}

/** Cancels every task of a group enqueued so far (waiting or running, on any cluster). */
export async function cancelGroup(runtime: Runtime, group: string): Promise<void> {
  requireControl(runtime.store, 'cancelGroup()');
  if (typeof group !== 'string' || group === '') {
    throw new TaskqError(ErrorCodes.INVALID_ARGUMENT, 'cancelGroup() needs a group name.');
  }
  await runtime.store.setValue(controlKeys.cancel('group', group), markValue(), CANCEL_MARK_TTL_MS);
}

export async function pauseQueue(runtime: Runtime, queue: string): Promise<void> {
  requireControl(runtime.store, 'pauseQueue()');
  await runtime.store.setValue(controlKeys.pause(queue), markValue(), null);
}

export async function resumeQueue(runtime: Runtime, queue: string): Promise<boolean> {
  requireControl(runtime.store, 'resumeQueue()');
  return runtime.store.deleteValue(controlKeys.pause(queue));
}

/** Paused queues, with when each was paused. */
export async function pausedQueues(runtime: Runtime): Promise<{ queue: string; since: Date }[]> {
  if (!runtime.store.capabilities.control) return [];
  const out: { queue: string; since: Date }[] = [];
  for (const [key, value] of await runtime.store.listValues(CONTROL_NAMESPACE)) {
    const mark = parseControlKey(key);
    if (mark.kind === 'pause') out.push({ queue: mark.queue, since: new Date(markTime(value)) });
  }
  return out.sort((a, b) => a.queue.localeCompare(b.queue));
}

/**
 * A task's progress and log lines: from its record once it finished, else what its cluster last wrote while it
 * runs (every 500 ms at most). Null when it reported none (or is unknown).
 */
export async function taskProgress(runtime: Runtime, id: string): Promise<TaskMeta | null> {
  const record = await runtime.store.get(id);
  if (record !== null) return record.meta ?? null;
  if (!runtime.store.capabilities.control) return null;
  const text = (await runtime.store.getValues([controlKeys.progress(id)])).get(controlKeys.progress(id));
  return text === undefined ? null : (JSON.parse(text) as TaskMeta);
}

/**
 * A dead letter: a failure with no attempt left (or acknowledged as failed) — not a rejected package, not a
 * cancelled or expired task, not a fan-in callback skipped because a member failed.
 */
export function isDeadLetter(record: TaskRecord): boolean {
  if (record.success || record.func === REJECTED_FUNC || awaitsRetry(record)) return false;
  const code = record.error?.code;
  return !isStoppedCode(code) && code !== ErrorCodes.GROUP_MEMBER_FAILED;
}
