import { limitFor } from '../broker/broker.js';
import type { ClusterPart } from '../cluster/cluster.js';
import type { Runtime } from '../cluster/runtime.js';
import { ErrorCodes, TaskqError } from '../errors.js';
import type { ResultStore } from '../store/result-store.js';
import { buildTaskMessage } from '../task/message.js';
import { Scheduler, type ScheduledClaimAndEnqueue, type ScheduledEnqueue, type SchedulerOptions } from './scheduler.js';
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
    const message = scheduledMessage(func, args, options);
    runtime.events.emit('preEnqueue', message);
    await runtime.send(message);
    return message.id;
  };
}

function scheduledMessage(func: string, args: unknown[], options: Parameters<ScheduledEnqueue>[2]) {
  const { id, cluster, ...link } = options;
  return buildTaskMessage({ func, args, options: link, id, ...(cluster !== undefined ? { cluster } : {}) });
}

/**
 * The transactional path, when the schedule store can claim and enqueue in one transaction and the target
 * queue's broker can write inside it (a SQL store and broker on one database); undefined otherwise.
 */
export function runtimeClaimAndEnqueue(runtime: Runtime, store: ScheduleStore): ScheduledClaimAndEnqueue | undefined {
  const claimAndEnqueue = store.claimScheduleAndEnqueue?.bind(store);
  if (claimAndEnqueue === undefined) return undefined;
  return async (schedule, outcome, args, options) => {
    const message = scheduledMessage(schedule.func, args, options);
    const broker = await runtime.brokerFor(message.cluster ?? runtime.config.cluster);
    if (broker.capabilities.transactionalEnqueue !== true) return null;
    runtime.events.emit('preEnqueue', message);
    const queue = message.cluster ?? runtime.config.cluster;
    const limit = limitFor(runtime.config.limits, message, queue);
    const enqueueOptions = {
      ...(message.priority === undefined ? {} : { priority: message.priority }),
      ...(limit === undefined ? {} : { limit }),
    };
    return claimAndEnqueue(schedule.id, schedule.nextRun, outcome, {
      broker,
      payload: runtime.codec.pack(message),
      options: enqueueOptions,
    });
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
  const store = scheduleStoreOf(runtime.store);
  const claimAndEnqueue = runtimeClaimAndEnqueue(runtime, store);
  const scheduler = new Scheduler({
    store,
    cluster: runtime.config.cluster,
    enqueue: runtimeEnqueue(runtime),
    ...(claimAndEnqueue === undefined ? {} : { claimAndEnqueue }),
    logger: runtime.logger,
    catchUp: runtime.config.catchUp,
    serializer: runtime.serializer,
    ...overrides,
  });
  return { name: 'scheduler', scheduler, start: (signal) => scheduler.run(signal) };
}
