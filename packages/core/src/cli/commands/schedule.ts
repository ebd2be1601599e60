import type { Command } from 'commander';
import {
  ErrorCodes,
  TaskqError,
  runtimeEnqueue,
  scheduleStoreOf,
  createSchedule,
  deleteSchedule,
  listSchedules,
  pauseSchedule,
  resumeSchedule,
  runScheduleNow,
  scheduleArgs,
  TaskRegistry,
  type Runtime,
  type ResolvedConfig,
  type Schedule,
  type ScheduleStore,
  type ScheduleApiOptions,
  type ScheduleInput,
} from '../../index.js';
import { addCommonOptions, intFlag, loadCliConfig, openRuntime, type CommonFlags } from '../context.js';
import { printJson, renderTable } from '../format.js';

interface JsonFlag extends CommonFlags {
  json?: boolean;
}

interface AddFlags extends JsonFlag {
  type?: string;
  minutes?: number;
  cron?: string;
  repeats?: number;
  nextRun?: string;
  scheduleName?: string;
  hook?: string;
  group?: string;
  queue?: string;
  timezone?: string;
  paused?: boolean;
}

export function registerSchedule(program: Command): void {
  const schedule = program
    .command('schedule')
    .description('list, add, remove, pause, resume or run schedules (kept in the result store)');

  const list = schedule
    .command('list')
    .description('list schedules, soonest first')
    .option('--func <task>', 'only schedules of this task')
    .option('--json', 'print JSON');
  addCommonOptions(list).action(async (flags: JsonFlag & { func?: string }) =>
    withStore(flags, false, async ({ store, runtime }) => {
      const { schedules, total } = await listSchedules(store, {
        ...(flags.func ? { func: flags.func } : {}),
        limit: 1000,
      });
      if (flags.json) printJson({ total, schedules: schedules.map((s) => toJson(s, runtime)) });
      else process.stdout.write(`${renderSchedules(schedules)}\n`);
    }),
  );

  const add = schedule
    .command('add')
    .description('add a schedule for a task: `taskq schedule add send_report 42 --type daily --name daily-report`')
    .argument('<func>', 'task name (an exported function of a task module)')
    .argument(
      '[args...]',
      'task arguments, each parsed as JSON when it is JSON (42, true, "{\\"a\\":1}"), else a string',
    )
    .option(
      '--type <type>',
      'Once, Minutes, Hourly, Daily, Weekly, Biweekly, Monthly, Bimonthly, Quarterly, Yearly or Cron',
      'Once',
    )
    .option('--minutes <n>', 'interval of a Minutes schedule', intFlag('--minutes'))
    .option('--cron <expression>', 'cron expression of a Cron schedule (5 fields, or 6 with seconds)')
    .option('--repeats <n>', 'runs: -1 forever (default), n times', intFlag('--repeats'))
    .option(
      '--next-run <iso>',
      'first run (default now): 2026-01-01T09:00:00 is a wall-clock time in --timezone, 2026-01-01T09:00:00Z or +01:00 an instant',
    )
    .option('--schedule-name <name>', 'unique schedule name (also the group of its tasks)')
    .option('--hook <task>', 'hook task run after each task')
    .option('--group <group>', 'group of the created tasks')
    .option('--queue <cluster>', 'only this cluster runs it, and its tasks go to that queue')
    .option('--timezone <zone>', 'IANA time zone of wall-clock rules (default: the config timezone)')
    .option('--paused', 'create it paused')
    .option('--json', 'print JSON');
  addCommonOptions(add).action(async (func: string, args: string[], flags: AddFlags) =>
    withStore(flags, false, async ({ store, runtime, options }) => {
      const input: ScheduleInput = { func, args: args.map(parseArg), type: flags.type as ScheduleInput['type'] };
      if (flags.minutes !== undefined) input.minutes = flags.minutes;
      if (flags.cron !== undefined) input.cron = flags.cron;
      if (flags.repeats !== undefined) input.repeats = flags.repeats;
      if (flags.nextRun !== undefined) input.nextRun = flags.nextRun;
      if (flags.scheduleName !== undefined) input.name = flags.scheduleName;
      if (flags.hook !== undefined) input.hook = flags.hook;
      if (flags.group !== undefined) input.group = flags.group;
      if (flags.queue !== undefined) input.cluster = flags.queue;
      if (flags.timezone !== undefined) input.timezone = flags.timezone;
      if (flags.paused) input.paused = true;
      const created = await createSchedule(store, input, options);
      if (flags.json) printJson(toJson(created, runtime));
      else
        process.stdout.write(
          `Added schedule ${created.name ?? created.id} (${created.id}), next run ${created.nextRun.toISOString()}` +
            ` (${wallClock(created.nextRun, created.timezone)} ${created.timezone})\n`,
        );
    }),
  );

  const remove = schedule.command('remove').alias('rm').description('delete a schedule').argument('<id-or-name>');
  addCommonOptions(remove).action(async (idOrName: string, flags: CommonFlags) =>
    withStore(flags, false, async ({ store }) => {
      if (!(await deleteSchedule(store, idOrName))) {
        throw new TaskqError(
          ErrorCodes.SCHEDULE_NOT_FOUND,
          `No schedule with id or name "${idOrName}": see \`taskq schedule list\`.`,
        );
      }
      process.stdout.write(`Removed schedule ${idOrName}\n`);
    }),
  );

  const pause = schedule
    .command('pause')
    .description('stop a schedule from running (keeps its repeats)')
    .argument('<id-or-name>');
  addCommonOptions(pause).action(async (idOrName: string, flags: CommonFlags) =>
    withStore(flags, false, async ({ store, options }) => {
      const s = await pauseSchedule(store, idOrName, options);
      process.stdout.write(`Paused schedule ${s.name ?? s.id}\n`);
    }),
  );

  const resume = schedule
    .command('resume')
    .description('resume a paused schedule at its next slot from now')
    .argument('<id-or-name>')
    .option('--repeats <n>', 'runs left (needed when it had none)', intFlag('--repeats'));
  addCommonOptions(resume).action(async (idOrName: string, flags: CommonFlags & { repeats?: number }) =>
    withStore(flags, false, async ({ store, options }) => {
      const s = await resumeSchedule(
        store,
        idOrName,
        flags.repeats === undefined ? {} : { repeats: flags.repeats },
        options,
      );
      process.stdout.write(`Resumed schedule ${s.name ?? s.id}, next run ${s.nextRun.toISOString()}\n`);
    }),
  );

  const run = schedule
    .command('run')
    .description('enqueue one task from a schedule now, outside its series (needs the secret key)')
    .argument('<id-or-name>');
  addCommonOptions(run).action(async (idOrName: string, flags: CommonFlags) =>
    withStore(flags, true, async ({ store, runtime, options }) => {
      const taskId = await runScheduleNow(store, idOrName, runtimeEnqueue(runtime), options);
      process.stdout.write(`Enqueued task ${taskId} from schedule ${idOrName}\n`);
    }),
  );
}

