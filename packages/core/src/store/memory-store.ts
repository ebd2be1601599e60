import type { ClusterStat } from '../stats/cluster-stat.js';
import { MemoryControlValues } from './memory-control.js';
import { MemoryScheduleStore } from './memory-schedule-store.js';
import type { ScheduleStore } from './schedule-store.js';
import { isTaskId } from '../task/ids.js';
import type { TaskRecord } from '../task/task.js';
import {
  BaseResultStore,
  emptyBuckets,
  encodeSearchCursor,
  ITER_GROUP_PREFIX,
  matchesSearch,
  type ListQuery,
  type NormalizedSearch,
  type SearchPage,
  type ThroughputBucket,
  type ThroughputQuery,
  type SaveLimitPer,
  type SaveOptions,
  type StoreCapabilities,
  type StoreFactory,
  type TaskState,
} from './result-store.js';

interface Entry {
  record: TaskRecord;
  /** Order of saving, to keep group order and break stoppedAt ties. */
  seq: number;
  expiresAt: number | null;
}

/** An in-process result store, with TTLs and stats; shared per namespace for `memory:` URLs. */
export class MemoryStore extends BaseResultStore implements ScheduleStore {
  readonly capabilities: StoreCapabilities = { stats: true, ttl: true, control: true };
  readonly #entries = new Map<string, Entry>();
  readonly #stats = new Map<string, { stat: ClusterStat; expiresAt: number }>();
  readonly #now: () => number;
  readonly #control: MemoryControlValues;
  #seq = 0;

  constructor(options: { now?: () => number } = {}) {
    super();
    this.#now = options.now ?? Date.now;
    this.#control = new MemoryControlValues(this.#now);
  }

  protected async _saveMany(records: readonly TaskRecord[], options: SaveOptions): Promise<number[]> {
    const expiresAt = options.ttlSeconds === undefined ? null : this.#now() + options.ttlSeconds * 1000;
    return records.map((record) => {
      const existing = this.#live(record.id);
      if (existing?.record.success) return existing.record.attemptCount;
      const attemptCount = existing ? existing.record.attemptCount + 1 : 1;
      this.#entries.set(record.id, { record: { ...record, attemptCount }, seq: ++this.#seq, expiresAt });
      return attemptCount;
    });
  }

  protected override async _getStates(ids: readonly string[]): Promise<Map<string, TaskState>> {
    const states = new Map<string, TaskState>();
    for (const id of ids) {
      const record = this.#live(id)?.record;
      if (record) states.set(id, { success: record.success, attemptCount: record.attemptCount });
    }
    return states;
  }

  protected async _get(idOrName: string): Promise<TaskRecord | null> {
    if (isTaskId(idOrName)) {
      const entry = this.#live(idOrName);
      if (entry) return entry.record;
    }
    let newest: Entry | undefined;
    for (const entry of this.#all()) {
      if (entry.record.name === idOrName && (!newest || entry.seq > newest.seq)) newest = entry;
    }
    return newest?.record ?? null;
  }

  protected async _getGroup(group: string, failures: boolean): Promise<TaskRecord[]> {
    return this.#all()
      .filter((e) => e.record.group === group && (failures || e.record.success))
      .sort((a, b) => a.seq - b.seq)
      .map((e) => e.record);
  }

  protected async _countGroup(group: string, failures: boolean): Promise<number> {
    return this.#all().filter((e) => e.record.group === group && (!failures || !e.record.success)).length;
  }

  protected async _deleteGroup(group: string, tasks: boolean): Promise<number> {
    let count = 0;
    for (const entry of this.#all()) {
      if (entry.record.group !== group) continue;
      count++;
      if (tasks) this.#entries.delete(entry.record.id);
      else entry.record = { ...entry.record, group: null };
    }
    return count;
  }

  protected async _list(query: ListQuery & { limit: number; offset: number }) {
    const matching = this.#all()
      .filter(
        (e) =>
          (query.success === undefined || e.record.success === query.success) &&
          (query.group === undefined || e.record.group === query.group) &&
          (query.func === undefined || e.record.func === query.func) &&
          (query.name === undefined || e.record.name === query.name),
      )
      .sort(newestFirst);
    return {
      records: matching.slice(query.offset, query.offset + query.limit).map((e) => e.record),
      total: matching.length,
    };
  }

