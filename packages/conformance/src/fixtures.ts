import { randomUUID } from 'node:crypto';
import type { ClusterStat, TaskRecord } from '@taskq/core';

/** A task id in taskq's format (32 hex). */
export function taskId(): string {
  return randomUUID().replaceAll('-', '');
}

let clock = Date.UTC(2026, 0, 1);

/** A complete task record; every call finishes one second after the previous one. */
export function makeRecord(overrides: Partial<TaskRecord> = {}): TaskRecord {
  clock += 1000;
  const id = overrides.id ?? taskId();
  return {
    id,
    name: `name-${id.slice(0, 8)}`,
    func: 'add',
    args: '[1,2]',
    result: '3',
    error: null,
    success: true,
    group: null,
    hook: null,
    cluster: 'conformance',
    enqueuedAt: new Date(clock - 900),
    startedAt: new Date(clock - 500),
    stoppedAt: new Date(clock),
    attemptCount: 1,
    ...overrides,
  };
}

export function makeFailure(overrides: Partial<TaskRecord> = {}): TaskRecord {
  return makeRecord({
    result: null,
    success: false,
    error: { name: 'Error', message: 'boom', stack: 'Error: boom\n    at task', code: 'TASKQ_TASK_FAILED' },
    ...overrides,
  });
}

export function makeStat(clusterId: string, overrides: Partial<ClusterStat> = {}): ClusterStat {
  const now = Date.now();
  return {
    clusterId,
    name: 'conformance',
    queue: 'conformance',
    host: 'localhost',
    pid: process.pid,
    status: 'Idle',
    workers: 2,
    concurrency: 1,
    taskQueueSize: 0,
    resultQueueSize: 0,
    running: 0,
    reincarnations: 0,
    processed: 0,
    failed: 0,
    rejected: 0,
    startedAt: now,
    updatedAt: now,
    memory: { rssBytes: 1, heapUsedBytes: 1, threads: [] },
    ...overrides,
  };
}
