import type { ReporterFactory } from '@taskq/core';
import { SentryReporter } from './sentry-reporter.js';
import type { SentryReporterOptions } from './options.js';

export { SentryReporter, fingerprintOf } from './sentry-reporter.js';
export type { SentryReporterOptions } from './options.js';

/** `errorReporters: { sentry: { dsn, environment, release, sampleRate } }` resolves here. */
export const reporterFactory: ReporterFactory = {
  create: (options) => new SentryReporter(options as SentryReporterOptions),
};