  /** A full scan in (stoppedAt desc, id desc) order; the cursor's key is the record id. */
  protected override async _search(query: NormalizedSearch): Promise<SearchPage> {
    const after = query.after;
    const matching = this.#all()
      .map((e) => e.record)
      .filter((r) => {
        if (after) {
          const t = r.stoppedAt.getTime();
          if (t > after.stoppedAt || (t === after.stoppedAt && r.id >= after.key)) return false;
        }
        return matchesSearch(r, query);
      })
      .sort((a, b) => b.stoppedAt.getTime() - a.stoppedAt.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    const records = matching.slice(0, query.limit);
    const last = records.at(-1);
    const more = matching.length > query.limit && last;
    return {
      records,
      nextCursor: more ? encodeSearchCursor({ stoppedAt: last.stoppedAt.getTime(), key: last.id }) : null,
    };
  }

  protected override async _throughput(query: ThroughputQuery): Promise<ThroughputBucket[]> {
    const buckets = emptyBuckets(query);
    const start = query.since.getTime();
    for (const { record } of this.#all()) {
      const i = Math.floor((record.stoppedAt.getTime() - start) / query.bucketMs);
      const bucket = buckets[i];
      if (!bucket || record.stoppedAt.getTime() >= query.until.getTime()) continue;
      if (
        !matchesSearch(record, {
          ...(query.func === undefined ? {} : { func: query.func }),
          ...(query.cluster === undefined ? {} : { cluster: query.cluster }),
        })
      )
        continue;
      if (record.success) bucket.success++;
      else bucket.failure++;
    }
    return buckets;
  }

  protected async _delete(id: string): Promise<boolean> {
    return this.#entries.delete(id);
  }

  protected async _prune(keep: number, per: SaveLimitPer | null): Promise<number> {
    const buckets = new Map<string, Entry[]>();
    for (const entry of this.#all()) {
      if (!entry.record.success || entry.record.group?.startsWith(ITER_GROUP_PREFIX)) continue;
      const key = per === null ? '' : String(entry.record[per]);
      const bucket = buckets.get(key);
      if (bucket) bucket.push(entry);
      else buckets.set(key, [entry]);
    }
    let deleted = 0;
    for (const bucket of buckets.values()) {
      bucket.sort(newestFirst);
      for (const entry of bucket.slice(keep)) {
        this.#entries.delete(entry.record.id);
        deleted++;
      }
    }
    return deleted;
  }

  protected override async _setStat(key: string, stat: ClusterStat, ttlSeconds: number): Promise<void> {
    this.#stats.set(key, { stat, expiresAt: this.#now() + ttlSeconds * 1000 });
  }

  protected override async _getStats(): Promise<ClusterStat[]> {
    const now = this.#now();
    return [...this.#stats.values()].filter((s) => s.expiresAt > now).map((s) => s.stat);
  }

  protected override async _deleteStat(key: string): Promise<void> {
    this.#stats.delete(key);
  }

  // Schedules (the ScheduleStore contract), kept by a MemoryScheduleStore.
  readonly #schedules = new MemoryScheduleStore();
  createSchedule: ScheduleStore['createSchedule'] = (s) => this.#schedules.createSchedule(s);
  getSchedule: ScheduleStore['getSchedule'] = (idOrName) => this.#schedules.getSchedule(idOrName);
  listSchedules: ScheduleStore['listSchedules'] = (query) => this.#schedules.listSchedules(query);
  updateSchedule: ScheduleStore['updateSchedule'] = (id, patch) => this.#schedules.updateSchedule(id, patch);
  deleteSchedule: ScheduleStore['deleteSchedule'] = (id) => this.#schedules.deleteSchedule(id);
  nextScheduleDueAt: ScheduleStore['nextScheduleDueAt'] = (cluster) => this.#schedules.nextScheduleDueAt(cluster);
  listDueSchedules: ScheduleStore['listDueSchedules'] = (now, cluster, limit) =>
    this.#schedules.listDueSchedules(now, cluster, limit);
  claimSchedule: ScheduleStore['claimSchedule'] = (id, expected, outcome) =>
    this.#schedules.claimSchedule(id, expected, outcome);

  // Job control (the ControlStore calls), kept by MemoryControlValues.
  protected override _claimValue(key: string, value: string, ttlMs: number | null) {
    return this.#control.claimValue(key, value, ttlMs);
  }
  protected override _setValue(key: string, value: string, ttlMs: number | null) {
    return this.#control.setValue(key, value, ttlMs);
  }
  protected override _getValues(keys: readonly string[]) {
    return this.#control.getValues(keys);
  }
  protected override _deleteValue(key: string, expected: string | undefined) {
    return this.#control.deleteValue(key, expected);
  }
  protected override _listValues(prefix: string, limit: number) {
    return this.#control.listValues(prefix, limit);
  }
  protected override _addMember(key: string, member: string, ttlMs: number | null) {
    return this.#control.addMember(key, member, ttlMs);
  }

  protected async _close(): Promise<void> {}

  #live(id: string): Entry | undefined {
    const entry = this.#entries.get(id);
    if (entry?.expiresAt != null && entry.expiresAt <= this.#now()) {
      this.#entries.delete(id);
      return undefined;
    }
    return entry;
  }

  #all(): Entry[] {
    const now = this.#now();
    const out: Entry[] = [];
    for (const [id, entry] of this.#entries) {
      if (entry.expiresAt != null && entry.expiresAt <= now) this.#entries.delete(id);
      else out.push(entry);
    }
    return out;
  }
}

function newestFirst(a: Entry, b: Entry): number {
  return b.record.stoppedAt.getTime() - a.record.stoppedAt.getTime() || b.seq - a.seq;
}

const shared = new Map<string, MemoryStore>();

export const memoryStoreFactory: StoreFactory = {
  schemes: ['memory'],
  create(_url, options) {
    const existing = shared.get(options.namespace);
    if (existing && !existing.closed) return existing;
    const store = new MemoryStore();
    shared.set(options.namespace, store);
    return store;
  },
};
