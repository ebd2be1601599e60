import type { ReporterFactory } from '@taskq/core';
import { RollbarReporter } from './rollbar-reporter.js';
import type { RollbarReporterOptions } from './options.js';

export { RollbarReporter, fingerprintOf } from './rollbar-reporter.js';
export type { RollbarReporterOptions } from './options.js';

/** `errorReporters: { rollbar: { accessToken, environment, codeVersion } }` resolves here. */
export const reporterFactory: ReporterFactory = {
  create: (options) => new RollbarReporter(options as RollbarReporterOptions),
};
