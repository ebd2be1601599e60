import { ErrorCodes, TaskqError } from '../errors.js';
import { cronFor } from './next-run.js';
import { SCHEDULE_TYPES, type Schedule, type ScheduleType } from '../store/schedule-store.js';
import { isValidTimeZone } from './zoned-time.js';
import { LINK_OPTION_KEYS, unknownOptionProblems } from '../task/task-options.js';

/** The fields a schedule must get right; checked on create and on every update. */
export type ScheduleRules = Pick<
  Schedule,
  | 'name'
  | 'func'
  | 'type'
  | 'minutes'
  | 'cron'
  | 'repeats'
  | 'nextRun'
  | 'timezone'
  | 'cluster'
  | 'intendedDateArg'
  | 'catchUp'
  | 'taskOptions'
>;

const BY_LOWER = new Map<string, ScheduleType>(SCHEDULE_TYPES.map((t) => [t.toLowerCase(), t]));

/** Accepts the type names in any case ("daily", "Daily"); anything else is TASKQ_SCHEDULE_INVALID. */
export function parseScheduleType(value: unknown): ScheduleType {
  const type = typeof value === 'string' ? BY_LOWER.get(value.toLowerCase()) : undefined;
  if (type === undefined) {
    throw invalid([
      `\`type\` ${JSON.stringify(value)} is not a schedule type; use one of ${SCHEDULE_TYPES.join(', ')}`,
    ]);
  }
  return type;
}

function invalid(problems: string[], label?: string): TaskqError {
  const head = label ? `Invalid schedule ${label}` : 'Invalid schedule';
  const body = problems.length === 1 ? `: ${problems[0]}.` : `:\n  - ${problems.join('\n  - ')}`;
  return new TaskqError(ErrorCodes.SCHEDULE_INVALID, head + body);
}

const CLUSTER_NAME = /^[\w.-]+$/;

/** Throws TaskqError TASKQ_SCHEDULE_INVALID naming every problem and its fix. */
export function validateSchedule(s: ScheduleRules): void {
  const problems: string[] = [];
  const typeKnown = (SCHEDULE_TYPES as readonly string[]).includes(s.type);

  if (typeof s.func !== 'string' || s.func.trim() === '') {
    problems.push('`func` must be the name of a task (a non-empty string)');
  }
  if (!typeKnown) {
    problems.push(`\`type\` ${JSON.stringify(s.type)} is not a schedule type; use one of ${SCHEDULE_TYPES.join(', ')}`);
  }
  if (s.name !== null && (typeof s.name !== 'string' || s.name === '' || s.name.length > 200)) {
    problems.push('`name` must be a non-empty string of at most 200 characters, or null');
  }

  if (s.type === 'Minutes') {
    if (s.minutes === null || s.minutes === undefined) {
      problems.push('type Minutes needs `minutes`: the interval as a whole number of minutes, at least 1');
    } else if (!Number.isInteger(s.minutes) || s.minutes < 1) {
      problems.push(`\`minutes\` must be a whole number of minutes, at least 1 (got ${String(s.minutes)})`);
    }
  } else if (s.minutes !== null && s.minutes !== undefined && typeKnown) {
    problems.push(`\`minutes\` only applies to type Minutes; remove it or use type Minutes (type is ${s.type})`);
  }

  const timezoneOk = isValidTimeZone(s.timezone);
  if (!timezoneOk) {
    problems.push(
      `\`timezone\` ${JSON.stringify(s.timezone)} is not an IANA time zone (e.g. "Europe/Amsterdam", "UTC")`,
    );
  }

  if (s.type === 'Cron') {
    if (typeof s.cron !== 'string' || s.cron.trim() === '') {
      problems.push('type Cron needs `cron`: a 5-field ("0 22 * * 1-5") or 6-field ("*/5 * * * * *") expression');
    } else if (timezoneOk) {
      try {
        if (cronFor(s.cron, s.timezone).nextRun() === null) {
          problems.push(`\`cron\` "${s.cron}" never matches a future time`);
        }
      } catch (error) {
        const reason = error instanceof Error ? error.message.replace(/^CronPattern: /, '') : String(error);
        problems.push(`\`cron\` "${s.cron}" is not a valid 5- or 6-field cron expression: ${reason}`);
      }
    }
  } else if (s.cron !== null && s.cron !== undefined && typeKnown) {
    problems.push(`\`cron\` only applies to type Cron; remove it or use type Cron (type is ${s.type})`);
  }

  if (!Number.isInteger(s.repeats) || s.repeats < -1) {
    problems.push(
      `\`repeats\` must be -1 (forever), 0 (paused) or a positive number of runs (got ${String(s.repeats)})`,
    );
  }
  if (!(s.nextRun instanceof Date) || Number.isNaN(s.nextRun.getTime())) {
    problems.push('`nextRun` must be a valid Date, ISO string or epoch milliseconds');
  }
  if (s.cluster !== null && (typeof s.cluster !== 'string' || !CLUSTER_NAME.test(s.cluster))) {
    problems.push('`cluster` must be a cluster name (letters, digits, "_", "." or "-"), or null for any cluster');
  }
  if (s.intendedDateArg !== null && (typeof s.intendedDateArg !== 'string' || s.intendedDateArg === '')) {
    problems.push('`intendedDateArg` must be a non-empty key name, or null');
  }
  if (s.catchUp !== null && typeof s.catchUp !== 'boolean') {
    problems.push('`catchUp` must be true, false or null (null uses the cluster setting)');
  }
  problems.push(...taskOptionProblems(s.taskOptions));

  if (problems.length > 0) throw invalid(problems, s.name ? `"${s.name}"` : undefined);
}

function taskOptionProblems(options: Schedule['taskOptions']): string[] {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    return ['`taskOptions` must be an object'];
  }
  const problems = unknownOptionProblems(options, LINK_OPTION_KEYS).map((p) => `\`taskOptions\`: ${p}`);
  for (const key of ['hook', 'group', 'taskName'] as const) {
    const value = options[key];
    if (value !== undefined && (typeof value !== 'string' || value === '')) {
      problems.push(`\`${key}\` must be a non-empty string`);
    }
  }
  const { timeout, maxAttempts } = options;
  if (timeout !== undefined && timeout !== null && !(typeof timeout === 'number' && timeout > 0)) {
    problems.push('`timeout` must be a positive number of seconds, or null');
  }
  if (maxAttempts !== undefined && !(Number.isInteger(maxAttempts) && maxAttempts >= 0)) {
    problems.push('`maxAttempts` must be a whole number, 0 or more');
  }
  try {
    JSON.stringify(options);
  } catch {
    problems.push('`taskOptions` must be plain JSON data');
  }
  return problems;
}
