import { AsyncLocalStorage } from 'node:async_hooks';

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
  signal: AbortSignal;
}

const storage = new AsyncLocalStorage<TaskContext>();

/** The context of the task running in this async flow, or undefined outside a task. */
export function currentTask(): TaskContext | undefined {
  return storage.getStore();
}

export function runWithTaskContext<T>(context: TaskContext, fn: () => T): T {
  return storage.run(context, fn);
}
