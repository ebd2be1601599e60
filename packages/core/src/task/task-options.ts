import { ErrorCodes, TaskqError } from '../errors.js';
import { didYouMean } from '../util/closest.js';

/** The per-task options of a chain link or schedule (LinkOptions). */
export const LINK_OPTION_KEYS = [
  'hook',
  'group',
  'timeout',
  'save',
  'ackFailure',
  'maxAttempts',
  'cached',
  'taskName',
  'retry',
  'priority',
] as const;

/** Everything `enqueue()` accepts: LinkOptions plus where and when to deliver. */
export const TASK_OPTION_KEYS = [
  ...LINK_OPTION_KEYS,
  'sync',
  'cluster',
  'delay',
  'runAt',
  'dedupKey',
  'dedup',
  'expiresIn',
  'expiresAt',
  'transaction',
  'limit',
] as const;

/** Problems with option names, each naming the closest valid one: `maxAttemps` would otherwise be ignored. */
export function unknownOptionProblems(options: object, known: readonly string[]): string[] {
  return Object.keys(options)
    .filter((key) => !known.includes(key))
    .map((key) => `unknown option \`${key}\`${didYouMean(key, known, '`')}`);
}

/** Throws TASKQ_INVALID_ARGUMENT when task options hold a name taskq does not know. */
export function assertTaskOptions(options: object, known: readonly string[] = TASK_OPTION_KEYS): void {
  if (typeof options !== 'object' || options === null) return;
  const problems = unknownOptionProblems(options, known);
  if (problems.length > 0) {
    throw new TaskqError(
      ErrorCodes.INVALID_ARGUMENT,
      `Invalid task options: ${problems.join('; ')}. The options are ${known.join(', ')}.`,
    );
  }
}
