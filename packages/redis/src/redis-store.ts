import {
  BaseResultStore,
  ErrorCodes,
  isTaskId,
  type ClaimOutcome,
  type ClusterStat,
  type ListQuery,
  type NormalizedSearch,
  type SearchPage,
  type ThroughputBucket,
  type ThroughputQuery,
  type SaveLimitPer,
  type SaveOptions,
  type Schedule,
  type SchedulePatch,
  type ScheduleQuery,
  type ScheduleStore,
  type StoreCapabilities,
  type TaskMeta,
  type TaskRecord,
  type TaskState,
} from '@taskq/core';
import { guard, withTimeout } from './errors.js';
import { controlTag, scheduleTag, statKeys, storeTag } from './keys.js';
import { connect, type RedisClient, type RedisConnectionOptions, type WaitOptions } from './options.js';
import { RedisScheduleOps } from './schedule-ops.js';
import { defineScripts, runScript, runScriptReplicated } from './scripts.js';
import { searchResults, throughputResults } from './search-results.js';

export interface RedisStoreOptions extends RedisConnectionOptions {
  /** Keeps one cluster's results apart from another's (the factory passes the cluster name). */
  namespace: string;
}

const SCRIPTS = [
  'save-results',
  'get-result',
  'task-states',
  'query-results',
  'delete-results',
  'prune-results',
  'clear-results',
];
const STAT_SCRIPTS = ['set-stat', 'get-stats'];
const CONTROL_SCRIPTS = ['control-claim', 'control-set', 'control-delete', 'control-list', 'control-add-member'];
/** Records per save script call. */
const CHUNK = 200;

/** The parts of a query the query-results script understands. */
interface Query {
  order: 'asc' | 'desc';
  offset?: number;
  limit?: number;
  countOnly?: boolean;
  success?: boolean | undefined;
  group?: string | undefined;
  func?: string | undefined;
  name?: string | undefined;
}

/**
 * Task results in Redis: one hash of record JSON plus sorted-set indexes
 * (all, successes, failures, per group, func and name), kept consistent by
 * Lua scripts. Records saved with `ttlSeconds` (Django Q's `cached`) are
 * removed by the first store call after they expire. Schedules live under
 * `{<prefix>:schedules}` (shared by every cluster on the prefix; see
 * schedule-ops.ts): this is also the cluster's ScheduleStore. Job control's
 * values and sets (ControlStore) live under `{<prefix>:control}`, shared by
 * every cluster on the prefix too (see scripts/includes-control.lua).
 */
export class RedisStore extends BaseResultStore implements ScheduleStore {
  readonly capabilities: StoreCapabilities = { stats: true, ttl: true, control: true };
  /** An ioredis `Redis`, or a `Cluster` for `redis+cluster://` URLs. */
  readonly redis: RedisClient;
  readonly prefix: string;
  readonly #owned: boolean;
  readonly #wait: WaitOptions | undefined;
  readonly namespace: string;
  readonly #tag: string;
  readonly #statKeys: [string, string];
  readonly #controlKeys: [string];
  readonly #pingTimeoutMs: number;
  readonly #schedules: RedisScheduleOps;

  constructor(options: RedisStoreOptions) {
    super();
    const { redis, prefix, owned } = connect(options);
    this.redis = redis;
    this.prefix = prefix;
    this.#owned = owned;
    this.#wait = options.wait;
    this.namespace = options.namespace;
    this.#tag = `${storeTag(prefix, options.namespace)}:`;
    this.#statKeys = statKeys(prefix);
    this.#controlKeys = [`${controlTag(prefix)}:`];
    this.#pingTimeoutMs = options.pingTimeoutMs ?? 2000;
    this.redis.on('error', () => undefined);
    defineScripts(this.redis, SCRIPTS, 'includes-results');
    defineScripts(this.redis, STAT_SCRIPTS);
    defineScripts(this.redis, CONTROL_SCRIPTS, 'includes-control');
    this.#schedules = new RedisScheduleOps(this.redis, `${scheduleTag(prefix)}:`, (fn) => this.#call(fn));
  }

