import { boundedCall, DEFAULT_CALL_TIMEOUT_MS, settleWithin } from '../broker/broker.js';
import { ErrorCodes, TaskqError } from '../errors.js';
import type { ClusterStat } from '../stats/cluster-stat.js';
import type { TaskRecord } from '../task/task.js';
import {
  checkControlKey,
  checkControlValue,
  checkNamespace,
  checkTtl,
  DEFAULT_LIST_VALUES_LIMIT,
  type ControlStore,
} from './control-store.js';

/**
 * The ResultStore contract: where finished tasks are saved and where the
 * client API and the dashboard read them. Extend {@link BaseResultStore} and
 * run `@taskq/conformance`'s store suite against the implementation.
 *
 * Save rule (Django Q's): saving an id that exists and already succeeded
 * changes nothing; saving an id that exists as a failure overwrites it and
 * adds one to `attemptCount`; a new id starts at attemptCount 1.
 */
export interface ResultStore extends ControlStore {
  readonly capabilities: StoreCapabilities;
  /** Save records in order; returns each record's attemptCount after the save. */
  saveMany(records: readonly TaskRecord[], options?: SaveOptions): Promise<number[]>;
  /** By 32-hex id first, then by name (the newest record with that name). */
  get(idOrName: string): Promise<TaskRecord | null>;
  /**
   * The saved state of each id that has a live record, in one round trip where the store can: what the pusher
   * checks before running a batch, so a replayed package of a finished task never runs again.
   */
  getStates(ids: readonly string[]): Promise<Map<string, TaskState>>;
  /** Records of a group in the order they finished. Successes only unless `failures`. */
  getGroup(group: string, options?: { failures?: boolean }): Promise<TaskRecord[]>;
  /** With failures=false: every record of the group; with true: only failures (Django Q's count_group). */
  countGroup(group: string, options?: { failures?: boolean }): Promise<number>;
  /** Deletes the group's records with tasks=true, else clears their group label. Returns the count. */
  deleteGroup(group: string, options?: { tasks?: boolean }): Promise<number>;
  /** Newest first (by stoppedAt). */
  list(query?: ListQuery): Promise<{ records: TaskRecord[]; total: number }>;
  /**
   * The dashboard's and `taskq tasks list`'s query: every filter of
   * {@link SearchQuery} combined with AND, newest first (stoppedAt descending;
   * ties in a stable order of the store's choosing), one page at a time with
   * an opaque cursor (keyset pagination, never OFFSET). Pass the returned
   * `nextCursor` back with the same filters for the next page; it is null on
   * the last page. No total: counting every match is what makes big lists slow.
   */
  search(query?: SearchQuery): Promise<SearchPage>;
  /**
   * Finished tasks per time bucket, successes and failures apart, for the
   * dashboard's charts. Buckets start at `since` and step by `bucketMs`
   * (bucket i covers [since + i·bucketMs, since + (i+1)·bucketMs)), the last
   * one ending at or after `until`; every bucket is returned, empty ones as 0.
   */
  throughput(query: ThroughputQuery): Promise<ThroughputBucket[]>;
  delete(id: string): Promise<boolean>;
  /**
   * Keep only the newest `keep` successes (per group/name/func when `per` is
   * set). Never deletes records whose group starts with {@link ITER_GROUP_PREFIX}:
   * those are an unfinished iter's sub-tasks, folded into one record when the
   * iter completes. Returns how many were deleted.
   */
  prune(options: { keep: number; per?: SaveLimitPer | null }): Promise<number>;
  ping(): Promise<void>;
  setStat(key: string, stat: ClusterStat, ttlSeconds: number): Promise<void>;
  getStats(): Promise<ClusterStat[]>;
  deleteStat(key: string): Promise<void>;
  close(): Promise<void>;
  readonly closed: boolean;
}

/** What {@link ResultStore.getStates} reports of a saved task. */
export interface TaskState {
  success: boolean;
  attemptCount: number;
}

/** Groups with this prefix hold an iter's sub-task records until collation; pruning skips them. */
export const ITER_GROUP_PREFIX = 'iter:';

export type SaveLimitPer = 'group' | 'name' | 'func';

export interface SaveOptions {
  /** Expire the saved records after this many seconds (capability `ttl`; Django Q's `cached`). */
  ttlSeconds?: number;
}

export interface ListQuery {
  success?: boolean;
  group?: string;
  func?: string;
  name?: string;
  limit?: number;
  offset?: number;
}

