import type { Command } from 'commander';
import pc from 'picocolors';
import { type Taskq, type TaskResult } from '../../index.js';
import { addCommonOptions, intFlag, openClient, usage, usageErrors, type CommonFlags } from '../context.js';
import { printJson, renderTable } from '../format.js';
import { parseWhen } from './tasks.js';

type DeadLetterQuery = NonNullable<Parameters<Taskq['deadLetters']>[0]>;

interface DeadFlags extends CommonFlags {
  func?: string;
  code?: string;
  since?: string;
  until?: string;
  json?: boolean;
}

interface ListFlags extends DeadFlags {
  limit?: number;
  cursor?: string;
}

interface RedriveFlags extends DeadFlags {
  all?: boolean;
  max?: number;
}

/**
 * `taskq dead list|redrive`: dead letters — failed tasks with no attempt left, not cancelled or expired, not yet
 * redriven — and enqueueing them again as new tasks linked to their originals.
 */
export function registerDead(program: Command): void {
  const dead = program
    .command('dead')
    .description('dead letters (failures with no attempt left): list them, redrive them as new tasks');

  const list = withFilters(dead.command('list').description('dead letters, newest first'))
    .option('--limit <n>', 'at most this many (one page, 1 to 1000, default 50)', intFlag('--limit'))
    .option('--cursor <cursor>', 'continue after the previous page (its nextCursor, printed with --json)')
    .option('--json', 'print JSON: { deadLetters, nextCursor }');
  addCommonOptions(list).action(
    usageErrors(list, async (flags: ListFlags) => {
      const query: DeadLetterQuery = {
        ...queryOf(flags),
        ...(flags.limit === undefined ? {} : { limit: flags.limit }),
        ...(flags.cursor === undefined ? {} : { cursor: flags.cursor }),
      };
      const { q } = await openClient(flags, { signing: false });
      try {
        const page = await q.deadLetters(query);
        if (flags.json) {
          printJson({ deadLetters: page.records.map(describeDead), nextCursor: page.nextCursor });
          return;
        }
        process.stdout.write(`${renderDead(page.records)}\n`);
        if (page.nextCursor) process.stdout.write(pc.dim(`more: --cursor ${page.nextCursor}\n`));
      } finally {
        await q.close();
      }
    }),
  );

  const redrive = withFilters(
    dead
      .command('redrive')
      .description(
        'enqueue dead letters again as new tasks (same func, arguments, group, hook, queue and maxAttempts), each ' +
          'linked to its original (shown by `taskq tasks show` as "redriven from"); each is redriven at most once',
      )
      .argument('[ids...]', 'dead letter task ids; or --all with filters'),
  )
    .option('--all', 'every dead letter the filters match')
    .option('--max <n>', 'with --all: redrive at most this many (default 10000)', intFlag('--max'))
    .option('--json', 'print JSON: [{ from, id }]');
  addCommonOptions(redrive).action(
    usageErrors(redrive, async (ids: string[], flags: RedriveFlags) => {
      const query = queryOf(flags);
      if (ids.length > 0 && (flags.all || Object.keys(query).length > 0 || flags.max !== undefined)) {
        throw usage('taskq dead redrive: give ids, or --all (with filters and --max), not both.');
      }
      if (ids.length === 0 && !flags.all) {
        throw usage('taskq dead redrive: give dead letter ids, or --all (with --func, --code, --since… to narrow it).');
      }
      if (flags.max !== undefined && flags.max < 1) throw usage('--max must be at least 1.');
      const { q, runtime } = await openClient(flags, { signing: true });
      try {
        if (ids.length > 0) {
          // An id the store does not know is a usage error, as with `taskq tasks retry`: nothing is redriven.
          for (const id of ids) {
            if ((await runtime.store.get(id))?.id !== id) {
              throw usage(`No finished task with id "${id}" in the result store (see \`taskq dead list\`).`);
            }
          }
        }
        const redriven =
          ids.length > 0
            ? await q.redrive(ids)
            : await q.redrive(query, flags.max === undefined ? {} : { max: flags.max });
        const skipped = ids.filter((id) => !redriven.some((r) => r.from === id));
        if (flags.json) printJson(redriven);
        else {
          for (const r of redriven) process.stdout.write(`redriven ${r.from} → ${r.id}\n`);
          for (const id of skipped) {
            process.stdout.write(
              `skipped ${id}: not a dead letter (succeeded, awaiting a retry, cancelled or expired, or already redriven)\n`,
            );
          }
          process.stdout.write(`${redriven.length} dead letter${redriven.length === 1 ? '' : 's'} redriven\n`);
        }
      } finally {
        await q.close();
      }
    }),
  );
}

function withFilters(command: Command): Command {
  return command
    .option('--func <name>', 'only this task function')
    .option('--code <code>', "only this error code (the last attempt's), e.g. TASKQ_TASK_TIMEOUT")
    .option('--since <when>', 'failed at or after: an ISO time or an age such as 30m, 2h, 7d')
    .option('--until <when>', 'failed before: an ISO time or an age such as 1h');
}

function queryOf(flags: DeadFlags): DeadLetterQuery {
  const query: DeadLetterQuery = {};
  if (flags.func !== undefined) query.func = flags.func;
  if (flags.code !== undefined) query.code = flags.code;
  if (flags.since !== undefined) query.since = parseWhen(flags.since, '--since');
  if (flags.until !== undefined) query.until = parseWhen(flags.until, '--until');
  return query;
}

function describeDead(r: TaskResult) {
  return {
    id: r.id,
    name: r.name,
    func: r.func,
    args: r.args,
    error: r.error,
    attempts: r.attemptCount,
    group: r.group,
    cluster: r.cluster,
    stoppedAt: r.stoppedAt.toISOString(),
  };
}

function renderDead(records: readonly TaskResult[]): string {
  if (records.length === 0) return pc.dim('No dead letters match.');
  const rows = records.map((r) => [
    r.id,
    r.name,
    r.func,
    String(r.attemptCount),
    r.stoppedAt.toISOString().replace('T', ' ').slice(0, 19),
    r.error ? `${r.error.code ?? r.error.name}: ${r.error.message}`.split('\n')[0]!.slice(0, 60) : '',
  ]);
  return renderTable(['Id', 'Name', 'Func', 'Attempts', 'Stopped (UTC)', 'Error'], rows, {
    styleHeader: (h) => pc.bold(h),
  });
}
