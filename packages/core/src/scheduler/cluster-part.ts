import type { ClusterPart } from '../cluster/cluster.js';
import type { Runtime } from '../cluster/runtime.js';
import { ErrorCodes, TaskqError } from '../errors.js';
import type { ResultStore } from '../store/result-store.js';
import { buildTaskMessage } from '../task/message.js';
import { Scheduler, type ScheduledEnqueue, type SchedulerOptions } from './scheduler.js';
import { isScheduleStore, type ScheduleStore } from '../store/schedule-store.js';

/** The configured store as a ScheduleStore, or a TASKQ_CONFIG_INVALID error saying which stores keep schedules. */
export function scheduleStoreOf(store: ResultStore): ScheduleStore {
  if (isScheduleStore(store)) return store;
  throw new TaskqError(
    ErrorCodes.CONFIG,
    'The configured `store` keeps no schedules, so no scheduler can run: set `store` (or TASKQ_STORE_URL) to ' +
      'one that does — redis://…, postgres://…, mysql://…, sqlite:./taskq.sqlite, mongodb://… or memory: — ' +
      'or set `scheduler: false` (TASKQ_SCHEDULER=false) to run this cluster without schedules.',
  );
}

/** Enqueue for the scheduler over the runtime: the pre-generated id becomes the task id. */
export function runtimeEnqueue(runtime: Runtime): ScheduledEnqueue {
  return async (func, args, options) => {
    const { id, cluster, ...link } = options;
    const message = buildTaskMessage({ func, args, options: link, id, ...(cluster !== undefined ? { cluster } : {}) });
    runtime.events.emit('preEnqueue', message);
    await runtime.send(message);
    return id;
  };
}

/**
 * The scheduler as a part the sentinel supervises: `cluster.addPart(part)`
 * before start. It runs schedules for the runtime's cluster name and stops
 * when the sentinel aborts the signal. `part.scheduler.wake()` after local changes.
 */
export function createSchedulerPart(
  runtime: Runtime,
  overrides: Partial<Omit<SchedulerOptions, 'store' | 'enqueue'>> = {},
): ClusterPart & { scheduler: Scheduler } {
  const scheduler = new Scheduler({
    store: scheduleStoreOf(runtime.store),
    cluster: runtime.config.cluster,
    enqueue: runtimeEnqueue(runtime),
    logger: runtime.logger,
    catchUp: runtime.config.catchUp,
    serializer: runtime.serializer,
    ...overrides,
  });
  return { name: 'scheduler', scheduler, start: (signal) => scheduler.run(signal) };
}