/**
 * Filters of {@link ResultStore.search}. Omitted or undefined fields do not filter.
 * - `func`, `name`, `group`, `cluster`: exact match.
 * - `state`: `success` or `failure`.
 * - `since` / `until`: stoppedAt in [since, until).
 * - `text`: a case-insensitive substring of the record's serialized `args`, its
 *   serialized `result` or its error's message/name/code/stack (stores search
 *   the stored text, so `"id":42` finds an argument object with id 42). At
 *   least 3 characters where the store uses a trigram index (PostgreSQL);
 *   shorter text still works there, only without the index.
 */
export interface SearchQuery {
  func?: string;
  name?: string;
  group?: string;
  cluster?: string;
  state?: 'success' | 'failure';
  since?: Date;
  until?: Date;
  text?: string;
  /** Page size, 1…1000; default 50. */
  limit?: number;
  /** `nextCursor` of the previous page; omit for the first page. */
  cursor?: string | null;
}

export interface SearchPage {
  records: TaskRecord[];
  /** Pass back as `cursor` for the next page; null when this page is the last. */
  nextCursor: string | null;
}

export interface ThroughputQuery {
  since: Date;
  until: Date;
  /** Bucket width in ms; at least 1000, and at most 10,000 buckets per call. */
  bucketMs: number;
  func?: string;
  cluster?: string;
}

export interface ThroughputBucket {
  /** Start of the bucket. */
  at: Date;
  success: number;
  failure: number;
}

/** A search already validated and normalised by {@link BaseResultStore}: the cursor decoded. */
export interface NormalizedSearch extends Omit<SearchQuery, 'limit' | 'cursor'> {
  limit: number;
  /** The last record of the previous page: continue strictly after it. */
  after: SearchCursor | null;
}

/** The position a cursor encodes: a record's stoppedAt (ms) and a store-specific tie-breaker. */
export interface SearchCursor {
  stoppedAt: number;
  /** The tie-breaker: the record id for the memory and SQL stores; the Redis store uses its index score. */
  key: string;
}

/** Encodes a cursor as opaque URL-safe text. */
export function encodeSearchCursor(cursor: SearchCursor): string {
  return Buffer.from(JSON.stringify([cursor.stoppedAt, cursor.key]), 'utf8').toString('base64url');
}

/** Decodes a cursor made by {@link encodeSearchCursor}; bad text → TASKQ_INVALID_ARGUMENT. */
export function decodeSearchCursor(text: string): SearchCursor {
  try {
    const value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(value) && Number.isFinite(value[0]) && typeof value[1] === 'string') {
      return { stoppedAt: value[0] as number, key: value[1] };
    }
  } catch {
    // reported below
  }
  throw new TaskqError(
    ErrorCodes.INVALID_ARGUMENT,
    "search(): `cursor` is not a cursor this store returned; pass the previous page's nextCursor or omit it.",
  );
}

/**
 * Whether a record matches every filter except the cursor: the reference
 * semantics of {@link SearchQuery} (the memory and Redis stores use it as is).
 */
export function matchesSearch(record: TaskRecord, query: Omit<NormalizedSearch, 'limit' | 'after'>): boolean {
  if (query.func !== undefined && record.func !== query.func) return false;
  if (query.name !== undefined && record.name !== query.name) return false;
  if (query.group !== undefined && record.group !== query.group) return false;
  if (query.cluster !== undefined && record.cluster !== query.cluster) return false;
  if (query.state !== undefined && record.success !== (query.state === 'success')) return false;
  const stopped = record.stoppedAt.getTime();
  if (query.since !== undefined && stopped < query.since.getTime()) return false;
  if (query.until !== undefined && stopped >= query.until.getTime()) return false;
  if (query.text !== undefined && query.text !== '') {
    const needle = query.text.toLowerCase();
    const e = record.error;
    const haystacks = [record.args, record.result, e?.message, e?.name, e?.code, e?.stack];
    if (!haystacks.some((h) => typeof h === 'string' && h.toLowerCase().includes(needle))) return false;
  }
  return true;
}

const SEARCH_STRINGS = ['func', 'name', 'group', 'cluster', 'text'] as const;

