import {
  BaseResultStore,
  ErrorCodes,
  ITER_GROUP_PREFIX,
  emptyBuckets,
  encodeSearchCursor,
  isTaskId,
  type ClaimOutcome,
  type ClusterStat,
  type ErrorInfo,
  type ListQuery,
  type NormalizedSearch,
  type SaveLimitPer,
  type SaveOptions,
  type SearchPage,
  type Schedule,
  type SchedulePatch,
  type ScheduleQuery,
  type ScheduleStore,
  type StoreCapabilities,
  type TaskMeta,
  type TaskRecord,
  type TaskState,
  type ThroughputBucket,
  type ThroughputQuery,
} from '@taskq/core';
import { MongoBulkWriteError, type Collection, type Filter } from 'mongodb';
import { MongoConnection } from './connection.js';
import { ControlOps } from './control.js';
import { guard, isDuplicateKey, withTimeout } from './errors.js';
import type { MongoConnectionOptions } from './options.js';
import { ScheduleOps } from './schedules.js';
import { deleteStat, getStats, setStat } from './stats.js';

export type MongoStoreOptions = MongoConnectionOptions;

/** A saved task in `<prefix>_results`: the record with `id` as `_id`, readable in any MongoDB tool. */
export type ResultDoc = Omit<TaskRecord, 'id' | 'meta'> & {
  _id: string;
  /** Hidden from every read once past; the TTL index deletes the document later. Null: kept. */
  expiresAt: Date | null;
  /**
   * The record's {@link TaskMeta} as JSON text, present only when the record has meta: one opaque value, as the
   * contract asks (log fields may hold keys such as `$x` or `a.b` that MongoDB documents restrict).
   */
  meta?: string;
};

export const mongoStoreCapabilities: StoreCapabilities = Object.freeze({ stats: true, ttl: true, control: true });

/** Tries of the save rule for one record when other writers keep changing it between steps. */
const SAVE_TRIES = 5;

/**
 * Task results in `<prefix>_results` (one document per task id), cluster
 * stats in `<prefix>_stats`, schedules in `<prefix>_schedules` and job
 * control's values and sets in `<prefix>_control` and `<prefix>_control_sets`:
 * with the MongoBroker a user keeps everything in MongoDB. It is also the
 * cluster's ScheduleStore.
 */
export class MongoStore extends BaseResultStore implements ScheduleStore {
  readonly capabilities = mongoStoreCapabilities;
  readonly connection: MongoConnection;
  readonly #results: Collection<ResultDoc>;
  readonly #schedules: ScheduleOps;
  readonly #control: ControlOps;

  constructor(options: MongoStoreOptions = {}) {
    super();
    this.connection = new MongoConnection(options);
    this.#results = this.connection.collection<ResultDoc>('results');
    this.#schedules = new ScheduleOps(this.connection);
    this.#control = new ControlOps(this.connection);
  }

