import { ErrorCodes, TaskqError } from '../errors.js';
import type { TaskLogEntry, TaskLogLevel, TaskMeta } from '../task/task.js';

/** Log lines kept per task: older ones are dropped (and counted in `droppedLogs`). */
export const MAX_TASK_LOGS = 100;
/** Longest log message kept; longer ones are cut and end with '…'. */
export const MAX_LOG_MESSAGE_CHARS = 1000;
/** Largest progress value and largest log `fields`, as JSON. */
export const MAX_PROGRESS_BYTES = 4096;
export const MAX_LOG_FIELDS_BYTES = 2048;

const LEVELS: readonly TaskLogLevel[] = ['debug', 'info', 'warn', 'error'];

/** Checks a `progress()` value in the task's own thread, so a bad value fails where it was passed. */
export function checkProgress(value: unknown): unknown {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    text = undefined;
  }
  if (text === undefined) {
    throw new TaskqError(
      ErrorCodes.INVALID_ARGUMENT,
      'progress() takes a number or a JSON value (an object, array, string).',
    );
  }
  if (Buffer.byteLength(text) > MAX_PROGRESS_BYTES) {
    throw new TaskqError(
      ErrorCodes.INVALID_ARGUMENT,
      `progress() values are at most ${MAX_PROGRESS_BYTES} bytes as JSON; keep big data in the result or elsewhere.`,
    );
  }
  return JSON.parse(text) as unknown;
}

/** Builds a log line from `log(level, message, fields)`, bounding its size. */
export function makeLogEntry(level: unknown, message: unknown, fields: unknown, at = Date.now()): TaskLogEntry {
  if (!LEVELS.includes(level as TaskLogLevel)) {
    throw new TaskqError(
      ErrorCodes.INVALID_ARGUMENT,
      `log() level must be one of ${LEVELS.join(', ')}; got ${String(level)}.`,
    );
  }
  let text = typeof message === 'string' ? message : String(message);
  if (text.length > MAX_LOG_MESSAGE_CHARS) text = `${text.slice(0, MAX_LOG_MESSAGE_CHARS - 1)}…`;
  const entry: TaskLogEntry = { at, level: level as TaskLogLevel, message: text };
  if (fields !== undefined && fields !== null) {
    let json: string | undefined;
    try {
      json = JSON.stringify(fields);
    } catch {
      json = undefined;
    }
    if (json === undefined || typeof fields !== 'object' || Array.isArray(fields)) {
      entry.fields = { unserializable: true };
    } else if (Buffer.byteLength(json) > MAX_LOG_FIELDS_BYTES) {
      entry.fields = { truncated: true, bytes: Buffer.byteLength(json) };
    } else {
      entry.fields = JSON.parse(json) as Record<string, unknown>;
    }
  }
  return entry;
}

/** One task's progress and newest log lines, bounded as it grows. */
export class TaskMetaBuilder {
  #meta: TaskMeta = {};

  setProgress(value: unknown): void {
    this.#meta.progress = value;
  }

  addLog(entry: TaskLogEntry): void {
    const logs = (this.#meta.logs ??= []);
    logs.push(entry);
    if (logs.length > MAX_TASK_LOGS) {
      logs.splice(0, logs.length - MAX_TASK_LOGS);
      this.#meta.droppedLogs = (this.#meta.droppedLogs ?? 0) + 1;
    }
  }

  get meta(): TaskMeta {
    return this.#meta;
  }
}
