import type { Command } from 'commander';
import pc from 'picocolors';
import {
  Taskq,
  awaitsRetry,
  isTaskId,
  type Runtime,
  type SearchQuery,
  type TaskMeta,
  type TaskRecord,
  type TaskqError,
} from '../../index.js';
import {
  addCommonOptions,
  asUnavailable,
  intFlag,
  loadCliConfig,
  openClient,
  openRuntime,
  usage,
  usageErrors,
  type CommonFlags,
} from '../context.js';
import { printJson, renderTable } from '../format.js';

interface FilterFlags extends CommonFlags {
  failed?: boolean;
  success?: boolean;
  func?: string;
  group?: string;
  taskName?: string;
  since?: string;
  until?: string;
  text?: string;
  limit?: number;
  json?: boolean;
}

interface ListFlags extends FilterFlags {
  cursor?: string;
}

interface RetryFlags extends FilterFlags {
  keep?: boolean;
}

/** Records a bulk `retry`/`delete` reads per page, and at most in all unless `--limit` says otherwise. */
const PAGE = 200;
const BULK_DEFAULT_LIMIT = 1000;

/**
 * `taskq tasks list|show|retry|delete|cancel`: find, read, re-run and remove finished
 * tasks in the result store (Django Q's admin actions for failed tasks), and cancel waiting or running ones.
 * Every store lists through `ResultStore.search`, so these work on each of them.
 */
