import type { Runtime } from '../cluster/runtime.js';
import { controlKeys } from '../control/keys.js';
import { ErrorCodes, TaskqError } from '../errors.js';
import { newTaskId } from '../task/ids.js';
import { buildTaskMessage } from '../task/message.js';
import type { TaskRecord } from '../task/task.js';
import { isDeadLetter, requireControl } from './job-control.js';

/** Which dead letters to list or redrive. Every field narrows (AND). */
export interface DeadLetterQuery {
  func?: string;
  /** The error code of the last attempt, e.g. TASKQ_TASK_TIMEOUT or your own error's `code`. */
  code?: string;
  /** Failed at or after this time. */
  since?: Date;
  /** Failed before this time. */
  until?: Date;
  /** Dead letters per page (default 50, at most 1000). A page holds at least this many unless it is the last. */
  limit?: number;
  /** The previous page's `nextCursor`. */
  cursor?: string | null;
}

export interface DeadLetterPage {
  records: TaskRecord[];
  /** Pass back as `cursor` for more; null when the search reached the end. */
  nextCursor: string | null;
}

/** Most store pages one call reads looking for dead letters among other failures (then it returns what it has). */
const MAX_PAGES_PER_CALL = 50;

/**
 * Failed tasks with no attempt left that were not redriven yet, newest first: read from the store's failure
 * search and filtered (a dead letter is a kind of failure, not a separate copy), so nothing is stored twice.
 */
export async function listDeadLetters(runtime: Runtime, query: DeadLetterQuery = {}): Promise<DeadLetterPage> {
  const { store } = runtime;
  const limit = query.limit ?? 50;
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    throw new TaskqError(ErrorCodes.INVALID_ARGUMENT, 'deadLetters(): `limit` must be an integer from 1 to 1000.');
  }
  const found: TaskRecord[] = [];
  let cursor = query.cursor ?? null;
  for (let page = 0; page < MAX_PAGES_PER_CALL && found.length < limit; page++) {
    const result = await store.search({
      state: 'failure',
      ...(query.func === undefined ? {} : { func: query.func }),
      ...(query.since === undefined ? {} : { since: query.since }),
      ...(query.until === undefined ? {} : { until: query.until }),
      limit,
      ...(cursor === null ? {} : { cursor }),
    });
    const dead = result.records.filter(
      (r) => isDeadLetter(r) && (query.code === undefined || r.error?.code === query.code),
    );
    found.push(...(await notRedriven(runtime, dead)));
    cursor = result.nextCursor;
    if (cursor === null) break;
  }
  return { records: found, nextCursor: cursor };
}

async function notRedriven(runtime: Runtime, records: TaskRecord[]): Promise<TaskRecord[]> {
  if (records.length === 0 || !runtime.store.capabilities.control) return records;
  const redriven = await runtime.store.getValues(records.map((r) => controlKeys.redriven(r.id)));
  return records.filter((r) => !redriven.has(controlKeys.redriven(r.id)));
}

export interface Redriven {
  /** The dead letter's id. */
  from: string;
  /** The new task's id (its record's `meta.redrivenFrom` names the dead letter). */
  id: string;
}

/**
 * Enqueues dead letters again as new tasks (same func, arguments, group, hook, queue and maxAttempts, counted afresh),
 * each linked to its original. A dead letter is redriven once: two redrives racing on it enqueue one task.
 * Ids that are not dead letters (unknown, succeeded, awaiting a retry, already redriven) are skipped.
 */
export async function redriveDeadLetters(
  runtime: Runtime,
  target: readonly string[] | DeadLetterQuery,
  options: { max?: number } = {},
): Promise<Redriven[]> {
  requireControl(runtime.store, 'redrive()');
  const max = options.max ?? 10_000;
  const out: Redriven[] = [];
  if (Array.isArray(target)) {
    for (const id of target as readonly string[]) {
      const record = await runtime.store.get(id);
      if (record !== null && record.id === id && isDeadLetter(record)) {
        const done = await redriveOne(runtime, record);
        if (done) out.push(done);
      }
    }
    return out;
  }
  let cursor: string | null = null;
  do {
    const query: DeadLetterQuery = { ...(target as DeadLetterQuery), limit: 200, cursor };
    const page = await listDeadLetters(runtime, query);
    for (const record of page.records) {
      if (out.length >= max) return out;
      const done = await redriveOne(runtime, record);
      if (done) out.push(done);
    }
    cursor = page.nextCursor;
  } while (cursor !== null && out.length < max);
  return out;
}

async function redriveOne(runtime: Runtime, record: TaskRecord): Promise<Redriven | null> {
  const id = newTaskId();
  const key = controlKeys.redriven(record.id);
  if ((await runtime.store.claimValue(key, id, null)) !== null) return null;
  const message = buildTaskMessage({
    id,
    func: record.func,
    args: runtime.serializer.deserialize(record.args) as unknown[],
    options: {
      ...(record.hook === null ? {} : { hook: record.hook }),
      // The same retry budget it failed under (saved with the failure), counted afresh.
      ...(record.error?.maxAttempts === undefined ? {} : { maxAttempts: record.error.maxAttempts }),
    },
    ...(record.group === null ? {} : { group: record.group }),
    ...(record.cluster === null ? {} : { cluster: record.cluster }),
  });
  message.redrivenFrom = record.id;
  try {
    await runtime.send(message);
  } catch (error) {
    await runtime.store.deleteValue(key, id).catch(() => false);
    throw error;
  }
  return { from: record.id, id };
}
