import type { Command } from 'commander';
import pc from 'picocolors';
import { maskConfig } from '../../index.js';
import { addCommonOptions, loadCliConfig, openRuntime, type CommonFlags } from '../context.js';
import { printJson, renderGrid } from '../format.js';
import { takeInfo, type InfoSnapshot } from '../snapshot.js';
import { coreVersion } from '../version.js';

interface InfoFlags extends CommonFlags {
  ids?: boolean;
  json?: boolean;
}

export function registerInfo(program: Command): void {
  const command = program
    .command('info')
    .description('cluster, queue and result figures (Django Q `qinfo`)')
    .option('--config', 'print the resolved configuration (secrets masked) and exit; the file is --config-file')
    .option('--ids', 'print the ids of the running clusters')
    .option('--json', 'print JSON');
  addCommonOptions(command, { configFlag: false }).action(async (flags: InfoFlags) => {
    const { config, file } = await loadCliConfig(flags);
    if (flags.config === true) {
      const masked = { version: coreVersion(), configFile: file, ...maskConfig(config) };
      if (flags.json) printJson(masked);
      else {
        for (const [key, value] of Object.entries(masked)) {
          if (value !== undefined && value !== null) process.stdout.write(`${key}: ${JSON.stringify(value)}\n`);
        }
      }
      return;
    }
    const runtime = await openRuntime(config, { signing: false });
    try {
      if (flags.ids) {
        const ids = ((await runtime.stats?.getStats()) ?? []).map((s) => s.clusterId);
        if (flags.json) printJson({ ids });
        else process.stdout.write(ids.length ? `${ids.join('\n')}\n` : 'No clusters appear to be running.\n');
        return;
      }
      const info = await takeInfo(runtime, coreVersion());
      if (flags.json) printJson(info);
      else process.stdout.write(`${renderInfo(info)}\n`);
    } finally {
      await runtime.close();
    }
  });
}

export function renderInfo(info: InfoSnapshot): string {
  const header = pc.bold(`-- Taskq ${info.version} on ${info.broker.server} (queue ${info.queue}) --`);
  const queued = `${info.queued}${info.locked ? ` (${info.locked})` : ''}`;
  const grid = renderGrid([
    ['Clusters', info.paused > 0 ? `${info.clusters} (${info.paused} paused)` : String(info.clusters)],
    ['Workers', String(info.workers)],
    ['Restarts', String(info.restarts)],
    ['Queued', queued],
    ['Successes', String(info.successes)],
    ['Failures', info.retrying > 0 ? `${info.failures} (${info.retrying} awaiting retry)` : String(info.failures)],
    ['Schedules', info.schedules === null ? 'n/a' : String(info.schedules)],
    [`Tasks/${info.tasksPerUnit.unit}`, info.tasksPerUnit.rate.toFixed(2)],
    ['Avg time', info.averageTime === null ? '-' : info.averageTime.toFixed(4)],
  ]);
  return `${header}\n${grid}`;
}