  #call<T>(call: () => Promise<T>): Promise<T> {
    return guard(ErrorCodes.STORE_UNAVAILABLE, 'MongoDB store', () => this.closed, call);
  }

  /** Records that have not expired. */
  #live(now = new Date()): Filter<ResultDoc> {
    return { $or: [{ expiresAt: null }, { expiresAt: { $gt: now } }] };
  }

  /**
   * Django Q's save rule, per record in order: a new id is inserted with
   * attemptCount 1; a saved failure is overwritten with attemptCount + 1; a
   * saved success never changes; an expired record counts as absent. Each step
   * is one atomic single-document write, so concurrent savers of one id agree.
   */
  protected async _saveMany(records: readonly TaskRecord[], options: SaveOptions): Promise<number[]> {
    const expiresAt =
      options.ttlSeconds === undefined ? null : new Date(Date.now() + Math.round(options.ttlSeconds * 1000));
    return this.#call(async () => {
      await this.connection.ensureIndexes('results');
      const unique = new Set(records.map((r) => r.id)).size === records.length;
      if (!unique) {
        const counts: number[] = [];
        for (const record of records) counts.push(await this.#saveOne(record, expiresAt));
        return counts;
      }
      // the common case, all new: one unordered insert; the ids that exist take the slow path
      const taken = await this.#insertNew(records, expiresAt);
      const counts = records.map(() => 1);
      for (const index of taken) counts[index] = await this.#saveExisting(records[index] as TaskRecord, expiresAt);
      return counts;
    });
  }

  /** Inserts every record as new; returns the indexes whose id already had a document. */
  async #insertNew(records: readonly TaskRecord[], expiresAt: Date | null): Promise<number[]> {
    try {
      await this.#results.insertMany(
        records.map((r) => toDoc(r, 1, expiresAt)),
        { ordered: false },
      );
      return [];
    } catch (error) {
      if (!(error instanceof MongoBulkWriteError)) throw error;
      const writeErrors = Array.isArray(error.writeErrors) ? error.writeErrors : [error.writeErrors];
      if (writeErrors.some((e) => e.code !== 11000)) throw error;
      return writeErrors.map((e) => e.index).sort((a, b) => a - b);
    }
  }

  async #saveOne(record: TaskRecord, expiresAt: Date | null): Promise<number> {
    try {
      await this.#results.insertOne(toDoc(record, 1, expiresAt));
      return 1;
    } catch (error) {
      if (!isDuplicateKey(error)) throw error;
      return this.#saveExisting(record, expiresAt);
    }
  }

  async #saveExisting(record: TaskRecord, expiresAt: Date | null): Promise<number> {
    const { _id, attemptCount: _count, ...fields } = toDoc(record, 1, expiresAt);
    // the overwrite replaces the meta too: a record saved without meta drops the failure's
    const unsetMeta = fields.meta === undefined ? { $unset: { meta: '' as const } } : {};
    for (let attempt = 0; attempt < SAVE_TRIES; attempt++) {
      const now = new Date();
      const failure = await this.#results.findOneAndUpdate(
        { _id, success: false, ...this.#live(now) },
        { $set: fields, $inc: { attemptCount: 1 }, ...unsetMeta },
        { returnDocument: 'after', projection: { attemptCount: 1 } },
      );
      if (failure) return failure.attemptCount;
      const expired = await this.#results.findOneAndUpdate(
        { _id, expiresAt: { $lte: now } },
        { $set: { ...fields, attemptCount: 1 }, ...unsetMeta },
        { projection: { _id: 1 } },
      );
      if (expired) return 1;
      const kept = await this.#results.findOne({ _id }, { projection: { attemptCount: 1, success: 1 } });
      if (kept?.success) return kept.attemptCount;
      if (!kept) {
        // deleted meanwhile: save it as new
        try {
          await this.#results.insertOne({ _id, ...fields, attemptCount: 1 });
          return 1;
        } catch (error) {
          if (!isDuplicateKey(error)) throw error;
        }
      }
    }
    throw new Error(`Saving task ${record.id} kept racing with other writers; gave up after ${SAVE_TRIES} tries.`);
  }

  /** One query by `_id $in` (the _id index): the pusher's check that a package's task has not finished already. */
  protected override async _getStates(ids: readonly string[]): Promise<Map<string, TaskState>> {
    const docs = await this.#call(() =>
      this.#results
        .find({ _id: { $in: [...ids] }, ...this.#live() }, { projection: { success: 1, attemptCount: 1 } })
        .toArray(),
    );
    return new Map(docs.map((doc) => [doc._id, { success: doc.success, attemptCount: doc.attemptCount }]));
  }

  protected async _get(idOrName: string): Promise<TaskRecord | null> {
    return this.#call(async () => {
      if (isTaskId(idOrName)) {
        const byId = await this.#results.findOne({ _id: idOrName, ...this.#live() });
        if (byId) return fromDoc(byId);
      }
      const [byName] = await this.#results
        .find({ name: idOrName, ...this.#live() })
        .sort({ stoppedAt: -1, _id: -1 })
        .limit(1)
        .toArray();
      return byName ? fromDoc(byName) : null;
    });
  }

  protected async _getGroup(group: string, failures: boolean): Promise<TaskRecord[]> {
    const filter: Filter<ResultDoc> = { group, ...this.#live(), ...(failures ? {} : { success: true }) };
    const docs = await this.#call(() => this.#results.find(filter).sort({ stoppedAt: 1, _id: 1 }).toArray());
    return docs.map(fromDoc);
  }

  protected async _countGroup(group: string, failures: boolean): Promise<number> {
    const filter: Filter<ResultDoc> = { group, ...this.#live(), ...(failures ? { success: false } : {}) };
    return this.#call(() => this.#results.countDocuments(filter));
  }

  protected async _deleteGroup(group: string, tasks: boolean): Promise<number> {
    const filter: Filter<ResultDoc> = { group, ...this.#live() };
    return this.#call(async () =>
      tasks
        ? (await this.#results.deleteMany(filter)).deletedCount
        : (await this.#results.updateMany(filter, { $set: { group: null } })).modifiedCount,
    );
  }

  protected async _list(query: ListQuery & { limit: number; offset: number }) {
    const filter: Filter<ResultDoc> = this.#live();
    if (query.success !== undefined) filter.success = query.success;
    if (query.group !== undefined) filter.group = query.group;
    if (query.func !== undefined) filter.func = query.func;
    if (query.name !== undefined) filter.name = query.name;
    const [docs, total] = await this.#call(() =>
      Promise.all([
        this.#results.find(filter).sort({ stoppedAt: -1, _id: -1 }).skip(query.offset).limit(query.limit).toArray(),
        this.#results.countDocuments(filter),
      ]),
    );
    return { records: docs.map(fromDoc), total };
  }

  /**
   * Keyset pagination newest first on (stoppedAt, _id), both descending; the
   * text filter is a case-insensitive regex (special characters escaped) over
   * args, result and the error's fields.
   */
  protected override async _search(query: NormalizedSearch): Promise<SearchPage> {
    const and: Filter<ResultDoc>[] = [this.#live()];
    const exact: Filter<ResultDoc> = {};
    if (query.func !== undefined) exact.func = query.func;
    if (query.name !== undefined) exact.name = query.name;
    if (query.group !== undefined) exact.group = query.group;
    if (query.cluster !== undefined) exact.cluster = query.cluster;
    if (query.state !== undefined) exact.success = query.state === 'success';
    if (query.since !== undefined || query.until !== undefined) {
      exact.stoppedAt = {
        ...(query.since !== undefined ? { $gte: query.since } : {}),
        ...(query.until !== undefined ? { $lt: query.until } : {}),
      };
    }
    and.push(exact);
    if (query.text !== undefined) {
      const pattern = new RegExp(query.text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'i');
      const fields = ['args', 'result', 'error.message', 'error.name', 'error.code', 'error.stack'];
      and.push({ $or: fields.map((field) => ({ [field]: pattern })) } as Filter<ResultDoc>);
    }
    if (query.after) {
      const at = new Date(query.after.stoppedAt);
      and.push({ $or: [{ stoppedAt: { $lt: at } }, { stoppedAt: at, _id: { $lt: query.after.key } }] });
    }
    const docs = await this.#call(() =>
      this.#results
        .find({ $and: and })
        .sort({ stoppedAt: -1, _id: -1 })
        .limit(query.limit + 1)
        .toArray(),
    );
    const page = docs.slice(0, query.limit);
    const last = page.at(-1);
    const nextCursor =
      docs.length > query.limit && last
        ? encodeSearchCursor({ stoppedAt: last.stoppedAt.getTime(), key: last._id })
        : null;
    return { records: page.map(fromDoc), nextCursor };
  }

  /** Reads stoppedAt and success of the range's records and counts them per bucket. */
  protected override async _throughput(query: ThroughputQuery): Promise<ThroughputBucket[]> {
    const filter: Filter<ResultDoc> = { ...this.#live(), stoppedAt: { $gte: query.since, $lt: query.until } };
    if (query.func !== undefined) filter.func = query.func;
    if (query.cluster !== undefined) filter.cluster = query.cluster;
    const docs = await this.#call(() =>
      this.#results.find(filter, { projection: { _id: 0, stoppedAt: 1, success: 1 } }).toArray(),
    );
    const buckets = emptyBuckets(query);
    const start = query.since.getTime();
    for (const doc of docs) {
      const bucket = buckets[Math.floor((doc.stoppedAt.getTime() - start) / query.bucketMs)];
      if (bucket) bucket[doc.success ? 'success' : 'failure'] += 1;
    }
    return buckets;
  }

  protected async _delete(id: string): Promise<boolean> {
    return this.#call(async () => (await this.#results.deleteOne({ _id: id })).deletedCount === 1);
  }

  /**
   * Keeps the newest `keep` live successes (per group/name/func when `per` is
   * set; a null value is one bucket), never an unfinished iter's sub-tasks.
   * Reads the candidates' ids newest first, then deletes the surplus.
   */
  protected async _prune(keep: number, per: SaveLimitPer | null): Promise<number> {
    return this.#call(async () => {
      const candidates = await this.#results
        .find(
          { success: true, group: { $not: new RegExp(`^${ITER_GROUP_PREFIX}`) }, ...this.#live() },
          { projection: { _id: 1, ...(per ? { [per]: 1 } : {}) } },
        )
        .sort({ stoppedAt: -1, _id: -1 })
        .toArray();
      const seen = new Map<unknown, number>();
      const surplus: string[] = [];
      for (const doc of candidates) {
        const bucket = per === null ? null : (doc[per] ?? null);
        const count = (seen.get(bucket) ?? 0) + 1;
        seen.set(bucket, count);
        if (count > keep) surplus.push(doc._id);
      }
      let deleted = 0;
      for (let start = 0; start < surplus.length; start += 10_000) {
        const ids = surplus.slice(start, start + 10_000);
        deleted += (await this.#results.deleteMany({ _id: { $in: ids }, success: true })).deletedCount;
      }
      return deleted;
    });
  }

  protected override async _ping(): Promise<void> {
    const ms = this.connection.options.pingTimeoutMs;
    await this.#call(() =>
      withTimeout(
        this.connection.db.command({ ping: 1 }),
        ms,
        ErrorCodes.STORE_UNAVAILABLE,
        `MongoDB did not answer ping within ${ms} ms.`,
      ),
    );
  }

  protected override async _setStat(key: string, stat: ClusterStat, ttlSeconds: number): Promise<void> {
    await this.#call(() => setStat(this.connection, key, stat, ttlSeconds));
  }

  protected override async _getStats(): Promise<ClusterStat[]> {
    return this.#call(() => getStats(this.connection));
  }

  protected override async _deleteStat(key: string): Promise<void> {
    await this.#call(() => deleteStat(this.connection, key));
  }

  // ControlStore (capability `control`; arguments validated by BaseResultStore)

  protected override async _claimValue(key: string, value: string, ttlMs: number | null): Promise<string | null> {
    return this.#call(() => this.#control.claim(key, value, ttlMs));
  }

  protected override async _setValue(key: string, value: string, ttlMs: number | null): Promise<void> {
    await this.#call(() => this.#control.set(key, value, ttlMs));
  }

  protected override async _getValues(keys: readonly string[]): Promise<Map<string, string>> {
    return this.#call(() => this.#control.get(keys));
  }

  protected override async _deleteValue(key: string, expected: string | undefined): Promise<boolean> {
    return this.#call(() => this.#control.delete(key, expected));
  }

  protected override async _listValues(prefix: string, limit: number): Promise<Map<string, string>> {
    return this.#call(() => this.#control.list(prefix, limit));
  }

  protected override async _addMember(key: string, member: string, ttlMs: number | null): Promise<number> {
    return this.#call(() => this.#control.addMember(key, member, ttlMs));
  }

  // ScheduleStore

  async createSchedule(schedule: Schedule): Promise<Schedule> {
    this.assertOpen();
    return this.#call(() => this.#schedules.create(schedule));
  }

  async getSchedule(idOrName: string): Promise<Schedule | null> {
    this.assertOpen();
    return this.#call(() => this.#schedules.get(idOrName));
  }

  async listSchedules(query: ScheduleQuery = {}): Promise<{ schedules: Schedule[]; total: number }> {
    this.assertOpen();
    return this.#call(() => this.#schedules.list(query));
  }

  async updateSchedule(id: string, patch: SchedulePatch): Promise<Schedule | null> {
    this.assertOpen();
    return this.#call(() => this.#schedules.update(id, patch));
  }

  async deleteSchedule(id: string): Promise<boolean> {
    this.assertOpen();
    return this.#call(() => this.#schedules.delete(id));
  }

  async nextScheduleDueAt(cluster: string): Promise<Date | null> {
    this.assertOpen();
    return this.#call(() => this.#schedules.nextDueAt(cluster));
  }

  async listDueSchedules(now: Date, cluster: string, limit: number): Promise<Schedule[]> {
    this.assertOpen();
    return this.#call(() => this.#schedules.listDue(now, cluster, limit));
  }

  async claimSchedule(id: string, expectedNextRun: Date, outcome: ClaimOutcome): Promise<boolean> {
    this.assertOpen();
    return this.#call(() => this.#schedules.claim(id, expectedNextRun, outcome));
  }

  protected async _close(): Promise<void> {
    await this.connection.release();
  }
}

function toDoc(r: TaskRecord, attemptCount: number, expiresAt: Date | null): ResultDoc {
  return {
    _id: r.id,
    name: r.name,
    func: r.func,
    args: r.args,
    result: r.result ?? null,
    // the error as plain data (undefined members left out)
    error: r.error ? (JSON.parse(JSON.stringify(r.error)) as ErrorInfo) : null,
    success: r.success,
    group: r.group ?? null,
    hook: r.hook ?? null,
    cluster: r.cluster ?? null,
    enqueuedAt: r.enqueuedAt,
    startedAt: r.startedAt,
    stoppedAt: r.stoppedAt,
    attemptCount,
    expiresAt,
    // left out, not undefined: a client passed in may store undefined as null
    ...(r.meta !== undefined ? { meta: JSON.stringify(r.meta) } : {}),
  };
}

function fromDoc(doc: ResultDoc): TaskRecord {
  return {
    id: doc._id,
    name: doc.name,
    func: doc.func,
    args: doc.args,
    result: doc.result ?? null,
    error: doc.error ?? null,
    success: doc.success,
    group: doc.group ?? null,
    hook: doc.hook ?? null,
    cluster: doc.cluster ?? null,
    enqueuedAt: doc.enqueuedAt,
    startedAt: doc.startedAt,
    stoppedAt: doc.stoppedAt,
    attemptCount: doc.attemptCount,
    ...(typeof doc.meta === 'string' ? { meta: JSON.parse(doc.meta) as TaskMeta } : {}),
  };
}
