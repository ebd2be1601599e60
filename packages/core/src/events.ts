import { EventEmitter } from 'node:events';
import type { ErrorInfo } from './errors.js';
import type { TaskMessage, TaskMeta, TaskRecord } from './task/task.js';

/**
 * Everything taskq tells listeners, in one typed map (Django Q's signals plus
 * cluster events). Listeners of `preEnqueue` may change the task before it is signed.
 */
export interface TaskqEvents {
  preEnqueue: [task: TaskMessage];
  preExecute: [task: TaskMessage];
  postExecute: [record: TaskRecord, task: TaskMessage];
  postSpawn: [info: { threadId: number }];
  clusterStart: [info: { clusterId: string; name: string }];
  clusterStop: [info: { clusterId: string; name: string }];
  workerLost: [info: { threadId: number; taskIds: string[]; reason: string }];
  recycle: [info: { threadId: number; tasks: number }];
  timeout: [info: { taskId: string; name: string; func: string; seconds: number }];
  /** A failed execution will run again: re-sent now by a retry policy, or left for the broker to redeliver. */
  retry: [
    info: { taskId: string; name: string; func: string; queue: string; attempt: number; via: 'policy' | 'redelivery' },
  ];
  rejectedPackage: [info: { receipt: string; error: ErrorInfo }];
  /** A running task in this process called `progress()` or `log()`: its meta so far. */
  taskProgress: [info: { taskId: string; meta: TaskMeta }];
  /** A task in this process was not run: cancelled (`q.cancel`) or expired (`expiresAt`). */
  taskStopped: [
    info: { taskId: string; name: string; func: string; reason: 'cancelled' | 'expired'; running: boolean },
  ];
  reincarnation: [info: { part: string; error: ErrorInfo }];
  /**
   * A task execution finished and its result is saved — in ANY process sharing the broker: delivered through
   * the broker's event channel (Redis pub/sub, PostgreSQL LISTEN/NOTIFY), else found by polling the store.
   */
  taskFinished: [event: TaskFinishedEvent];
  /** A task execution failed (final or not, see `event.final`), in any process; also emitted as `taskFinished`. */
  taskFailed: [event: TaskFinishedEvent];
  error: [error: Error];
}

/** What `taskFinished`/`taskFailed` carry: enough to decide; `q.fetch(event.id)` reads the whole record. */
export interface TaskFinishedEvent {
  id: string;
  name: string;
  func: string;
  group: string | null;
  /** The queue it ran on. */
  cluster: string | null;
  success: boolean;
  /** Executions so far (1 on the first). */
  attempt: number;
  /** No more attempts follow: a success, or a failure that is acknowledged for good. */
  final: boolean;
  /** The error code of a failure (TASKQ_TASK_CANCELLED, TASKQ_TASK_EXPIRED, …). */
  code?: string;
  /** The task's last `progress()` value, when it reported one. */
  progress?: unknown;
}

/**
 * The optional `events` capability of a broker (or store): tell every process sharing it which tasks finished.
 * Declared with `capabilities.events: true`. The cluster publishes once per saved batch (never per task), and a
 * client subscribes when someone listens to `taskFinished`/`taskFailed` or waits for a result. Delivery is
 * best effort (pub/sub): readers that must not miss a result also re-check the store now and then.
 */
export interface TaskEventChannel {
  publishFinished(events: readonly TaskFinishedEvent[]): Promise<void>;
  /** Resolves once listening; the returned function stops it. */
  subscribeFinished(listener: (events: TaskFinishedEvent[]) => void): Promise<() => Promise<void>>;
}

/** The event a saved record stands for. */
export function finishedEventOf(record: TaskRecord, final: boolean): TaskFinishedEvent {
  const event: TaskFinishedEvent = {
    id: record.id,
    name: record.name,
    func: record.func,
    group: record.group,
    cluster: record.cluster,
    success: record.success,
    attempt: record.attemptCount,
    final,
  };
  if (record.error?.code !== undefined) event.code = record.error.code;
  if (record.meta?.progress !== undefined) event.progress = record.meta.progress;
  return event;
}

/** What an adapter adds to its capabilities to declare {@link TaskEventChannel}. */
export interface EventsCapability {
  events?: boolean;
}

/** The first of `candidates` (broker, then store) that declares the `events` capability and implements it. */
export function eventChannelOf(...candidates: unknown[]): TaskEventChannel | null {
  for (const candidate of candidates) {
    const c = candidate as Partial<TaskEventChannel> & { capabilities?: EventsCapability };
    if (
      c?.capabilities?.events === true &&
      typeof c.publishFinished === 'function' &&
      typeof c.subscribeFinished === 'function'
    ) {
      return c as TaskEventChannel;
    }
  }
  return null;
}

type Listener<K extends keyof TaskqEvents> = (...args: TaskqEvents[K]) => void;

/** A typed facade over EventEmitter. Listener exceptions are reported, never thrown into the pipeline. */
export class TaskqEmitter {
  readonly #emitter = new EventEmitter();

  constructor() {
    this.#emitter.setMaxListeners(0);
  }

  on<K extends keyof TaskqEvents>(event: K, listener: Listener<K>): () => void {
    this.#emitter.on(event, listener as (...args: unknown[]) => void);
    return () => this.off(event, listener);
  }

  once<K extends keyof TaskqEvents>(event: K, listener: Listener<K>): void {
    const off = this.on(event, ((...args: TaskqEvents[K]) => {
      off();
      listener(...args);
    }) as Listener<K>);
  }

  off<K extends keyof TaskqEvents>(event: K, listener: Listener<K>): void {
    this.#emitter.off(event, listener as (...args: unknown[]) => void);
  }

  listenerCount(event: keyof TaskqEvents): number {
    return this.#emitter.listenerCount(event);
  }

  emit<K extends keyof TaskqEvents>(event: K, ...args: TaskqEvents[K]): void {
    if (this.#emitter.listenerCount(event) === 0) return;
    for (const listener of this.#emitter.listeners(event)) {
      try {
        (listener as Listener<K>)(...args);
      } catch (error) {
        if (event !== 'error') this.emit('error', error instanceof Error ? error : new Error(String(error)));
      }
    }
  }
}