function normalizeSearch(query: SearchQuery): NormalizedSearch {
  const bad = (message: string) => new TaskqError(ErrorCodes.INVALID_ARGUMENT, `search(): ${message}`);
  const limit = query.limit ?? 50;
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw bad('`limit` must be an integer from 1 to 1000.');
  if (query.state !== undefined && query.state !== 'success' && query.state !== 'failure') {
    throw bad("`state` must be 'success' or 'failure'.");
  }
  for (const key of SEARCH_STRINGS) {
    if (query[key] !== undefined && typeof query[key] !== 'string') throw bad(`\`${key}\` must be a string.`);
  }
  for (const key of ['since', 'until'] as const) {
    const value = query[key];
    if (value !== undefined && !(value instanceof Date && Number.isFinite(value.getTime()))) {
      throw bad(`\`${key}\` must be a valid Date.`);
    }
  }
  const out: NormalizedSearch = { limit, after: query.cursor ? decodeSearchCursor(query.cursor) : null };
  for (const key of SEARCH_STRINGS) if (query[key] !== undefined) out[key] = query[key];
  if (out.text === '') delete out.text;
  if (query.state !== undefined) out.state = query.state;
  if (query.since !== undefined) out.since = query.since;
  if (query.until !== undefined) out.until = query.until;
  return out;
}

function normalizeThroughput(query: ThroughputQuery): ThroughputQuery {
  const bad = (message: string) => new TaskqError(ErrorCodes.INVALID_ARGUMENT, `throughput(): ${message}`);
  const since = query?.since;
  const until = query?.until;
  if (!(since instanceof Date) || !(until instanceof Date) || !(since.getTime() < until.getTime())) {
    throw bad('`since` and `until` must be Dates with since before until.');
  }
  if (!Number.isFinite(query.bucketMs) || query.bucketMs < 1000) throw bad('`bucketMs` must be at least 1000.');
  if ((until.getTime() - since.getTime()) / query.bucketMs > 10_000) {
    throw bad('at most 10,000 buckets per call: widen `bucketMs` or narrow the range.');
  }
  return query;
}

/** Empty buckets covering [since, until) — what throughput implementations fill in. */
export function emptyBuckets(query: ThroughputQuery): ThroughputBucket[] {
  const start = query.since.getTime();
  const count = Math.max(1, Math.ceil((query.until.getTime() - start) / query.bucketMs));
  return Array.from({ length: count }, (_, i) => ({
    at: new Date(start + i * query.bucketMs),
    success: 0,
    failure: 0,
  }));
}

export interface StoreCapabilities {
  /** setStat/getStats work. */
  stats: boolean;
  /** saveMany honours ttlSeconds. */
  ttl: boolean;
  /**
   * The {@link ControlStore} calls work (idempotent enqueue, cancel, pause, progress, dead-letter redrive, fan-in).
   * Without it those features refuse with TASKQ_UNSUPPORTED.
   */
  control: boolean;
}

export interface StoreFactoryOptions {
  /** The cluster name, used as a key prefix where the store needs one. */
  namespace: string;
}

export interface StoreFactory {
  readonly schemes: readonly string[];
  create(url: string, options: StoreFactoryOptions): ResultStore | Promise<ResultStore>;
}

/** Validates arguments and `close()` state, then calls the `_` hooks. */
export abstract class BaseResultStore implements ResultStore {
  abstract readonly capabilities: StoreCapabilities;
  /** Longest wait for the server per call before TASKQ_STORE_UNAVAILABLE; the runtime sets it from `brokerTimeout`. */
  callTimeoutMs = DEFAULT_CALL_TIMEOUT_MS;
  #closed = false;
  #closing: Promise<void> | undefined;

  get closed(): boolean {
    return this.#closed;
  }

  protected assertOpen(): void {
    if (this.#closed) throw new TaskqError(ErrorCodes.STORE_CLOSED, 'Result store is closed; create a new one.');
  }
  /** Runs an adapter hook with the bounded wait: an unreachable server is a typed error, never a hang. */
  #bounded<T>(what: string, call: () => Promise<T>): Promise<T> {
    return boundedCall(
      call(),
      this.callTimeoutMs,
      ErrorCodes.STORE_UNAVAILABLE,
      () =>
        `The result store did not answer ${what} within ${this.callTimeoutMs} ms: ` +
        'check that its server runs and is reachable (the wait is the `brokerTimeout` option).',
    );
  }

  async saveMany(records: readonly TaskRecord[], options: SaveOptions = {}): Promise<number[]> {
    this.assertOpen();
    if (records.length === 0) return [];
    return this.#bounded('saveMany', () => this._saveMany(records, options));
  }

