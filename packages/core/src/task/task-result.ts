import type { Serializer } from '../serialize/serializer.js';
import type { TaskRecord, TaskResult } from './task.js';

/** Decode a stored record for users: args and result back to values. */
export function toTaskResult<R = unknown>(record: TaskRecord, serializer: Serializer): TaskResult<R> {
  return {
    ...record,
    args: serializer.deserialize(record.args) as unknown[],
    result: record.result === null ? undefined : (serializer.deserialize(record.result) as R),
    timeTaken: (record.stoppedAt.getTime() - record.startedAt.getTime()) / 1000,
  };
}