export function registerTasks(program: Command): void {
  const tasks = program
    .command('tasks')
    .description(
      'list, show, retry and delete finished tasks (successes and failures) in the result store; cancel tasks',
    );

  const list = withFilters(tasks.command('list').description('finished tasks, newest first'))
    .option('--cursor <cursor>', 'continue after the previous page (its nextCursor, printed with --json)')
    .option('--json', 'print JSON: { tasks, nextCursor }');
  addCommonOptions(list).action(
    usageErrors(list, async (flags: ListFlags) => {
      await withRuntime(flags, false, async (runtime) => {
        const page = await runtime.store.search({ ...searchOf(flags), limit: flags.limit ?? 50, cursor: flags.cursor });
        if (flags.json) {
          printJson({ tasks: page.records.map((r) => describe(r, runtime)), nextCursor: page.nextCursor });
          return;
        }
        process.stdout.write(`${renderList(page.records)}\n`);
        if (page.nextCursor) process.stdout.write(pc.dim(`more: --cursor ${page.nextCursor}\n`));
      });
    }),
  );

  const show = tasks
    .command('show')
    .description(
      'one task by id or name (the newest with that name): arguments, result or error, attempts, progress and log ' +
        'lines; a running task (by id) that reported progress shows that',
    )
    .argument('<idOrName>', 'task id (32 hex) or name')
    .option('--json', 'print JSON');
  addCommonOptions(show).action(
    usageErrors(show, async (idOrName: string, flags: FilterFlags) => {
      const { q, runtime } = await openClient(flags, { signing: false });
      try {
        const record = await runtime.store.get(idOrName);
        // No record yet: a running task that reported progress or log lines (live in the store) is shown as running.
        const live = record === null && isTaskId(idOrName) ? await q.progress(idOrName) : null;
        if (record === null && live === null) await mustGet(runtime, idOrName);
        if (record === null) {
          const running = { id: idOrName, state: 'running' as const, meta: live as TaskMeta };
          if (flags.json) printJson(running);
          else process.stdout.write(`${renderRunning(running)}\n`);
          return;
        }
        const described = describe(record, runtime);
        if (flags.json) printJson(described);
        else process.stdout.write(`${renderShow(described)}\n`);
      } finally {
        await q.close();
      }
    }),
  );

  const cancel = tasks
    .command('cancel')
    .description(
      'cancel a task by id or name, or every task of a group (--group): a waiting task never runs, a running one ' +
        'is aborted within a guard cycle; it is saved as cancelled (TASKQ_TASK_CANCELLED)',
    )
    .argument('[idOrName]', 'task id (32 hex) or name')
    .option('--group <group>', 'cancel every task of this group enqueued so far')
    .option('--json', 'print JSON: { cancelled, id | group }');
  addCommonOptions(cancel).action(
    usageErrors(cancel, async (idOrName: string | undefined, flags: FilterFlags) => {
      if ((idOrName === undefined) === (flags.group === undefined)) {
        throw usage('taskq tasks cancel: give a task id or name, or --group <group> (one of them).');
      }
      const { q } = await openClient(flags, { signing: false });
      try {
        if (flags.group !== undefined) {
          await q.cancelGroup(flags.group);
          if (flags.json) printJson({ cancelled: true, group: flags.group });
          else process.stdout.write(`cancel requested for every task of group ${flags.group} enqueued so far\n`);
          return;
        }
        const id = idOrName as string;
        if (!(await q.cancel(id))) {
          throw usage(`Task ${id} already finished; nothing to cancel (see \`taskq tasks show ${id}\`).`);
        }
        if (flags.json) printJson({ cancelled: true, [isTaskId(id) ? 'id' : 'name']: id });
        else {
          process.stdout.write(
            `cancel requested for ${isTaskId(id) ? 'task' : 'tasks named'} ${id}: ` +
              'waiting, it will not run; running, it is aborted within a guard cycle\n',
          );
        }
      } finally {
        await q.close();
      }
    }),
  );

  const retry = withFilters(
    tasks
      .command('retry')
      .description(
        're-enqueue failed tasks with the same function, arguments, name, group, hook, queue and maxAttempts; ' +
          'the failure record is then deleted (Django Q admin "resubmit") unless --keep',
      )
      .argument('[ids...]', 'task ids or names; or use --failed with filters'),
  )
    .option('--keep', 'keep the failure records (the new tasks have the same name)')
    .option('--json', 'print JSON: [{ id, name, func, newId }]');
  addCommonOptions(retry).action(
    usageErrors(retry, async (ids: string[], flags: RetryFlags) => {
      const { options, config } = await loadCliConfig(flags);
      const q = new Taskq({ ...options, logLevel: 'silent' });
      try {
        const runtime = await q.runtime().catch((error: unknown) => Promise.reject(asUnavailable(error, config)));
        const records = await select(runtime, ids, flags, 'retry');
        const retried: { id: string; name: string; func: string; newId: string }[] = [];
        for (const record of records) {
          if (record.success) throw notAFailure(record);
          const args = runtime.serializer.deserialize(record.args);
          const newId = await q.enqueue(record.func, Array.isArray(args) ? args : [args], {
            taskName: record.name,
            ...(record.group === null ? {} : { group: record.group }),
            ...(record.hook === null ? {} : { hook: record.hook }),
            ...(record.cluster === null ? {} : { cluster: record.cluster }),
            // The retry budget the failure ran under (saved with it) goes with the new run.
            ...(record.error?.maxAttempts === undefined ? {} : { maxAttempts: record.error.maxAttempts }),
            ...(record.error?.ackFailure ? { ackFailure: true } : {}),
          });
          if (!flags.keep) await runtime.store.delete(record.id);
          retried.push({ id: record.id, name: record.name, func: record.func, newId });
        }
        if (flags.json) printJson(retried);
        else {
          for (const r of retried) process.stdout.write(`retried ${r.name} (${r.func}) ${r.id} → ${r.newId}\n`);
          process.stdout.write(`${retried.length} task${retried.length === 1 ? '' : 's'} re-enqueued\n`);
        }
      } finally {
        await q.close();
      }
    }),
  );

  const remove = withFilters(
    tasks
      .command('delete')
      .description('delete finished tasks: by id or name, or every match of --failed/--success and filters')
      .argument('[ids...]', 'task ids or names'),
  ).option('--json', 'print JSON: { deleted: [ids] }');
  addCommonOptions(remove).action(
    usageErrors(remove, async (ids: string[], flags: FilterFlags) => {
      await withRuntime(flags, false, async (runtime) => {
        const records = await select(runtime, ids, flags, 'delete');
        const deleted: string[] = [];
        for (const record of records) if (await runtime.store.delete(record.id)) deleted.push(record.id);
        if (flags.json) printJson({ deleted });
        else process.stdout.write(`${deleted.length} task${deleted.length === 1 ? '' : 's'} deleted\n`);
      });
    }),
  );
}

