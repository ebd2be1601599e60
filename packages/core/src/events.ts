import { EventEmitter } from 'node:events';
import type { ErrorInfo } from './errors.js';
import type { TaskMessage, TaskRecord } from './task/task.js';

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
  reincarnation: [info: { part: string; error: ErrorInfo }];
  error: [error: Error];
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
