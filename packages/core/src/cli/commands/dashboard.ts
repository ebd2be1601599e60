import type { Command } from 'commander';
import { Taskq, importOptional } from '../../index.js';
import { addCommonOptions, asUnavailable, intFlag, loadCliConfig, type CommonFlags } from '../context.js';

interface DashboardFlags extends CommonFlags {
  port?: number;
  host?: string;
  /** commander's `--no-auth` sets auth to false. */
  auth?: boolean;
  basePath?: string;
}

/** What this command needs from @taskq/dashboard (loaded lazily: core does not depend on it). */
interface DashboardModule {
  serveDashboard(options: {
    taskq: Taskq;
    port?: number;
    host?: string;
    basePath?: string;
    users?: false;
  }): Promise<{ url: string; close(): Promise<void> }>;
}

const PACKAGE = '@taskq/dashboard';

export function registerDashboard(program: Command): void {
  const command = program
    .command('dashboard')
    .description(
      'serve the web dashboard (needs @taskq/dashboard); users from TASKQ_DASHBOARD_USER/TASKQ_DASHBOARD_PASSWORD',
    )
    .option('-p, --port <port>', 'port to listen on (default 8080)', intFlag('--port'))
    .option('--host <address>', 'address to bind (default 127.0.0.1)')
    .option('--base-path <path>', 'serve under this path, e.g. /taskq')
    .option('--no-auth', 'no login (allowed only on a loopback address)');
  addCommonOptions(command).action(async (flags: DashboardFlags) => runDashboard(flags));
}

function loadDashboard(): Promise<DashboardModule> {
  return importOptional<DashboardModule>(PACKAGE, '`taskq dashboard`');
}

async function runDashboard(flags: DashboardFlags): Promise<void> {
  const { serveDashboard } = await loadDashboard();
  const { options, config } = await loadCliConfig(flags);
  const q = new Taskq(options);
  try {
    await q.runtime().catch((error: unknown) => Promise.reject(asUnavailable(error, config)));
    const running = await serveDashboard({
      taskq: q,
      port: flags.port ?? 8080,
      host: flags.host ?? '127.0.0.1',
      ...(flags.basePath ? { basePath: flags.basePath } : {}),
      ...(flags.auth === false ? { users: false as const } : {}),
    });
    process.stdout.write(`taskq dashboard on ${running.url}\n`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await running.close();
  } finally {
    await q.close();
  }
}