  async get(idOrName: string): Promise<TaskRecord | null> {
    this.assertOpen();
    if (typeof idOrName !== 'string' || idOrName === '') {
      throw new TaskqError(ErrorCodes.INVALID_ARGUMENT, 'get() needs a task id or name (a non-empty string).');
    }
    return this.#bounded('get', () => this._get(idOrName));
  }
  async getStates(ids: readonly string[]): Promise<Map<string, TaskState>> {
    this.assertOpen();
    if (ids.length === 0) return new Map();
    return this.#bounded('getStates', () => this._getStates(ids));
  }

  async getGroup(group: string, options: { failures?: boolean } = {}): Promise<TaskRecord[]> {
    this.assertOpen();
    return this.#bounded('getGroup', () => this._getGroup(group, options.failures ?? false));
  }

  async countGroup(group: string, options: { failures?: boolean } = {}): Promise<number> {
    this.assertOpen();
    return this.#bounded('countGroup', () => this._countGroup(group, options.failures ?? false));
  }

  async deleteGroup(group: string, options: { tasks?: boolean } = {}): Promise<number> {
    this.assertOpen();
    return this.#bounded('deleteGroup', () => this._deleteGroup(group, options.tasks ?? false));
  }

  async list(query: ListQuery = {}): Promise<{ records: TaskRecord[]; total: number }> {
    this.assertOpen();
    return this.#bounded('list', () => this._list({ ...query, limit: query.limit ?? 100, offset: query.offset ?? 0 }));
  }

  async search(query: SearchQuery = {}): Promise<SearchPage> {
    this.assertOpen();
    return this.#bounded('search', () => this._search(normalizeSearch(query)));
  }

  async throughput(query: ThroughputQuery): Promise<ThroughputBucket[]> {
    this.assertOpen();
    return this.#bounded('throughput', () => this._throughput(normalizeThroughput(query)));
  }

  async delete(id: string): Promise<boolean> {
    this.assertOpen();
    return this.#bounded('delete', () => this._delete(id));
  }

  async prune(options: { keep: number; per?: SaveLimitPer | null }): Promise<number> {
    this.assertOpen();
    if (!(options.keep > 0)) return 0;
    return this.#bounded('prune', () => this._prune(options.keep, options.per ?? null));
  }

  async ping(): Promise<void> {
    this.assertOpen();
    await this.#bounded('ping', () => this._ping());
  }

  async setStat(key: string, stat: ClusterStat, ttlSeconds: number): Promise<void> {
    this.assertOpen();
    await this.#bounded('setStat', () => this._setStat(key, stat, ttlSeconds));
  }

  async getStats(): Promise<ClusterStat[]> {
    this.assertOpen();
    return this.#bounded('getStats', () => this._getStats());
  }

  async deleteStat(key: string): Promise<void> {
    this.assertOpen();
    await this.#bounded('deleteStat', () => this._deleteStat(key));
  }