interface StoreContext {
  store: ScheduleStore;
  runtime: Runtime;
  config: ResolvedConfig;
  options: ScheduleApiOptions;
}

async function withStore(
  flags: CommonFlags,
  signing: boolean,
  work: (context: StoreContext) => Promise<void>,
): Promise<void> {
  const { config } = await loadCliConfig(flags);
  const runtime = await openRuntime(config, { signing });
  try {
    const store = scheduleStoreOf(runtime.store);
    // With task modules configured, a misspelt task or hook name fails here rather than when the schedule fires.
    const taskNames = config.tasks.length > 0 ? (await TaskRegistry.load(config.tasks)).names() : null;
    const options = { serializer: runtime.serializer, timezone: config.timezone, taskNames };
    await work({ store, runtime, config, options });
  } finally {
    await runtime.close();
  }
}

/** "2026-11-30 09:00:00" in the zone: what the user typed, to compare with the UTC instant. */
function wallClock(instant: Date, timeZone: string): string {
  // The Swedish locale writes ISO-like "YYYY-MM-DD HH:MM:SS".
  return new Intl.DateTimeFormat('sv-SE', { timeZone, dateStyle: 'short', timeStyle: 'medium' }).format(instant);
}

function parseArg(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function toJson(s: Schedule, runtime: Runtime): Record<string, unknown> {
  return { ...s, args: scheduleArgs(s, runtime.serializer) };
}

function renderSchedules(schedules: readonly Schedule[]): string {
  if (schedules.length === 0) return 'No schedules.';
  return renderTable(
    ['Id', 'Name', 'Func', 'Type', 'Rule', 'Next run', 'Repeats', 'Paused', 'Cluster'],
    schedules.map((s) => [
      s.id,
      s.name ?? '-',
      s.func,
      s.type,
      s.type === 'Cron' ? (s.cron ?? '') : s.type === 'Minutes' ? `${s.minutes} min` : '',
      s.nextRun.toISOString(),
      String(s.repeats),
      s.paused ? 'yes' : 'no',
      s.cluster ?? 'any',
    ]),
  );
}
