import { ErrorCodes, TaskqError } from '../errors.js';

/**
 * Job control's part of a result store (capability `control`): small keyed
 * string values with an optional expiry, plus counted sets. Everything job
 * control needs across processes is built on these, atomically in every
 * store, so no broker has to learn it:
 *
 * - `dedup:<key>` → task id (idempotent enqueue; {@link ControlStore.claimValue})
 * - `ctl:cancel:id|name|group:<x>` and `ctl:pause:<queue>` (cancel and pause; every cluster lists `ctl:` once per guard cycle)
 * - `progress:<task id>` → a running task's progress and logs as JSON
 * - `redriven:<task id>` → the id of the task a dead letter was redriven as
 * - `fanin:<id>` (the spec of a fan-in group) and the set `fanin:<id>` of members that finished
 *
 * Keys are at most {@link MAX_CONTROL_KEY_LENGTH} characters, values at most
 * {@link MAX_CONTROL_VALUE_BYTES}. A value whose expiry has passed is gone
 * for every call (whether or not the store has deleted it yet). `ttlMs: null`
 * keeps a value until it is deleted.
 */
export interface ControlStore {
  /**
   * Sets `key` to `value` unless it holds a live value, atomically across processes: returns null when this call
   * set it, else the value that holds it (which stays). The same value already there also returns it.
   */
  claimValue(key: string, value: string, ttlMs: number | null): Promise<string | null>;
  /** Sets (or replaces) the value and its expiry. */
  setValue(key: string, value: string, ttlMs: number | null): Promise<void>;
  /** The live values of the keys that have one, in one round trip where the store can. */
  getValues(keys: readonly string[]): Promise<Map<string, string>>;
  /** Deletes the key; with `expected`, only while it holds exactly that value. True when a value was deleted. */
  deleteValue(key: string, expected?: string): Promise<boolean>;
  /**
   * Every live value whose key starts with `prefix`, which is always a namespace ending in ':' (such as `ctl:`):
   * stores may index keys by namespace. At most `limit` entries (default 10,000).
   */
  listValues(prefix: string, limit?: number): Promise<Map<string, string>>;
  /**
   * Adds `member` to the set `key` and returns the set's size after the add, atomically across processes: of N
   * concurrent adds of distinct members to an empty set, exactly one sees N. Adding a member again changes nothing
   * (and returns the size). `ttlMs` (re)sets the whole set's expiry.
   */
  addMember(key: string, member: string, ttlMs: number | null): Promise<number>;
}

export const MAX_CONTROL_KEY_LENGTH = 512;
export const MAX_CONTROL_VALUE_BYTES = 64 * 1024;
export const DEFAULT_LIST_VALUES_LIMIT = 10_000;

function invalid(message: string): TaskqError {
  return new TaskqError(ErrorCodes.INVALID_ARGUMENT, message);
}

export function checkControlKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key === '' || key.length > MAX_CONTROL_KEY_LENGTH) {
    throw invalid(`A control key must be a non-empty string of at most ${MAX_CONTROL_KEY_LENGTH} characters.`);
  }
}

export function checkControlValue(value: unknown): asserts value is string {
  if (typeof value !== 'string') throw invalid('A control value must be a string.');
  if (Buffer.byteLength(value) > MAX_CONTROL_VALUE_BYTES) {
    throw invalid(`A control value must be at most ${MAX_CONTROL_VALUE_BYTES} bytes.`);
  }
}

export function checkTtl(ttlMs: unknown): asserts ttlMs is number | null {
  if (ttlMs !== null && !(typeof ttlMs === 'number' && Number.isFinite(ttlMs) && ttlMs >= 1)) {
    throw invalid('A control ttlMs must be null (no expiry) or a number of milliseconds ≥ 1.');
  }
}

export function checkNamespace(prefix: unknown): asserts prefix is string {
  if (typeof prefix !== 'string' || !/^[^:]+:$/.test(prefix)) {
    throw invalid("listValues() takes a namespace prefix: one word followed by ':' (such as 'ctl:').");
  }
}
