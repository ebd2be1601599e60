import { AsyncLocalStorage } from 'node:async_hooks';
import type { TaskLogLevel } from './task.js';

/**
 * What a running task can learn about itself: import `currentTask` from
 * `@taskq/core/worker` inside a task function. The signal aborts at the
 * task's timeout (and at a hard stop); long tasks should pass it on to
 * fetch/streams or check `signal.aborted` in loops.
 */
export interface TaskContext {
  id: string;
  name: string;
  func: string;
  group: string | null;
  /** 1 for the first execution. */
  attempt: number;
  /** When the cluster received this task from the broker (ms since the epoch): the start of its execution is later. */
  deliveredAt: number;
  /** Aborts at the task's timeout, when it is cancelled (`q.cancel`), and at a hard stop; `signal.reason` says which. */
  signal: AbortSignal;
  /**
   * Reports progress: a number (e.g. 0…1 or a percentage) or a small JSON value (≤ 4 KiB). The last value is
   * kept with the task: `q.progress(id)` and the dashboard read it while the task runs, `q.fetch(id)` after.
   */
  progress(value: unknown): void;
  /**
   * Adds a log line to the task (kept with its record: the newest 100 lines, messages cut at 1,000 characters,
   * `fields` at most 2 KiB as JSON).
   */
  log(level: TaskLogLevel, message: string, fields?: Record<string, unknown>): void;
}

const storage = new AsyncLocalStorage<TaskContext>();

/** The context of the task running in this async flow, or undefined outside a task. */
export function currentTask(): TaskContext | undefined {
  return storage.getStore();
}

export function runWithTaskContext<T>(context: TaskContext, fn: () => T): T {
  return storage.run(context, fn);
}
