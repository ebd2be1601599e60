import { ErrorCodes, TaskqError } from '../errors.js';

/**
 * Checks the values of per-task options before a task is built, so a bad one is an error at enqueue and never a
 * recorded "timeout of -1 s" or "NaN s" later. Names are checked separately (task-options.ts).
 */
export function assertOptionValues(options: Record<string, unknown>): void {
  const problems: string[] = [];
  const check = (key: string, ok: (value: unknown) => boolean, expected: string) => {
    const value = options[key];
    if (value !== undefined && !ok(value)) problems.push(`\`${key}\` must be ${expected}, got ${describe(value)}`);
  };
  const positive = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v > 0;
  const whole = (v: unknown) => Number.isInteger(v);
  const text = (v: unknown) => typeof v === 'string' && v.length > 0;
  const flag = (v: unknown) => typeof v === 'boolean';
  check('timeout', (v) => v === null || positive(v), 'a number of seconds > 0, or null for none');
  check('maxAttempts', (v) => whole(v) && (v as number) >= 0, 'a whole number >= 0 (0 = no limit)');
  check('priority', whole, 'a whole number (higher runs first)');
  check('cached', (v) => flag(v) || positive(v), 'true, false or a number of seconds > 0');
  check('save', flag, 'true or false');
  check('ackFailure', flag, 'true or false');
  check('hook', text, 'a task name');
  check('group', text, 'a non-empty string');
  check('taskName', text, 'a non-empty string');
  check('delay', (v) => typeof v === 'number' && Number.isFinite(v) && v >= 0, 'a number of milliseconds >= 0');
  check('runAt', (v) => v instanceof Date && !Number.isNaN(v.getTime()), 'a valid Date');
  check('dedupKey', (v) => text(v) && (v as string).length <= 400, 'a non-empty string of at most 400 characters');
  check('dedup', isDedupMode, "'queued', 'active' or { ttlMs: number > 0 }");
  check('expiresIn', positive, 'a number of milliseconds > 0');
  check('expiresAt', (v) => v instanceof Date && !Number.isNaN(v.getTime()), 'a valid Date');
  if (options.dedup !== undefined && options.dedupKey === undefined) problems.push('`dedup` needs a `dedupKey`');
  if (options.expiresIn !== undefined && options.expiresAt !== undefined) {
    problems.push('give `expiresIn` or `expiresAt`, not both');
  }
  check(
    'transaction',
    (v) => typeof v === 'object' && v !== null,
    'an open transaction object of your database client',
  );
  if (options.transaction !== undefined && options.dedupKey !== undefined) {
    problems.push('`dedupKey` cannot be combined with `transaction` (the key would outlive a rolled-back task)');
  }
  if (options.transaction !== undefined && options.sync === true)
    problems.push('`sync` runs now: it cannot join a `transaction`');
  check('retry', isRetryPolicy, "a retry policy { backoff: 'fixed' | 'exponential', delayMs >= 0 }");
  if (problems.length > 0) {
    throw new TaskqError(ErrorCodes.INVALID_ARGUMENT, `Invalid task options: ${problems.join('; ')}.`);
  }
}

function isDedupMode(value: unknown): boolean {
  if (value === 'queued' || value === 'active') return true;
  const ttlMs = (value as { ttlMs?: unknown } | null)?.ttlMs;
  return typeof value === 'object' && typeof ttlMs === 'number' && Number.isFinite(ttlMs) && ttlMs > 0;
}

function isRetryPolicy(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const { backoff, delayMs } = value as { backoff?: unknown; delayMs?: unknown };
  return (backoff === 'fixed' || backoff === 'exponential') && typeof delayMs === 'number' && delayMs >= 0;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value instanceof Date) return 'an invalid Date';
  return String(value);
}
