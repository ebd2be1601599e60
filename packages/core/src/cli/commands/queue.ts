import type { Command } from 'commander';
import pc from 'picocolors';
import { addCommonOptions, openClient, usageErrors, type CommonFlags } from '../context.js';
import { printJson, renderTable } from '../format.js';

interface QueueFlags extends CommonFlags {
  json?: boolean;
}

/**
 * `taskq queue pause|resume|list`: pause a queue on every cluster that serves it (they stop claiming within a
 * guard cycle, running tasks finish, enqueueing still works), resume it, list the paused ones.
 */
export function registerQueue(program: Command): void {
  const queue = program
    .command('queue')
    .description('pause and resume a queue on every cluster that serves it; list the paused queues');

  const pause = queue
    .command('pause')
    .description(
      'pause a queue: the clusters serving it stop claiming tasks within a guard cycle; running tasks finish and ' +
        'enqueueing still works',
    )
    .argument('[queue]', "queue name (default: the config's `cluster`)")
    .option('--json', 'print JSON: { queue, paused: true }');
  addCommonOptions(pause).action(
    usageErrors(pause, async (name: string | undefined, flags: QueueFlags) => {
      const { q, config } = await openClient(flags, { signing: false });
      try {
        const target = name ?? config.cluster;
        await q.pauseQueue(target);
        if (flags.json) printJson({ queue: target, paused: true });
        else process.stdout.write(`queue ${target} paused (resume it: taskq queue resume ${target})\n`);
      } finally {
        await q.close();
      }
    }),
  );

  const resume = queue
    .command('resume')
    .description('resume a paused queue: its clusters claim tasks again within a guard cycle')
    .argument('[queue]', "queue name (default: the config's `cluster`)")
    .option('--json', 'print JSON: { queue, resumed } (resumed false: it was not paused)');
  addCommonOptions(resume).action(
    usageErrors(resume, async (name: string | undefined, flags: QueueFlags) => {
      const { q, config } = await openClient(flags, { signing: false });
      try {
        const target = name ?? config.cluster;
        const resumed = await q.resumeQueue(target);
        if (flags.json) printJson({ queue: target, resumed });
        else process.stdout.write(resumed ? `queue ${target} resumed\n` : `queue ${target} was not paused\n`);
      } finally {
        await q.close();
      }
    }),
  );

  const list = queue
    .command('list')
    .description('the paused queues and since when')
    .option('--json', 'print JSON: [{ queue, since }]');
  addCommonOptions(list).action(
    usageErrors(list, async (flags: QueueFlags) => {
      const { q } = await openClient(flags, { signing: false });
      try {
        const paused = await q.pausedQueues();
        if (flags.json) printJson(paused.map((p) => ({ queue: p.queue, since: p.since.toISOString() })));
        else if (paused.length === 0) process.stdout.write(`${pc.dim('No queue is paused.')}\n`);
        else {
          const rows = paused.map((p) => [p.queue, pc.yellow('paused'), p.since.toISOString()]);
          process.stdout.write(
            `${renderTable(['Queue', 'State', 'Since (UTC)'], rows, { styleHeader: (h) => pc.bold(h) })}\n`,
          );
        }
      } finally {
        await q.close();
      }
    }),
  );
}
