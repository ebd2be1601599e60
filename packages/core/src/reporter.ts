import type { TaskMessage } from './task/task.js';

/** Why a reported task failed. */
export type FailureKind = 'failed' | 'timeout' | 'lost';

/** What a reporter learns about the failed task (never its arguments: they may hold personal data). */
export interface ReportedTask extends Pick<TaskMessage, 'id' | 'name' | 'func'> {
  group?: string;
  /** The queue (cluster name) the task ran on. */
  cluster: string;
  /** Which execution failed (1-based). */
  attempt: number;
  /** `failed`: the task threw; `timeout`: TASKQ_TASK_TIMEOUT; `lost`: its worker thread died (TASKQ_WORKER_LOST). */
  kind: FailureKind;
  /** The error's stable code when it has one (`TASKQ_TASK_TIMEOUT`, the task's own `error.code`, …). */
  code?: string;
  /** No more attempts follow (a retry policy or broker redelivery runs the task again otherwise). */
  final: boolean;
}

/**
 * Error reporters (Sentry, Rollbar, …) receive every task failure, timeout and
 * lost worker, with its task. `report` may be async; its errors are logged and
 * never reach the pipeline.
 */
export interface ErrorReporter {
  readonly name: string;
  report(error: Error, task: ReportedTask): void | Promise<void>;
  /** Sends what is still buffered and releases the SDK; called by `Taskq.close()` for reporters it created by name. */
  close?(): Promise<void>;
}

/**
 * What a reporter package exports as `reporterFactory`, so that
 * `errorReporters: { <name>: options }` resolves to `@taskq/<name>`.
 */
export interface ReporterFactory {
  create(options: Record<string, unknown>): ErrorReporter | Promise<ErrorReporter>;
}