  #call<T>(call: () => Promise<T>): Promise<T> {
    return guard(ErrorCodes.STORE_UNAVAILABLE, `Redis store "${this.namespace}"`, () => this.closed, call);
  }

  #run<T>(script: string, args: ReadonlyArray<string | number>): Promise<T> {
    return this.#call(() => runScript<T>(this.redis, script, [this.#tag], args));
  }

  protected async _saveMany(records: readonly TaskRecord[], options: SaveOptions): Promise<number[]> {
    const ttlMs = options.ttlSeconds === undefined ? 0 : Math.max(1, Math.round(options.ttlSeconds * 1000));
    const calls: Promise<number[]>[] = [];
    for (let start = 0; start < records.length; start += CHUNK) {
      const args: Array<string | number> = [ttlMs];
      for (const record of records.slice(start, start + CHUNK)) {
        args.push(
          record.id,
          record.success ? '1' : '0',
          record.group === null ? '' : `=${record.group}`,
          record.func,
          record.name,
          record.stoppedAt.getTime(),
          encodeBody(record),
        );
      }
      calls.push(
        this.#call(() =>
          runScriptReplicated<number[]>(
            this.redis,
            'save-results',
            [this.#tag],
            args,
            this.#wait,
            ErrorCodes.STORE_UNAVAILABLE,
          ),
        ),
      );
    }
    return (await Promise.all(calls)).flat().map(Number);
  }

  protected override async _getStates(ids: readonly string[]): Promise<Map<string, TaskState>> {
    const states = new Map<string, TaskState>();
    for (let start = 0; start < ids.length; start += CHUNK) {
      const flat = await this.#run<Array<string | number>>('task-states', ids.slice(start, start + CHUNK));
      for (let i = 0; i + 2 < flat.length; i += 3) {
        states.set(String(flat[i]), { success: Number(flat[i + 1]) === 1, attemptCount: Number(flat[i + 2]) });
      }
    }
    return states;
  }

  protected async _get(idOrName: string): Promise<TaskRecord | null> {
    const json = await this.#run<string | null>('get-result', [idOrName, isTaskId(idOrName) ? '1' : '0']);
    return json ? decode(json) : null;
  }

  async #query(query: Query): Promise<{ records: TaskRecord[]; total: number }> {
    const [total, ...jsons] = await this.#run<[number, ...string[]]>('query-results', [
      query.order,
      query.offset ?? 0,
      query.limit ?? -1,
      query.countOnly ? '1' : '0',
      query.success === undefined ? '' : query.success ? '1' : '0',
      query.group === undefined ? '' : `=${query.group}`,
      query.func === undefined ? '' : `=${query.func}`,
      query.name === undefined ? '' : `=${query.name}`,
    ]);
    return { total: Number(total), records: jsons.map(decode) };
  }

  protected async _getGroup(group: string, failures: boolean): Promise<TaskRecord[]> {
    return (await this.#query({ order: 'asc', group, success: failures ? undefined : true })).records;
  }

  protected async _countGroup(group: string, failures: boolean): Promise<number> {
    return (await this.#query({ order: 'asc', group, success: failures ? false : undefined, countOnly: true })).total;
  }

  protected async _deleteGroup(group: string, tasks: boolean): Promise<number> {
    return Number(await this.#run<number>('delete-results', [tasks ? 'group' : 'ungroup', group]));
  }

  protected async _list(query: ListQuery & { limit: number; offset: number }) {
    return this.#query({ ...query, order: 'desc' });
  }

  /** Walks the narrowest index with a bounded window (see search-results.ts); expired records are reaped first. */
  protected override async _search(query: NormalizedSearch): Promise<SearchPage> {
    await this.#query({ order: 'desc', countOnly: true });
    return this.#call(() => searchResults(this.redis, { tag: this.#tag, decode }, query));
  }

  protected override async _throughput(query: ThroughputQuery): Promise<ThroughputBucket[]> {
    await this.#query({ order: 'desc', countOnly: true });
    return this.#call(() => throughputResults(this.redis, { tag: this.#tag, decode }, query));
  }

  protected async _delete(id: string): Promise<boolean> {
    return Number(await this.#run<number>('delete-results', ['id', id])) === 1;
  }

  protected async _prune(keep: number, per: SaveLimitPer | null): Promise<number> {
    return Number(await this.#run<number>('prune-results', [keep, per ?? '']));
  }

  protected override async _ping(): Promise<void> {
    await this.#call(() =>
      withTimeout(
        this.redis.ping(),
        this.#pingTimeoutMs,
        ErrorCodes.STORE_UNAVAILABLE,
        `Redis did not answer PING within ${this.#pingTimeoutMs} ms.`,
      ),
    );
  }

  protected override async _setStat(key: string, stat: ClusterStat, ttlSeconds: number): Promise<void> {
    const ttlMs = Math.max(1, Math.round(ttlSeconds * 1000));
    await this.#call(() => runScript(this.redis, 'set-stat', this.#statKeys, [key, JSON.stringify(stat), ttlMs]));
  }

  protected override async _getStats(): Promise<ClusterStat[]> {
    const values = await this.#call(() => runScript<string[]>(this.redis, 'get-stats', this.#statKeys, []));
    return values.map((value) => JSON.parse(value) as ClusterStat);
  }

  protected override async _deleteStat(key: string): Promise<void> {
    const [stats, expiry] = this.#statKeys;
    await this.#call(() => this.redis.multi().hdel(stats, key).zrem(expiry, key).exec());
  }

  // ControlStore (arguments already validated by BaseResultStore)

  #runControl<T>(script: string, args: ReadonlyArray<string | number>): Promise<T> {
    return this.#call(() => runScript<T>(this.redis, script, this.#controlKeys, args));
  }

  protected override async _claimValue(key: string, value: string, ttlMs: number | null): Promise<string | null> {
    return this.#runControl<string | null>('control-claim', [key, value, pxArg(ttlMs)]);
  }

  protected override async _setValue(key: string, value: string, ttlMs: number | null): Promise<void> {
    await this.#runControl('control-set', [key, value, pxArg(ttlMs)]);
  }

  /** One MGET: every value key shares the control hash tag. Redis drops expired keys on read. */
  protected override async _getValues(keys: readonly string[]): Promise<Map<string, string>> {
    const [tag] = this.#controlKeys;
    const values = await this.#call(() => this.redis.mget(keys.map((key) => `${tag}v:${key}`)));
    const out = new Map<string, string>();
    keys.forEach((key, i) => {
      const value = values[i];
      if (value !== null && value !== undefined) out.set(key, value);
    });
    return out;
  }

  protected override async _deleteValue(key: string, expected: string | undefined): Promise<boolean> {
    const args = [key, expected === undefined ? '0' : '1', expected ?? ''];
    return Number(await this.#runControl<number>('control-delete', args)) === 1;
  }

  protected override async _listValues(prefix: string, limit: number): Promise<Map<string, string>> {
    const flat = await this.#runControl<string[]>('control-list', [prefix, limit]);
    const out = new Map<string, string>();
    for (let i = 0; i + 1 < flat.length; i += 2) out.set(flat[i]!, flat[i + 1]!);
    return out;
  }

  protected override async _addMember(key: string, member: string, ttlMs: number | null): Promise<number> {
    return Number(await this.#runControl<number>('control-add-member', [key, member, pxArg(ttlMs)]));
  }

  // ScheduleStore

  async createSchedule(schedule: Schedule): Promise<Schedule> {
    this.assertOpen();
    return this.#schedules.create(schedule);
  }

  async getSchedule(idOrName: string): Promise<Schedule | null> {
    this.assertOpen();
    return this.#schedules.get(idOrName);
  }

  async listSchedules(query: ScheduleQuery = {}): Promise<{ schedules: Schedule[]; total: number }> {
    this.assertOpen();
    return this.#schedules.list(query);
  }

  async updateSchedule(id: string, patch: SchedulePatch): Promise<Schedule | null> {
    this.assertOpen();
    return this.#schedules.update(id, patch);
  }

  async deleteSchedule(id: string): Promise<boolean> {
    this.assertOpen();
    return this.#schedules.delete(id);
  }

  async nextScheduleDueAt(cluster: string): Promise<Date | null> {
    this.assertOpen();
    return this.#schedules.nextDueAt(cluster);
  }

  async listDueSchedules(now: Date, cluster: string, limit: number): Promise<Schedule[]> {
    this.assertOpen();
    return this.#schedules.listDue(now, cluster, limit);
  }

  async claimSchedule(id: string, expectedNextRun: Date, outcome: ClaimOutcome): Promise<boolean> {
    this.assertOpen();
    return this.#schedules.claim(id, expectedNextRun, outcome);
  }

  /**
   * Removes every key of this namespace (tests, `taskq purge`); schedules and control values are kept. One script
   * on the namespace's slot (a client-side KEYS would read one random node of a Redis Cluster).
   */
  async clear(): Promise<void> {
    this.assertOpen();
    await this.#run('clear-results', [`${this.#tag.replace(/[*?[\]\\]/g, '\\$&')}*`]);
  }

  protected async _close(): Promise<void> {
    if (!this.#owned) return; // the caller's client
    if (this.redis.status === 'ready') await this.redis.quit().catch(() => undefined);
    this.redis.disconnect();
  }
}

/**
 * The record as JSON without attemptCount and the opening brace: the save
 * script adds both. Built by hand (this runs for every task a cluster saves).
 * `meta` is there only when the record has one, as JSON text inside the JSON:
 * opaque to the scripts, and kept exactly when one re-encodes a record with
 * cjson (ungroup), which would turn `[]` into `{}` and round long numbers.
 */
function encodeBody(r: TaskRecord): string {
  const str = JSON.stringify;
  return (
    `"id":${str(r.id)},"name":${str(r.name)},"func":${str(r.func)},"args":${str(r.args)},` +
    `"result":${str(r.result ?? null)},"error":${str(r.error ?? null)},"success":${r.success},"group":${str(r.group ?? null)},` +
    `"hook":${str(r.hook ?? null)},"cluster":${str(r.cluster ?? null)},"enqueuedAt":${r.enqueuedAt.getTime()},` +
    `"startedAt":${r.startedAt.getTime()},"stoppedAt":${r.stoppedAt.getTime()}` +
    (r.meta === undefined ? '}' : `,"meta":${str(str(r.meta))}}`)
  );
}

/** A control ttl as SET PX / PEXPIRE take it: whole milliseconds, '' for none. */
function pxArg(ttlMs: number | null): string | number {
  return ttlMs === null ? '' : Math.max(1, Math.ceil(ttlMs));
}

function decode(json: string): TaskRecord {
  const raw = JSON.parse(json) as Omit<TaskRecord, 'enqueuedAt' | 'startedAt' | 'stoppedAt' | 'meta'> & {
    enqueuedAt: number;
    startedAt: number;
    stoppedAt: number;
    meta?: string;
  };
  const record: TaskRecord = {
    id: raw.id,
    name: raw.name,
    func: raw.func,
    args: raw.args,
    result: raw.result,
    error: raw.error,
    success: raw.success,
    group: raw.group,
    hook: raw.hook,
    cluster: raw.cluster,
    enqueuedAt: new Date(raw.enqueuedAt),
    startedAt: new Date(raw.startedAt),
    stoppedAt: new Date(raw.stoppedAt),
    attemptCount: raw.attemptCount,
  };
  if (typeof raw.meta === 'string') record.meta = JSON.parse(raw.meta) as TaskMeta;
  return record;
}
