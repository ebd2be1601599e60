import { ErrorCodes, TaskqError } from '@taskq/core';
import type Rollbar from 'rollbar';

/**
 * Options of the Rollbar reporter. Everything besides `rollbar` is handed to
 * the Rollbar SDK as it is (`accessToken`, `environment`, `codeVersion`,
 * `endpoint`, `itemsPerMinute`, `maxItems`, `reportLevel`, `checkIgnore`, …),
 * so the SDK's own rate limits and filters apply.
 */
export interface RollbarReporterOptions extends Rollbar.Configuration {
  /** Report through this Rollbar instance (e.g. your app's) instead of creating one. */
  rollbar?: Rollbar;
  /** Rollbar's name for the release; an alias of `codeVersion`. */
  release?: string;
}

const STRING_OPTIONS = ['accessToken', 'environment', 'codeVersion', 'code_version', 'endpoint', 'release'] as const;

/** Checks the options a config file or TASKQ_ERROR_REPORTERS can get wrong; the SDK owns the rest. */
export function validateOptions(options: Record<string, unknown>): RollbarReporterOptions {
  const bad = (option: string, fix: string) =>
    new TaskqError(ErrorCodes.CONFIG, `Invalid @taskq/rollbar option \`${option}\`: ${fix}.`);
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw bad('(options)', 'give an object such as { "accessToken": "<post_server_item token>" }');
  }
  for (const name of STRING_OPTIONS) {
    if (options[name] !== undefined && typeof options[name] !== 'string') throw bad(name, 'use a string');
  }
  if (options['rollbar'] === undefined && !options['accessToken']) {
    throw bad('accessToken', "set your project's post_server_item access token (or pass a `rollbar` instance)");
  }
  if (options['rollbar'] !== undefined && options['accessToken'] !== undefined) {
    throw bad('rollbar', 'give either `rollbar` or `accessToken`, not both');
  }
  if (typeof options['endpoint'] === 'string' && !/^https?:\/\/[^/]+\/.*item\/?$/.test(options['endpoint'])) {
    throw bad('endpoint', 'use the full item URL, e.g. https://api.rollbar.com/api/1/item/ (the default)');
  }
  for (const name of ['itemsPerMinute', 'maxItems'] as const) {
    const value = options[name];
    if (value !== undefined && (typeof value !== 'number' || !Number.isInteger(value) || value < 0)) {
      throw bad(name, 'use a whole number, 0 or more');
    }
  }
  return options as RollbarReporterOptions;
}
