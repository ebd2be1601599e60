import { NodeClient, Scope, defaultStackParser, flush, getClient, makeNodeTransport, withScope } from '@sentry/node';
import { ErrorCodes, TaskqError, type ErrorReporter, type ReportedTask } from '@taskq/core';
import { validateOptions, type SentryClient, type SentryReporterOptions } from './options.js';

/** How long `close()` waits for buffered events. */
const CLOSE_TIMEOUT_MS = 2000;

/**
 * Reports failed tasks to Sentry (Django Q's django-q-sentry, with the task in
 * a `taskq` context and tags). Events are grouped by task function and error
 * code, not by stack trace, so one failing task is one issue however its
 * stack varies.
 *
 * With a `dsn` the reporter makes its own Sentry client and leaves your app's
 * global Sentry alone; without one it reports through the client your app's
 * `Sentry.init()` made.
 */
export class SentryReporter implements ErrorReporter {
  readonly name = 'sentry';
  readonly #scope: Scope | null;
  readonly #client: SentryClient | null;
  readonly #tags: Record<string, string>;

  constructor(options: SentryReporterOptions = {}) {
    const { client, tags, ...sdkOptions } = validateOptions(options as Record<string, unknown>);
    this.#tags = tags ?? {};
    if (client !== undefined || sdkOptions.dsn !== undefined) {
      this.#client =
        client ??
        new NodeClient({
          integrations: [],
          ...sdkOptions,
          transport: makeNodeTransport,
          stackParser: defaultStackParser,
        } as ConstructorParameters<typeof NodeClient>[0]);
      this.#scope = new Scope();
      this.#scope.setClient(this.#client);
      if (client === undefined) this.#client.init();
    } else {
      this.#client = null;
      this.#scope = null;
    }
  }

  report(error: Error, task: ReportedTask): void {
    if (this.#scope === null) {
      if (getClient() === undefined) {
        throw new TaskqError(
          ErrorCodes.CONFIG,
          '@taskq/sentry has no DSN and Sentry is not initialised: give `dsn` in errorReporters.sentry, or call Sentry.init() first.',
        );
      }
      withScope((scope) => {
        describe(scope, error, task, this.#tags);
        scope.captureException(error);
      });
      return;
    }
    const scope = this.#scope.clone();
    describe(scope, error, task, this.#tags);
    scope.captureException(error);
  }

  /** Sends buffered events; closes the client this reporter created. */
  async close(): Promise<void> {
    if (this.#client === null) await flush(CLOSE_TIMEOUT_MS);
    else await this.#client.close(CLOSE_TIMEOUT_MS);
  }

  /** Sends buffered events and keeps the reporter usable. */
  async flush(timeoutMs = CLOSE_TIMEOUT_MS): Promise<boolean> {
    return this.#client === null ? flush(timeoutMs) : this.#client.flush(timeoutMs);
  }
}

/** The grouping key: one Sentry issue per task function and error code (or error name without a code). */
export function fingerprintOf(error: Error, task: ReportedTask): string[] {
  return ['taskq', task.func, task.code ?? error.name];
}

function describe(scope: Scope, error: Error, task: ReportedTask, tags: Record<string, string>): void {
  scope.setTags({
    ...tags,
    'taskq.func': task.func,
    'taskq.queue': task.cluster,
    'taskq.kind': task.kind,
    ...(task.code === undefined ? {} : { 'taskq.code': task.code }),
  });
  scope.setContext('taskq', {
    id: task.id,
    name: task.name,
    func: task.func,
    group: task.group ?? null,
    queue: task.cluster,
    attempt: task.attempt,
    kind: task.kind,
    code: task.code ?? null,
    final: task.final,
  });
  scope.setTransactionName(`taskq ${task.func}`);
  scope.setFingerprint(fingerprintOf(error, task));
  // A failure that will be retried is a warning; the last attempt is the error.
  scope.setLevel(task.final ? 'error' : 'warning');
}
