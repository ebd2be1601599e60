import type { TaskRecord } from '@taskq/core';
import type { ExpressionBuilder } from 'kysely';
import type { Database, TaskRow } from './tables.js';

/** Rows that have not expired. */
export function live(now: number) {
  return (eb: ExpressionBuilder<Database, 'tasks'>) =>
    eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]);
}

export function toRow(record: TaskRecord, attemptCount: number, expiresAt: number | null): TaskRow {
  return {
    id: record.id,
    name: record.name,
    func: record.func,
    args: record.args,
    result: record.result,
    error: record.error === null ? null : JSON.stringify(record.error),
    success: record.success ? 1 : 0,
    group: record.group,
    hook: record.hook,
    cluster: record.cluster,
    enqueued_at: record.enqueuedAt.getTime(),
    started_at: record.startedAt.getTime(),
    stopped_at: record.stoppedAt.getTime(),
    attempt_count: attemptCount,
    expires_at: expiresAt,
    meta: record.meta === undefined ? null : JSON.stringify(record.meta),
  };
}

export function fromRow(row: TaskRow): TaskRecord {
  const record: TaskRecord = {
    id: row.id,
    name: row.name,
    func: row.func,
    args: row.args,
    result: row.result,
    error: row.error === null ? null : (JSON.parse(row.error) as TaskRecord['error']),
    success: Number(row.success) === 1,
    group: row.group,
    hook: row.hook,
    cluster: row.cluster,
    enqueuedAt: new Date(Number(row.enqueued_at)),
    startedAt: new Date(Number(row.started_at)),
    stoppedAt: new Date(Number(row.stopped_at)),
    attemptCount: Number(row.attempt_count),
  };
  // the key only when the record was saved with meta
  if (row.meta !== null && row.meta !== undefined) record.meta = JSON.parse(row.meta) as TaskRecord['meta'];
  return record;
}