function withFilters(command: Command): Command {
  return command
    .option('--failed', 'failures only')
    .option('--success', 'successes only')
    .option('--func <name>', 'only this task function')
    .option('--group <group>', 'only this group')
    .option('--task-name <name>', 'only tasks with this name')
    .option('--since <when>', 'finished at or after: an ISO time or an age such as 30m, 2h, 7d')
    .option('--until <when>', 'finished before: an ISO time or an age such as 1h')
    .option('--text <text>', 'text in the arguments, result or error')
    .option(
      '--limit <n>',
      'at most this many (list: one page, default 50; retry/delete: default 1000)',
      intFlag('--limit'),
    );
}

async function withRuntime(flags: CommonFlags, signing: boolean, body: (runtime: Runtime) => Promise<void>) {
  const { config } = await loadCliConfig(flags);
  const runtime = await openRuntime(config, { signing });
  try {
    await body(runtime);
  } finally {
    await runtime.close();
  }
}

function searchOf(flags: FilterFlags): SearchQuery {
  if (flags.failed && flags.success) throw usage('--failed and --success exclude each other: give one of them.');
  const query: SearchQuery = {};
  if (flags.failed) query.state = 'failure';
  if (flags.success) query.state = 'success';
  if (flags.func !== undefined) query.func = flags.func;
  if (flags.group !== undefined) query.group = flags.group;
  if (flags.taskName !== undefined) query.name = flags.taskName;
  if (flags.text !== undefined) query.text = flags.text;
  if (flags.since !== undefined) query.since = parseWhen(flags.since, '--since');
  if (flags.until !== undefined) query.until = parseWhen(flags.until, '--until');
  return query;
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `30m` / `2h` / `7d` ago, or an ISO date/time. */
export function parseWhen(value: string, flag: string, now = Date.now()): Date {
  const age = /^(\d+(?:\.\d+)?)([smhdw])$/.exec(value.trim());
  if (age) return new Date(now - Number(age[1]) * (UNITS[age[2] as string] as number));
  const time = Date.parse(value);
  if (Number.isFinite(time)) return new Date(time);
  throw usage(
    `${flag} "${value}" is neither an age (30s, 15m, 2h, 7d, 1w) nor an ISO time such as 2026-11-30T09:00:00Z.`,
  );
}

function notAFailure(record: TaskRecord): TaskqError {
  return usage(`Task ${record.name} (${record.id}) succeeded; only failures are retried.`);
}

async function mustGet(runtime: Runtime, idOrName: string): Promise<TaskRecord> {
  const record = await runtime.store.get(idOrName);
  if (record) return record;
  const what = isTaskId(idOrName) ? 'id' : 'id or name';
  throw usage(`No finished task with ${what} "${idOrName}" in the result store (see \`taskq tasks list\`).`);
}

/** The records a bulk command acts on: the ids/names given, or every search match (filters required). */
async function select(runtime: Runtime, ids: string[], flags: FilterFlags, verb: string): Promise<TaskRecord[]> {
  const query = searchOf(flags);
  if (ids.length > 0) {
    if (Object.keys(query).length > 0) throw usage(`taskq tasks ${verb}: give ids or filters, not both.`);
    return Promise.all(ids.map((id) => mustGet(runtime, id)));
  }
  if (verb === 'retry' && query.state !== 'failure') {
    throw usage('taskq tasks retry: give task ids, or --failed (with --func, --group, --since… to narrow it).');
  }
  if (query.state === undefined) {
    throw usage(`taskq tasks ${verb}: give task ids, or --failed or --success (with filters to narrow it).`);
  }
  const limit = flags.limit ?? BULK_DEFAULT_LIMIT;
  const out: TaskRecord[] = [];
  let cursor: string | null = null;
  do {
    const page = await runtime.store.search({ ...query, limit: Math.min(PAGE, limit - out.length), cursor });
    // A failure the cluster will run again by itself is left to it: retrying it too would run it twice.
    out.push(...page.records.filter((r) => verb !== 'retry' || !awaitsRetry(r)));
    cursor = page.nextCursor;
  } while (cursor !== null && out.length < limit);
  return out.slice(0, limit);
}

/** A record for people and scripts: arguments and result decoded, the retry state spelled out. */
function describe(record: TaskRecord, runtime: Runtime) {
  const decode = (text: string | null) => {
    if (text === null) return null;
    try {
      return runtime.serializer.deserialize(text);
    } catch {
      return text;
    }
  };
  const state = record.success ? 'success' : awaitsRetry(record) ? 'retrying' : 'failed';
  return {
    id: record.id,
    name: record.name,
    func: record.func,
    state,
    args: decode(record.args),
    result: decode(record.result),
    error: record.error,
    attempts: record.attemptCount,
    maxAttempts: record.error?.maxAttempts ?? null,
    group: record.group,
    hook: record.hook,
    cluster: record.cluster,
    enqueuedAt: record.enqueuedAt.toISOString(),
    startedAt: record.startedAt.toISOString(),
    stoppedAt: record.stoppedAt.toISOString(),
    seconds: (record.stoppedAt.getTime() - record.startedAt.getTime()) / 1000,
    ...(record.meta === undefined ? {} : { meta: record.meta }),
  };
}

function stateOf(record: TaskRecord): string {
  if (record.success) return pc.green('success');
  return awaitsRetry(record) ? pc.yellow('retrying') : pc.red('failed');
}

function renderList(records: readonly TaskRecord[]): string {
  if (records.length === 0) return pc.dim('No finished tasks match.');
  const rows = records.map((r) => [
    r.id,
    r.name,
    r.func,
    stateOf(r),
    r.error?.maxAttempts ? `${r.attemptCount}/${r.error.maxAttempts}` : String(r.attemptCount),
    r.stoppedAt.toISOString().replace('T', ' ').slice(0, 19),
    r.error ? `${r.error.code ?? r.error.name}: ${r.error.message}`.split('\n')[0]!.slice(0, 60) : '',
  ]);
  return renderTable(['Id', 'Name', 'Func', 'State', 'Attempts', 'Stopped (UTC)', 'Error'], rows, {
    styleHeader: (h) => pc.bold(h),
  });
}

function renderShow(task: ReturnType<typeof describe>): string {
  const json = (value: unknown) => JSON.stringify(value);
  const lines = [
    `${pc.bold(task.name)} ${pc.dim(task.id)}`,
    `func      ${task.func}`,
    `state     ${task.state}`,
    `attempts  ${task.attempts}${task.maxAttempts ? ` of ${task.maxAttempts}` : ''}`,
    `args      ${json(task.args)}`,
  ];
  if (task.state === 'success') lines.push(`result    ${json(task.result)}`);
  if (task.group !== null) lines.push(`group     ${task.group}`);
  if (task.hook !== null) lines.push(`hook      ${task.hook}`);
  if (task.cluster !== null) lines.push(`queue     ${task.cluster}`);
  lines.push(
    `enqueued  ${task.enqueuedAt}`,
    `started   ${task.startedAt}`,
    `stopped   ${task.stoppedAt} (${task.seconds} s)`,
  );
  if (task.error) {
    lines.push(`error     ${task.error.code ? `[${task.error.code}] ` : ''}${task.error.name}: ${task.error.message}`);
    if (task.error.stack) lines.push(pc.dim(task.error.stack));
  }
  if (task.meta) lines.push(...renderMeta(task.meta));
  if (task.state !== 'success') lines.push(pc.dim(`retry it: taskq tasks retry ${task.id}`));
  return lines.join('\n');
}

/** A task with no record yet whose cluster keeps its progress live in the store. */
function renderRunning(task: { id: string; state: 'running'; meta: TaskMeta }): string {
  return [pc.dim(task.id), `state     ${pc.cyan('running')}`, ...renderMeta(task.meta)].join('\n');
}

/** Progress, the redrive link and the log lines (level, time, message, fields) of a task's meta. */
function renderMeta(meta: TaskMeta): string[] {
  const lines: string[] = [];
  if (meta.progress !== undefined) lines.push(`progress  ${JSON.stringify(meta.progress)}`);
  if (meta.redrivenFrom !== undefined) lines.push(`redriven from ${meta.redrivenFrom}`);
  const logs = meta.logs ?? [];
  if (logs.length > 0 || meta.droppedLogs) {
    const dropped = meta.droppedLogs ? ` (${meta.droppedLogs} older dropped)` : '';
    lines.push(`logs      ${logs.length} line${logs.length === 1 ? '' : 's'}${dropped}`);
    for (const entry of logs) {
      const fields = entry.fields && Object.keys(entry.fields).length > 0 ? ` ${JSON.stringify(entry.fields)}` : '';
      lines.push(
        `  ${new Date(entry.at).toISOString()} ${entry.level.toUpperCase().padEnd(5)} ${entry.message}${fields}`,
      );
    }
  }
  return lines;
}
