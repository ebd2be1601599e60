import { ErrorCodes, TaskqError, toErrorInfo, type ErrorInfo } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ErrorReporter, FailureKind, ReportedTask, ReporterFactory } from '../reporter.js';
import type { TaskMessage, TaskRecord } from '../task/task.js';
import { importOptional } from '../util/import-optional.js';
import { didYouMean } from '../util/closest.js';

/** `errorReporters` as configured: reporter objects, or reporter names with their options. */
export type ErrorReportersOption = ErrorReporter[] | Record<string, Record<string, unknown>>;

export interface LoadedReporters {
  reporters: ErrorReporter[];
  /** The ones created here from names: taskq closes them (instances passed in belong to the caller). */
  owned: ErrorReporter[];
}

/** The reporters that exist as packages (`@taskq/<name>`). */
export const REPORTER_PACKAGES: readonly string[] = ['sentry', 'rollbar'];

/**
 * Resolves `errorReporters`: each name loads `@taskq/<name>` and calls its
 * `reporterFactory.create(options)` (Django Q's `error_reporter = {name: kwargs}`).
 */
export async function loadErrorReporters(option: ErrorReportersOption): Promise<LoadedReporters> {
  if (Array.isArray(option)) return { reporters: option, owned: [] };
  const owned: ErrorReporter[] = [];
  for (const [name, options] of Object.entries(option)) {
    if (!REPORTER_PACKAGES.includes(name)) {
      // Never send anyone to `npm install @taskq/<typo>`: name the reporters that exist.
      throw new TaskqError(
        ErrorCodes.CONFIG,
        `Invalid taskq configuration:\n  - \`errorReporters.${name}\`: no taskq error reporter is called "${name}"` +
          `${didYouMean(name, REPORTER_PACKAGES)}; by name there are ${REPORTER_PACKAGES.join(', ')} ` +
          '(@taskq/<name>), or pass objects with report(error, task) in an array.',
      );
    }
    const packageName = `@taskq/${name}`;
    const module = await importOptional<{ reporterFactory?: ReporterFactory }>(
      packageName,
      `The "${name}" error reporter`,
    );
    if (typeof module.reporterFactory?.create !== 'function') {
      throw new TaskqError(
        ErrorCodes.CONFIG,
        `${packageName} is not an error reporter (it exports no \`reporterFactory\`): fix the name in \`errorReporters\`.`,
      );
    }
    owned.push(await module.reporterFactory.create(options));
  }
  return { reporters: owned, owned };
}

/** Classifies a failed execution for reporters and metrics. */
export function failureKind(error: ErrorInfo | null, lost: boolean): FailureKind {
  if (error?.code === ErrorCodes.TASK_TIMEOUT) return 'timeout';
  if (lost || error?.code === ErrorCodes.WORKER_LOST) return 'lost';
  return 'failed';
}

/**
 * Hands one failure to every reporter without waiting: a reporter's own
 * error (thrown or rejected) is logged and never reaches the pipeline.
 */
export function reportFailure(
  reporters: readonly ErrorReporter[],
  logger: Logger,
  message: TaskMessage,
  record: TaskRecord,
  details: { lost: boolean; final: boolean },
): void {
  const info = record.error ?? { name: 'Error', message: 'unknown failure' };
  const error = Object.assign(new Error(info.message), { name: info.name, stack: info.stack, code: info.code });
  const task: ReportedTask = {
    id: message.id,
    name: message.name,
    func: message.func,
    cluster: record.cluster ?? '',
    attempt: record.attemptCount,
    kind: failureKind(record.error, details.lost),
    final: details.final,
  };
  if (message.group !== undefined) task.group = message.group;
  if (info.code !== undefined) task.code = info.code;
  for (const reporter of reporters) {
    Promise.resolve()
      .then(() => reporter.report(error, task))
      .catch((e: unknown) =>
        logger.error('error reporter failed', { reporter: reporter.name, error: toErrorInfo(e).message }),
      );
  }
}
