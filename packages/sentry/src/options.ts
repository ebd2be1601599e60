import { ErrorCodes, TaskqError } from '@taskq/core';
import type { NodeOptions, getClient } from '@sentry/node';

/** A Sentry client (what `Sentry.getClient()` returns). */
export type SentryClient = NonNullable<ReturnType<typeof getClient>>;

/**
 * Options of the Sentry reporter. Everything besides `client` and `tags` is
 * handed to the Sentry SDK as it is (`dsn`, `environment`, `release`,
 * `sampleRate`, `beforeSend`, `serverName`, …), so the SDK's own sampling and
 * filtering apply.
 */
export interface SentryReporterOptions extends Partial<Omit<NodeOptions, 'transport' | 'stackParser'>> {
  /** Report through this client instead of creating one (e.g. the one your app's `Sentry.init` made). */
  client?: SentryClient;
  /** Tags added to every event taskq reports. */
  tags?: Record<string, string>;
}

const STRING_OPTIONS = ['dsn', 'environment', 'release', 'serverName', 'dist'] as const;

/** Checks the options a config file or TASKQ_ERROR_REPORTERS can get wrong; the SDK owns the rest. */
export function validateOptions(options: Record<string, unknown>): SentryReporterOptions {
  const bad = (option: string, fix: string) =>
    new TaskqError(ErrorCodes.CONFIG, `Invalid @taskq/sentry option \`${option}\`: ${fix}.`);
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw bad('(options)', 'give an object such as { "dsn": "https://key@o1.ingest.sentry.io/1" }');
  }
  for (const name of STRING_OPTIONS) {
    if (options[name] !== undefined && typeof options[name] !== 'string') throw bad(name, 'use a string');
  }
  if (typeof options['dsn'] === 'string' && !/^https?:\/\/[^@/]+@[^/]+\/.+/.test(options['dsn'])) {
    throw bad('dsn', 'use the DSN from your Sentry project settings, like https://<key>@<host>/<project id>');
  }
  for (const name of ['sampleRate', 'tracesSampleRate'] as const) {
    const value = options[name];
    if (value !== undefined && (typeof value !== 'number' || !(value >= 0 && value <= 1))) {
      throw bad(name, 'use a number from 0 (send nothing) to 1 (send everything)');
    }
  }
  const tags = options['tags'];
  if (tags !== undefined && (typeof tags !== 'object' || tags === null || Array.isArray(tags))) {
    throw bad('tags', 'use an object of tag names to string values');
  }
  if (options['client'] !== undefined && options['dsn'] !== undefined) {
    throw bad('client', 'give either `client` or `dsn`, not both');
  }
  return options as SentryReporterOptions;
}
