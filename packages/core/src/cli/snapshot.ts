import { awaitsRetry, isScheduleStore, type BrokerInfo, type ClusterStat, type Runtime } from '../index.js';

/** What `taskq monitor` shows: every cluster sharing the broker, plus queue and result counts. */
export interface MonitorSnapshot {
  at: string;
  broker: BrokerInfo;
  /** The queue counted in `queued`/`locked` (this config's `cluster`). */
  queue: string;
  queued: number;
  /** Delivered, not yet acknowledged. */
  locked: number;
  successes: number;
  failures: number;
  /**
   * Failures that will run again (attempts left under the budget they ran under), among the latest
   * {@link RETRY_SAMPLE} failures; the rest of `failures` are final.
   */
  retrying: number;
  clusters: ClusterStat[];
  /** Waiting and delivered-unacknowledged tasks of each queue a cluster works on (and this config's). */
  queues: Record<string, { queued: number; locked: number }>;
}

/** Failures read to count those awaiting a retry. */
export const RETRY_SAMPLE = 1000;

export async function takeSnapshot(runtime: Runtime): Promise<MonitorSnapshot> {
  const { broker, store, stats } = runtime;
  const [info, queued, locked, successes, failures, clusters] = await Promise.all([
    broker.info(),
    broker.queueSize(),
    broker.lockSize(),
    store.list({ success: true, limit: 1 }).then((r) => r.total),
    store.list({ success: false, limit: RETRY_SAMPLE }),
    stats ? stats.getStats() : Promise.resolve([]),
  ]);
  clusters.sort(
    (a, b) => a.host.localeCompare(b.host) || a.name.localeCompare(b.name) || a.clusterId.localeCompare(b.clusterId),
  );
  const queues: MonitorSnapshot['queues'] = { [broker.queue]: { queued, locked } };
  for (const queue of new Set(clusters.map((c) => c.queue).filter((q) => q !== undefined && !(q in queues)))) {
    queues[queue] = await queueCounts(runtime, queue);
  }
  return {
    at: new Date().toISOString(),
    broker: info,
    queue: broker.queue,
    queued,
    locked,
    successes,
    failures: failures.total,
    retrying: failures.records.filter(awaitsRetry).length,
    clusters,
    queues,
  };
}

/** Another queue's counts through its own broker; zeros where the broker serves one queue only (an instance). */
async function queueCounts(runtime: Runtime, queue: string): Promise<{ queued: number; locked: number }> {
  try {
    const broker = await runtime.brokerFor(queue);
    const [queued, locked] = await Promise.all([broker.queueSize(), broker.lockSize()]);
    return { queued, locked };
  } catch {
    return { queued: 0, locked: 0 };
  }
}

export type RateUnit = 'second' | 'minute' | 'hour' | 'day';

/** `taskq info`: Django Q's qinfo figures. */
export interface InfoSnapshot {
  version: string;
  broker: BrokerInfo;
  queue: string;
  clusters: number;
  /** Running clusters whose queue is paused (`taskq queue pause`): they claim nothing until resumed. */
  paused: number;
  workers: number;
  restarts: number;
  queued: number;
  locked: number;
  successes: number;
  failures: number;
  /** Failures that will run again (see MonitorSnapshot.retrying). */
  retrying: number;
  /** null when the store keeps no schedules. */
  schedules: number | null;
  tasksPerUnit: { rate: number; unit: RateUnit; sample: number; windowSeconds: number };
  /** Mean seconds from start to stop of the sampled successes; null without any. */
  averageTime: number | null;
}

const DAY_MS = 86_400_000;
/** Successes read to compute the rate; past this the window shrinks to what they cover. */
const RATE_SAMPLE = 1000;

export async function takeInfo(runtime: Runtime, version: string, now = Date.now()): Promise<InfoSnapshot> {
  const snapshot = await takeSnapshot(runtime);
  const store = runtime.store;
  const [schedules, recent] = await Promise.all([
    isScheduleStore(store) ? store.listSchedules({ limit: 1 }).then((r) => r.total) : Promise.resolve(null),
    store.list({ success: true, limit: RATE_SAMPLE }).then((r) => r.records),
  ]);
  const window = recent.filter((r) => now - r.stoppedAt.getTime() <= DAY_MS);
  const capped = recent.length === RATE_SAMPLE && window.length === RATE_SAMPLE;
  const oldest = Math.min(...window.map((r) => r.stoppedAt.getTime()));
  const windowMs = capped ? Math.max(1000, now - oldest) : DAY_MS;
  const totalSeconds = window.reduce((sum, r) => sum + (r.stoppedAt.getTime() - r.startedAt.getTime()) / 1000, 0);
  return {
    version,
    broker: snapshot.broker,
    queue: snapshot.queue,
    clusters: snapshot.clusters.length,
    paused: snapshot.clusters.filter((c) => c.paused === true).length,
    workers: snapshot.clusters.reduce((sum, c) => sum + c.workers, 0),
    restarts: snapshot.clusters.reduce((sum, c) => sum + c.reincarnations, 0),
    queued: snapshot.queued,
    locked: snapshot.locked,
    successes: snapshot.successes,
    failures: snapshot.failures,
    retrying: snapshot.retrying,
    schedules,
    tasksPerUnit: { ...rateOf(window.length, windowMs), sample: window.length, windowSeconds: windowMs / 1000 },
    averageTime: window.length > 0 ? totalSeconds / window.length : null,
  };
}

/** Django Q's unit choice: per second above 1/s, per minute above 1/min, per hour above 1/h, else per day. */
export function rateOf(count: number, windowMs: number): { rate: number; unit: RateUnit } {
  const perDay = (count * DAY_MS) / windowMs;
  if (perDay > 86_400) return { rate: perDay / 86_400, unit: 'second' };
  if (perDay > 1_440) return { rate: perDay / 1_440, unit: 'minute' };
  if (perDay > 24) return { rate: perDay / 24, unit: 'hour' };
  return { rate: perDay, unit: 'day' };
}
