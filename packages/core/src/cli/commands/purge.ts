import type { Command } from 'commander';
import { addCommonOptions, loadCliConfig, openRuntime, type CommonFlags } from '../context.js';
import { printJson } from '../format.js';

interface PurgeFlags extends CommonFlags {
  queue?: string;
  json?: boolean;
}

export function registerPurge(program: Command): void {
  const command = program
    .command('purge')
    .description('delete every task waiting in the queue (tasks being run are not touched)')
    .option('--queue <queue>', 'queue to purge (default: the config `cluster`, i.e. the name)')
    .option('--json', 'print JSON');
  addCommonOptions(command).action(async (flags: PurgeFlags) => {
    const { config } = await loadCliConfig(flags);
    const runtime = await openRuntime(config, { signing: false });
    try {
      const broker = await runtime.brokerFor(flags.queue ?? config.cluster);
      const before = await broker.queueSize();
      await broker.purgeQueue();
      if (flags.json) printJson({ queue: broker.queue, purged: before });
      else process.stdout.write(`Purged ${before} task${before === 1 ? '' : 's'} from queue ${broker.queue}\n`);
    } finally {
      await runtime.close();
    }
  });
}
