import type { TaskMessage } from './task/task.js';

/** Error reporters (Sentry, Rollbar, …) receive every task failure with its task. */
export interface ErrorReporter {
  readonly name: string;
  report(error: Error, task: Pick<TaskMessage, 'id' | 'name' | 'func' | 'group' | 'cluster'>): void | Promise<void>;
}
