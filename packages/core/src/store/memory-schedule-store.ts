import { ErrorCodes, TaskqError } from '../errors.js';
import {
  isDeleteOutcome,
  type ClaimOutcome,
  type Schedule,
  type SchedulePatch,
  type ScheduleQuery,
  type ScheduleStore,
} from './schedule-store.js';

/**
 * The reference in-process ScheduleStore. Every method finishes its check and
 * write without awaiting in between, so claims are atomic within the process.
 * Records are copied in and out so callers cannot change stored state.
 */
export class MemoryScheduleStore implements ScheduleStore {
  readonly #schedules = new Map<string, Schedule>();

  async createSchedule(schedule: Schedule): Promise<Schedule> {
    if (this.#schedules.has(schedule.id)) {
      throw new TaskqError(ErrorCodes.INVALID_ARGUMENT, `A schedule with id ${schedule.id} already exists.`);
    }
    this.#assertNameFree(schedule.name, schedule.id);
    this.#schedules.set(schedule.id, copy(schedule));
    return copy(schedule);
  }

  async getSchedule(idOrName: string): Promise<Schedule | null> {
    const byId = this.#schedules.get(idOrName);
    if (byId) return copy(byId);
    for (const schedule of this.#schedules.values()) if (schedule.name === idOrName) return copy(schedule);
    return null;
  }

  async listSchedules(query: ScheduleQuery = {}): Promise<{ schedules: Schedule[]; total: number }> {
    const matching = [...this.#schedules.values()]
      .filter(
        (s) =>
          (query.func === undefined || s.func === query.func) &&
          (query.type === undefined || s.type === query.type) &&
          (query.cluster === undefined || s.cluster === query.cluster) &&
          (query.paused === undefined || s.paused === query.paused),
      )
      .sort(byNextRun);
    const offset = query.offset ?? 0;
    const limit = query.limit ?? 100;
    return { schedules: matching.slice(offset, offset + limit).map(copy), total: matching.length };
  }

  async updateSchedule(id: string, patch: SchedulePatch): Promise<Schedule | null> {
    const existing = this.#schedules.get(id);
    if (!existing) return null;
    if (patch.name !== undefined) this.#assertNameFree(patch.name, id);
    const updated = copy({ ...existing, ...definedOnly(patch) });
    this.#schedules.set(id, updated);
    return copy(updated);
  }

  async deleteSchedule(id: string): Promise<boolean> {
    return this.#schedules.delete(id);
  }

  async nextScheduleDueAt(cluster: string): Promise<Date | null> {
    let earliest: Date | null = null;
    for (const s of this.#schedules.values()) {
      if (isActiveFor(s, cluster) && (earliest === null || s.nextRun < earliest)) earliest = s.nextRun;
    }
    return earliest ? new Date(earliest) : null;
  }

  async listDueSchedules(now: Date, cluster: string, limit: number): Promise<Schedule[]> {
    return [...this.#schedules.values()]
      .filter((s) => isActiveFor(s, cluster) && s.nextRun.getTime() <= now.getTime())
      .sort(byNextRun)
      .slice(0, limit)
      .map(copy);
  }

  async claimSchedule(id: string, expectedNextRun: Date, outcome: ClaimOutcome): Promise<boolean> {
    const s = this.#schedules.get(id);
    if (!s || s.paused || s.repeats === 0 || s.nextRun.getTime() !== expectedNextRun.getTime()) return false;
    if (isDeleteOutcome(outcome)) return this.#schedules.delete(id);
    this.#schedules.set(id, {
      ...s,
      nextRun: new Date(outcome.nextRun),
      repeats: outcome.repeats,
      lastTaskId: outcome.lastTaskId,
      lastRunAt: new Date(outcome.lastRunAt),
      updatedAt: new Date(outcome.lastRunAt),
    });
    return true;
  }

  #assertNameFree(name: string | null, ownId: string): void {
    if (name === null) return;
    for (const other of this.#schedules.values()) {
      if (other.name === name && other.id !== ownId) {
        throw new TaskqError(ErrorCodes.DUPLICATE_SCHEDULE, `A schedule named "${name}" already exists.`);
      }
    }
  }
}

function isActiveFor(s: Schedule, cluster: string): boolean {
  return !s.paused && s.repeats !== 0 && (s.cluster === null || s.cluster === cluster);
}

function byNextRun(a: Schedule, b: Schedule): number {
  return a.nextRun.getTime() - b.nextRun.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

function definedOnly(patch: SchedulePatch): SchedulePatch {
  return Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) as SchedulePatch;
}

function copy(s: Schedule): Schedule {
  return {
    ...s,
    taskOptions: structuredClone(s.taskOptions),
    nextRun: new Date(s.nextRun),
    anchorAt: new Date(s.anchorAt),
    lastRunAt: s.lastRunAt ? new Date(s.lastRunAt) : null,
    createdAt: new Date(s.createdAt),
    updatedAt: new Date(s.updatedAt),
  };
}
