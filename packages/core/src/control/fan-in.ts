import { createHash } from 'node:crypto';
import { ErrorCodes, TaskqError, toErrorInfo } from '../errors.js';
import type { Runtime } from '../cluster/runtime.js';
import { buildTaskMessage } from '../task/message.js';
import type { ChainLink, TaskMessage, TaskRecord } from '../task/task.js';
import { controlKeys, FANIN_TTL_MS } from './keys.js';

/** What to do with the callback when a member failed (after its last attempt), was cancelled or expired. */
export type FanInFailurePolicy = 'run' | 'skip';

/** Kept in the control store under `fanin:<id>` when the group is enqueued; read by the member that finishes last. */
export interface FanInSpec {
  /** How many members; their ids are derived from the group's id and position ({@link fanInMemberId}). */
  count: number;
  then: ChainLink;
  onFailure: FanInFailurePolicy;
  /** The group label every member is saved under. */
  group: string;
  callbackId: string;
  cluster?: string;
}

/** A failed member's slot in the callback's results (with `onFailure: 'run'`). */
export interface FanInFailure {
  failed: true;
  id: string;
  code: string | null;
  message: string;
}

/** Member ids are derived from the group's id and the member's position, so the spec need not list them. */
export function fanInMemberId(groupId: string, index: number): string {
  return createHash('sha256').update(`${groupId}:member:${index}`).digest('hex').slice(0, 32);
}

/** The callback's id is derived from the group's, so a second send of it is a replay, never a second task. */
export function fanInCallbackId(groupId: string): string {
  return createHash('sha256').update(`${groupId}:then`).digest('hex').slice(0, 32);
}

/**
 * Counts a member that is done for good (success, last failed attempt, cancelled, expired) and, when it is the
 * last, sends the callback with every member's result in input order. Exactly one of N members finishing at
 * the same instant on different clusters sees the count reach N (the store's atomic `addMember`), and the
 * `fanin-fired` claim stops a second sender; a member whose package is delivered again after a crash runs this
 * again and may send the callback again under the same id, which then runs once (a finished id is a replay).
 */
export async function completeFanInMember(runtime: Runtime, message: TaskMessage): Promise<void> {
  const fanIn = message.fanIn;
  if (fanIn === undefined) return;
  const { store, logger } = runtime;
  const done = await store.addMember(controlKeys.fanInMembers(fanIn.id), String(fanIn.index), FANIN_TTL_MS);
  if (done < fanIn.count) return;
  const specText = (await store.getValues([controlKeys.fanInSpec(fanIn.id)])).get(controlKeys.fanInSpec(fanIn.id));
  if (specText === undefined) {
    logger.error('fan-in group finished but its spec is gone (expired?): the callback cannot be sent', {
      group: fanIn.id,
    });
    return;
  }
  const spec = JSON.parse(specText) as FanInSpec;
  const firedBy = await store.claimValue(controlKeys.fanInFired(fanIn.id), String(fanIn.index), FANIN_TTL_MS);
  if (firedBy !== null && firedBy !== String(fanIn.index)) return; // another member sent it
  const records = new Map((await store.getGroup(spec.group, { failures: true })).map((r) => [r.id, r]));
  const ids = Array.from({ length: spec.count }, (_, index) => fanInMemberId(fanIn.id, index));
  const slots = ids.map((id) => memberSlot(runtime, id, records.get(id)));
  const failed = slots.filter((slot): slot is FanInFailure => isFailure(slot));
  if (failed.length > 0 && spec.onFailure === 'skip') {
    await saveSkippedCallback(runtime, spec, failed);
    return;
  }
  const callback = buildTaskMessage({
    id: spec.callbackId,
    func: spec.then.func,
    args: [slots, ...spec.then.args],
    ...(spec.then.options === undefined ? {} : { options: spec.then.options }),
    ...(spec.cluster === undefined ? {} : { cluster: spec.cluster }),
  });
  await runtime.send(callback);
}

function isFailure(slot: unknown): slot is FanInFailure {
  return typeof slot === 'object' && slot !== null && (slot as FanInFailure).failed === true;
}

function memberSlot(runtime: Runtime, id: string, record: TaskRecord | undefined): unknown {
  if (record === undefined) {
    return { failed: true, id, code: 'TASKQ_RESULT_MISSING', message: 'No saved record (pruned or expired).' };
  }
  if (!record.success) {
    return { failed: true, id, code: record.error?.code ?? null, message: record.error?.message ?? 'failed' };
  }
  return record.result === null ? undefined : runtime.serializer.deserialize(record.result);
}

/** With `onFailure: 'skip'` the callback never runs; its record says why, so `q.fetch(callbackId)` answers. */
async function saveSkippedCallback(runtime: Runtime, spec: FanInSpec, failed: FanInFailure[]): Promise<void> {
  const now = new Date();
  const error = new TaskqError(
    ErrorCodes.GROUP_MEMBER_FAILED,
    `${failed.length} of ${spec.count} group members failed (first: ${failed[0]?.id}, ${failed[0]?.code}): ` +
      "the callback did not run (onFailure: 'skip').",
  );
  await runtime.store.saveMany([
    {
      id: spec.callbackId,
      name: spec.then.options?.taskName ?? `${spec.group}-then`,
      func: spec.then.func,
      args: runtime.serializer.serialize(spec.then.args),
      result: null,
      error: toErrorInfo(error),
      success: false,
      group: null,
      hook: spec.then.options?.hook ?? null,
      cluster: spec.cluster ?? runtime.config.cluster,
      enqueuedAt: now,
      startedAt: now,
      stoppedAt: now,
      attemptCount: 1,
    },
  ]);
}
