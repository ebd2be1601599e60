import Rollbar from 'rollbar';
import { ErrorCodes, TaskqError, type ErrorReporter, type ReportedTask } from '@taskq/core';
import { validateOptions, type RollbarReporterOptions } from './options.js';

/**
 * Reports failed tasks to Rollbar (Django Q's django-q-rollbar, with the
 * task attached). Items are grouped by task function and error code through
 * Rollbar's `fingerprint`, so one failing task is one Rollbar item however
 * its stack varies.
 */
export class RollbarReporter implements ErrorReporter {
  readonly name = 'rollbar';
  readonly #rollbar: Rollbar;

  constructor(options: RollbarReporterOptions) {
    const { rollbar, release, ...sdkOptions } = validateOptions(options as unknown as Record<string, unknown>);
    this.#rollbar =
      rollbar ??
      new Rollbar({
        // A library must not take over the process's crash handlers; opt in explicitly.
        captureUncaught: false,
        captureUnhandledRejections: false,
        ...(release === undefined ? {} : { codeVersion: release }),
        ...sdkOptions,
      });
  }

  /** Resolves once Rollbar accepted the item (or the SDK skipped it: rate limit, reportLevel, checkIgnore). */
  report(error: Error, task: ReportedTask): Promise<void> {
    const custom = {
      fingerprint: fingerprintOf(error, task),
      title: `${task.func}: ${error.message}`.slice(0, 255),
      context: `taskq#${task.func}`,
      taskq: {
        id: task.id,
        name: task.name,
        func: task.func,
        group: task.group ?? null,
        queue: task.cluster,
        attempt: task.attempt,
        kind: task.kind,
        code: task.code ?? null,
        final: task.final,
      },
    };
    return new Promise((resolve, reject) => {
      // A failure that will be retried is a warning; the last attempt is the error.
      const log = task.final ? this.#rollbar.error : this.#rollbar.warning;
      log.call(this.#rollbar, error, custom, (sendError?: Error | null) => {
        if (sendError)
          reject(
            new TaskqError(ErrorCodes.TASK_FAILED, `Rollbar did not take the item: ${sendError.message}`, {
              cause: sendError,
            }),
          );
        else resolve();
      });
    });
  }

  /** Waits until every queued item is sent. */
  flush(): Promise<void> {
    return new Promise((resolve) => this.#rollbar.wait(resolve));
  }

  async close(): Promise<void> {
    await this.flush();
  }

  /** The Rollbar instance (yours if you passed one). */
  get rollbar(): Rollbar {
    return this.#rollbar;
  }
}

/** The grouping key: one Rollbar item per task function and error code (or error name without a code). */
export function fingerprintOf(error: Error, task: ReportedTask): string {
  return `taskq:${task.func}:${task.code ?? error.name}`;
}
