import { ErrorCodes, TaskqError } from '../errors.js';
import type { ClusterStat } from '../stats/cluster-stat.js';
import type { TaskRecord } from '../task/task.js';

/**
 * The ResultStore contract: where finished tasks are saved and where the
 * client API and the dashboard read them. Extend {@link BaseResultStore} and
 * run `@taskq/conformance`'s store suite against the implementation.
 *
 * Save rule (Django Q's): saving an id that exists and already succeeded
 * changes nothing; saving an id that exists as a failure overwrites it and
 * adds one to `attemptCount`; a new id starts at attemptCount 1.
 */
export interface ResultStore {
  readonly capabilities: StoreCapabilities;
  /** Save records in order; returns each record's attemptCount after the save. */
  saveMany(records: readonly TaskRecord[], options?: SaveOptions): Promise<number[]>;
  /** By 32-hex id first, then by name (the newest record with that name). */
  get(idOrName: string): Promise<TaskRecord | null>;
  /** Records of a group in the order they finished. Successes only unless `failures`. */
  getGroup(group: string, options?: { failures?: boolean }): Promise<TaskRecord[]>;
  /** With failures=false: every record of the group; with true: only failures (Django Q's count_group). */
  countGroup(group: string, options?: { failures?: boolean }): Promise<number>;
  /** Deletes the group's records with tasks=true, else clears their group label. Returns the count. */
  deleteGroup(group: string, options?: { tasks?: boolean }): Promise<number>;
  /** Newest first (by stoppedAt). */
  list(query?: ListQuery): Promise<{ records: TaskRecord[]; total: number }>;
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

export interface StoreCapabilities {
  /** setStat/getStats work. */
  stats: boolean;
  /** saveMany honours ttlSeconds. */
  ttl: boolean;
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
  #closed = false;
  #closing: Promise<void> | undefined;

  get closed(): boolean {
    return this.#closed;
  }

  protected assertOpen(): void {
    if (this.#closed) throw new TaskqError(ErrorCodes.STORE_CLOSED, 'Result store is closed; create a new one.');
  }

  async saveMany(records: readonly TaskRecord[], options: SaveOptions = {}): Promise<number[]> {
    this.assertOpen();
    if (records.length === 0) return [];
    return this._saveMany(records, options);
  }

  async get(idOrName: string): Promise<TaskRecord | null> {
    this.assertOpen();
    if (typeof idOrName !== 'string' || idOrName === '') {
      throw new TaskqError(ErrorCodes.INVALID_ARGUMENT, 'get() needs a task id or name (a non-empty string).');
    }
    return this._get(idOrName);
  }

  async getGroup(group: string, options: { failures?: boolean } = {}): Promise<TaskRecord[]> {
    this.assertOpen();
    return this._getGroup(group, options.failures ?? false);
  }

  async countGroup(group: string, options: { failures?: boolean } = {}): Promise<number> {
    this.assertOpen();
    return this._countGroup(group, options.failures ?? false);
  }

  async deleteGroup(group: string, options: { tasks?: boolean } = {}): Promise<number> {
    this.assertOpen();
    return this._deleteGroup(group, options.tasks ?? false);
  }

  async list(query: ListQuery = {}): Promise<{ records: TaskRecord[]; total: number }> {
    this.assertOpen();
    return this._list({ ...query, limit: query.limit ?? 100, offset: query.offset ?? 0 });
  }

  async delete(id: string): Promise<boolean> {
    this.assertOpen();
    return this._delete(id);
  }

  async prune(options: { keep: number; per?: SaveLimitPer | null }): Promise<number> {
    this.assertOpen();
    if (!(options.keep > 0)) return 0;
    return this._prune(options.keep, options.per ?? null);
  }

  async ping(): Promise<void> {
    this.assertOpen();
    await this._ping();
  }

  async setStat(key: string, stat: ClusterStat, ttlSeconds: number): Promise<void> {
    this.assertOpen();
    await this._setStat(key, stat, ttlSeconds);
  }

  async getStats(): Promise<ClusterStat[]> {
    this.assertOpen();
    return this._getStats();
  }

  async deleteStat(key: string): Promise<void> {
    this.assertOpen();
    await this._deleteStat(key);
  }

  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    this.#closing = this._close();
    return this.#closing;
  }

  protected abstract _saveMany(records: readonly TaskRecord[], options: SaveOptions): Promise<number[]>;
  protected abstract _get(idOrName: string): Promise<TaskRecord | null>;
  protected abstract _getGroup(group: string, failures: boolean): Promise<TaskRecord[]>;
  protected abstract _countGroup(group: string, failures: boolean): Promise<number>;
  protected abstract _deleteGroup(group: string, tasks: boolean): Promise<number>;
  protected abstract _list(
    query: ListQuery & { limit: number; offset: number },
  ): Promise<{ records: TaskRecord[]; total: number }>;
  protected abstract _delete(id: string): Promise<boolean>;
  protected abstract _prune(keep: number, per: SaveLimitPer | null): Promise<number>;
  protected async _ping(): Promise<void> {}
  protected async _setStat(_key: string, _stat: ClusterStat, _ttlSeconds: number): Promise<void> {
    throw new TaskqError(ErrorCodes.INVALID_ARGUMENT, 'This store keeps no cluster stats.');
  }
  protected async _getStats(): Promise<ClusterStat[]> {
    return [];
  }
  protected async _deleteStat(_key: string): Promise<void> {}
  protected abstract _close(): Promise<void>;
}
