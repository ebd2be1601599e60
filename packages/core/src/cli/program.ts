import { Command, CommanderError } from 'commander';
import { registerCluster } from './commands/cluster.js';
import { registerDashboard } from './commands/dashboard.js';
import { registerDead } from './commands/dead.js';
import { registerInfo } from './commands/info.js';
import { registerMemory } from './commands/memory.js';
import { registerMigrate } from './commands/migrate.js';
import { registerMonitor } from './commands/monitor.js';
import { registerPurge } from './commands/purge.js';
import { registerQueue } from './commands/queue.js';
import { registerSchedule } from './commands/schedule.js';
import { registerTasks } from './commands/tasks.js';
import { ExitCodes, exitCodeFor } from './exit-codes.js';
import { cliDocsPath, coreVersion } from './version.js';

export function createProgram(): Command {
  const program = new Command('taskq')
    .description('taskq: run clusters, watch them, and manage queues and schedules')
    .version(coreVersion(), '-V, --version')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride()
    .addHelpText(
      'after',
      () =>
        '\nConfig comes from taskq.config.{ts,mjs,js,json} (searched from the working directory up), ' +
        `then TASKQ_* environment variables, then flags.\nEvery command, option and exit code: ${cliDocsPath()}`,
    );
  registerCluster(program);
  registerMonitor(program);
  registerInfo(program);
  registerMemory(program);
  registerSchedule(program);
  registerTasks(program);
  registerQueue(program);
  registerDead(program);
  registerPurge(program);
  registerMigrate(program);
  registerDashboard(program);
  return program;
}

/** Runs the CLI and returns the exit code (documented in docs/cli.md). */
export async function runCli(argv: readonly string[]): Promise<number> {
  const program = createProgram();
  try {
    await program.parseAsync([...argv]);
    return ExitCodes.OK;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? ExitCodes.OK : ExitCodes.USAGE;
    const code = exitCodeFor(error);
    const taskqCode = (error as { code?: unknown }).code;
    const label = typeof taskqCode === 'string' && taskqCode.startsWith('TASKQ_') ? ` [${taskqCode}]` : '';
    process.stderr.write(`taskq: ${(error as Error)?.message ?? String(error)}${label}\n`);
    if (code === ExitCodes.FAILURE && (error as Error)?.stack) process.stderr.write(`${(error as Error).stack}\n`);
    return code;
  }
}
