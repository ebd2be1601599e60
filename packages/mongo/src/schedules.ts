import {
  ErrorCodes,
  TaskqError,
  isDeleteOutcome,
  type ClaimOutcome,
  type Schedule,
  type SchedulePatch,
  type ScheduleQuery,
} from '@taskq/core';
import type { Collection, Filter } from 'mongodb';
import type { MongoConnection } from './connection.js';
import { isDuplicateKey } from './errors.js';

/** A schedule in `<prefix>_schedules`: the Schedule itself, with `id` as `_id`. */
export type ScheduleDoc = Omit<Schedule, 'id'> & { _id: string };

function toDoc(s: Schedule): ScheduleDoc {
  const { id, ...rest } = s;
  // task options are plain JSON data; drop undefined members so they read back as absent
  return { _id: id, ...rest, taskOptions: JSON.parse(JSON.stringify(s.taskOptions ?? {})) };
}

function fromDoc(doc: ScheduleDoc): Schedule {
  return {
    id: doc._id,
    name: doc.name ?? null,
    func: doc.func,
    args: doc.args,
    taskOptions: doc.taskOptions ?? {},
    type: doc.type,
    minutes: doc.minutes ?? null,
    cron: doc.cron ?? null,
    repeats: doc.repeats,
    nextRun: doc.nextRun,
    anchorAt: doc.anchorAt,
    timezone: doc.timezone,
    cluster: doc.cluster ?? null,
    intendedDateArg: doc.intendedDateArg ?? null,
    catchUp: doc.catchUp ?? null,
    paused: doc.paused,
    lastTaskId: doc.lastTaskId ?? null,
    lastRunAt: doc.lastRunAt ?? null,
    createdAt: doc.createdAt,
    updatedAt: doc.updatedAt,
  };
}

/** Active (not paused, repeats ≠ 0) and runnable by `cluster` (no cluster set, or this one). */
function active(cluster: string): Filter<ScheduleDoc> {
  return { paused: false, repeats: { $ne: 0 }, $or: [{ cluster: null }, { cluster }] };
}

/**
 * ScheduleStore operations on `<prefix>_schedules`. A slot is claimed by a
 * compare-and-set on nextRun: `updateOne({ _id, nextRun: expected, paused:
 * false, repeats ≠ 0 })` changes one document for exactly one of any number
 * of concurrent claimers (a single-document write is atomic on MongoDB).
 */
export class ScheduleOps {
  constructor(readonly connection: MongoConnection) {}

  get #docs(): Collection<ScheduleDoc> {
    return this.connection.collection<ScheduleDoc>('schedules');
  }

  async #ready(): Promise<void> {
    await this.connection.ensureIndexes('schedules');
  }

  async create(schedule: Schedule): Promise<Schedule> {
    await this.#ready();
    const doc = toDoc(schedule);
    try {
      await this.#docs.insertOne(doc);
    } catch (error) {
      if (!isDuplicateKey(error)) throw error;
      if (await this.#docs.findOne({ _id: schedule.id }, { projection: { _id: 1 } })) {
        throw new TaskqError(ErrorCodes.INVALID_ARGUMENT, `A schedule with id ${schedule.id} already exists.`);
      }
      throw new TaskqError(ErrorCodes.DUPLICATE_SCHEDULE, `A schedule named "${schedule.name}" already exists.`, {
        cause: error,
      });
    }
    return fromDoc(doc);
  }

  async get(idOrName: string): Promise<Schedule | null> {
    const byId = await this.#docs.findOne({ _id: idOrName });
    if (byId) return fromDoc(byId);
    const byName = await this.#docs.findOne({ name: idOrName });
    return byName ? fromDoc(byName) : null;
  }

  async list(query: ScheduleQuery): Promise<{ schedules: Schedule[]; total: number }> {
    const filter: Filter<ScheduleDoc> = {};
    if (query.func !== undefined) filter.func = query.func;
    if (query.type !== undefined) filter.type = query.type;
    if (query.cluster !== undefined) filter.cluster = query.cluster;
    if (query.paused !== undefined) filter.paused = query.paused;
    const [docs, total] = await Promise.all([
      this.#docs
        .find(filter)
        .sort({ nextRun: 1, _id: 1 })
        .skip(query.offset ?? 0)
        .limit(query.limit ?? 100)
        .toArray(),
      this.#docs.countDocuments(filter),
    ]);
    return { schedules: docs.map(fromDoc), total };
  }

  async update(id: string, patch: SchedulePatch): Promise<Schedule | null> {
    await this.#ready();
    const defined = Object.fromEntries(Object.entries(patch).filter(([key, v]) => v !== undefined && key !== 'id'));
    if ('taskOptions' in defined) defined.taskOptions = JSON.parse(JSON.stringify(defined.taskOptions));
    try {
      const doc =
        Object.keys(defined).length === 0
          ? await this.#docs.findOne({ _id: id })
          : await this.#docs.findOneAndUpdate({ _id: id }, { $set: defined }, { returnDocument: 'after' });
      return doc ? fromDoc(doc) : null;
    } catch (error) {
      if (!isDuplicateKey(error)) throw error;
      throw new TaskqError(ErrorCodes.DUPLICATE_SCHEDULE, `A schedule named "${patch.name}" already exists.`, {
        cause: error,
      });
    }
  }

  async delete(id: string): Promise<boolean> {
    return (await this.#docs.deleteOne({ _id: id })).deletedCount === 1;
  }

  async nextDueAt(cluster: string): Promise<Date | null> {
    const [doc] = await this.#docs
      .find(active(cluster), { projection: { nextRun: 1 } })
      .sort({ nextRun: 1, _id: 1 })
      .limit(1)
      .toArray();
    return doc ? doc.nextRun : null;
  }

  async listDue(now: Date, cluster: string, limit: number): Promise<Schedule[]> {
    const docs = await this.#docs
      .find({ ...active(cluster), nextRun: { $lte: now } })
      .sort({ nextRun: 1, _id: 1 })
      .limit(limit)
      .toArray();
    return docs.map(fromDoc);
  }

  /** Compare-and-set on nextRun: of any number of concurrent claims of one slot, exactly one changes a document. */
  async claim(id: string, expectedNextRun: Date, outcome: ClaimOutcome): Promise<boolean> {
    const filter: Filter<ScheduleDoc> = { _id: id, nextRun: expectedNextRun, paused: false, repeats: { $ne: 0 } };
    if (isDeleteOutcome(outcome)) return (await this.#docs.deleteOne(filter)).deletedCount === 1;
    const result = await this.#docs.updateOne(filter, {
      $set: {
        nextRun: outcome.nextRun,
        repeats: outcome.repeats,
        lastTaskId: outcome.lastTaskId,
        lastRunAt: outcome.lastRunAt,
        updatedAt: outcome.lastRunAt,
      },
    });
    return result.matchedCount === 1;
  }
}