  #assertControl(what: string): void {
    this.assertOpen();
    if (!this.capabilities.control) {
      throw new TaskqError(
        ErrorCodes.UNSUPPORTED,
        `${what} needs a result store with job control (capability \`control\`); ${this.constructor.name} has none. ` +
          'Use the memory, Redis, SQL or MongoDB store.',
      );
    }
  }

  async claimValue(key: string, value: string, ttlMs: number | null): Promise<string | null> {
    this.#assertControl('claimValue()');
    checkControlKey(key);
    checkControlValue(value);
    checkTtl(ttlMs);
    return this.#bounded('claimValue', () => this._claimValue(key, value, ttlMs));
  }

  async setValue(key: string, value: string, ttlMs: number | null): Promise<void> {
    this.#assertControl('setValue()');
    checkControlKey(key);
    checkControlValue(value);
    checkTtl(ttlMs);
    await this.#bounded('setValue', () => this._setValue(key, value, ttlMs));
  }

  async getValues(keys: readonly string[]): Promise<Map<string, string>> {
    this.#assertControl('getValues()');
    keys.forEach((key) => checkControlKey(key));
    if (keys.length === 0) return new Map();
    return this.#bounded('getValues', () => this._getValues([...new Set(keys)]));
  }

  async deleteValue(key: string, expected?: string): Promise<boolean> {
    this.#assertControl('deleteValue()');
    checkControlKey(key);
    if (expected !== undefined) checkControlValue(expected);
    return this.#bounded('deleteValue', () => this._deleteValue(key, expected));
  }

  async listValues(prefix: string, limit = DEFAULT_LIST_VALUES_LIMIT): Promise<Map<string, string>> {
    this.#assertControl('listValues()');
    checkNamespace(prefix);
    if (!Number.isInteger(limit) || limit < 1)
      throw new TaskqError(ErrorCodes.INVALID_ARGUMENT, 'listValues() limit must be a positive integer.');
    return this.#bounded('listValues', () => this._listValues(prefix, limit));
  }

  async addMember(key: string, member: string, ttlMs: number | null): Promise<number> {
    this.#assertControl('addMember()');
    checkControlKey(key);
    checkControlKey(member);
    checkTtl(ttlMs);
    return this.#bounded('addMember', () => this._addMember(key, member, ttlMs));
  }

  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    // Bounded too: closing must not hang a stop while the server is unreachable.
    this.#closing = settleWithin(this._close(), this.callTimeoutMs);
    return this.#closing;
  }

  protected abstract _saveMany(records: readonly TaskRecord[], options: SaveOptions): Promise<number[]>;
  protected abstract _get(idOrName: string): Promise<TaskRecord | null>;
  /** Default: one `_get` per id; stores override it with one round trip. */
  protected async _getStates(ids: readonly string[]): Promise<Map<string, TaskState>> {
    const states = new Map<string, TaskState>();
    for (const id of ids) {
      const record = await this._get(id);
      if (record?.id === id) states.set(id, { success: record.success, attemptCount: record.attemptCount });
    }
    return states;
  }
  protected abstract _getGroup(group: string, failures: boolean): Promise<TaskRecord[]>;
  protected abstract _countGroup(group: string, failures: boolean): Promise<number>;
  protected abstract _deleteGroup(group: string, tasks: boolean): Promise<number>;
  protected abstract _list(
    query: ListQuery & { limit: number; offset: number },
  ): Promise<{ records: TaskRecord[]; total: number }>;
  protected abstract _delete(id: string): Promise<boolean>;
  protected abstract _prune(keep: number, per: SaveLimitPer | null): Promise<number>;
  /**
   * Implementations return up to `limit` records after `query.after`, and a
   * `nextCursor` (from {@link encodeSearchCursor}) when more may follow.
   * Not abstract only so that stores written before search existed still
   * compile; the conformance suite requires it.
   */
  protected async _search(_query: NormalizedSearch): Promise<SearchPage> {
    throw new TaskqError(ErrorCodes.INVALID_ARGUMENT, `${this.constructor.name} does not implement search() yet.`);
  }
  protected async _throughput(_query: ThroughputQuery): Promise<ThroughputBucket[]> {
    throw new TaskqError(ErrorCodes.INVALID_ARGUMENT, `${this.constructor.name} does not implement throughput() yet.`);
  }
  protected async _ping(): Promise<void> {}
  protected async _setStat(_key: string, _stat: ClusterStat, _ttlSeconds: number): Promise<void> {
    throw new TaskqError(ErrorCodes.INVALID_ARGUMENT, 'This store keeps no cluster stats.');
  }
  protected async _getStats(): Promise<ClusterStat[]> {
    return [];
  }
  protected async _deleteStat(_key: string): Promise<void> {}
  // Job control (capability `control`): see ControlStore for the semantics every store must keep.
  protected async _claimValue(_key: string, _value: string, _ttlMs: number | null): Promise<string | null> {
    throw new TaskqError(ErrorCodes.UNSUPPORTED, `${this.constructor.name} does not implement claimValue().`);
  }
  protected async _setValue(_key: string, _value: string, _ttlMs: number | null): Promise<void> {
    throw new TaskqError(ErrorCodes.UNSUPPORTED, `${this.constructor.name} does not implement setValue().`);
  }
  protected async _getValues(_keys: readonly string[]): Promise<Map<string, string>> {
    throw new TaskqError(ErrorCodes.UNSUPPORTED, `${this.constructor.name} does not implement getValues().`);
  }
  protected async _deleteValue(_key: string, _expected: string | undefined): Promise<boolean> {
    throw new TaskqError(ErrorCodes.UNSUPPORTED, `${this.constructor.name} does not implement deleteValue().`);
  }
  protected async _listValues(_prefix: string, _limit: number): Promise<Map<string, string>> {
    throw new TaskqError(ErrorCodes.UNSUPPORTED, `${this.constructor.name} does not implement listValues().`);
  }
  protected async _addMember(_key: string, _member: string, _ttlMs: number | null): Promise<number> {
    throw new TaskqError(ErrorCodes.UNSUPPORTED, `${this.constructor.name} does not implement addMember().`);
  }
  protected abstract _close(): Promise<void>;
}
