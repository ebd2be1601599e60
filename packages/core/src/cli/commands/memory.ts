import { freemem, totalmem } from 'node:os';
import type { Command } from 'commander';
import pc from 'picocolors';
import { type ClusterStat } from '../../index.js';
import { addCommonOptions, loadCliConfig, openRuntime, type CommonFlags } from '../context.js';
import { formatMb, printJson, renderTable } from '../format.js';
import { runLive } from '../live.js';

interface MemoryFlags extends CommonFlags {
  once?: boolean;
  json?: boolean;
}

/** One cluster's memory as `taskq memory --json` prints it. */
export interface ClusterMemory {
  clusterId: string;
  name: string;
  host: string;
  pid: number;
  status: string;
  rssBytes: number;
  heapUsedBytes: number;
  threads: { threadId: number; heapUsedBytes: number; heapTotalBytes: number }[];
}

export function registerMemory(program: Command): void {
  const command = program
    .command('memory')
    .description('memory per cluster (RSS, heap) and per worker thread (heap) (Django Q `qmemory`); press q to quit')
    .option('--once', 'print one snapshot and exit')
    .option('--json', 'print one snapshot as JSON and exit');
  addCommonOptions(command).action(async (flags: MemoryFlags) => {
    const { config } = await loadCliConfig(flags);
    const runtime = await openRuntime(config, { signing: false });
    const read = async () => ((await runtime.stats?.getStats()) ?? []).map(toClusterMemory);
    try {
      if (flags.json) {
        printJson({
          at: new Date().toISOString(),
          host: { freeBytes: freemem(), totalBytes: totalmem() },
          clusters: await read(),
        });
      } else if (flags.once) process.stdout.write(`${renderMemory(await read(), false)}\n`);
      else await runLive(async () => renderMemory(await read(), true));
    } finally {
      await runtime.close();
    }
  });
}

function toClusterMemory(stat: ClusterStat): ClusterMemory {
  return {
    clusterId: stat.clusterId,
    name: stat.name,
    host: stat.host,
    pid: stat.pid,
    status: stat.status,
    rssBytes: stat.memory.rssBytes,
    heapUsedBytes: stat.memory.heapUsedBytes,
    threads: stat.memory.threads,
  };
}

export function renderMemory(clusters: readonly ClusterMemory[], live: boolean): string {
  const header = (h: string) => pc.bgGreen(pc.black(h));
  const lines = [pc.bold('taskq memory (MB)'), ''];
  lines.push(
    renderTable(
      ['Host', 'Id', 'Name', 'Pid', 'RSS', 'Heap', 'Threads', 'Threads heap'],
      clusters.map((c) => [
        c.host,
        c.clusterId.slice(-8),
        c.name,
        String(c.pid),
        formatMb(c.rssBytes),
        formatMb(c.heapUsedBytes),
        String(c.threads.length),
        formatMb(c.threads.reduce((sum, t) => sum + t.heapUsedBytes, 0)),
      ]),
      { styleHeader: header },
    ),
  );
  if (clusters.length === 0) lines.push(pc.dim('No clusters appear to be running.'));
  const threadRows = clusters.flatMap((c) =>
    c.threads.map((t, i) => [
      c.clusterId.slice(-8),
      `#${i + 1} (thread ${t.threadId})`,
      formatMb(t.heapUsedBytes),
      formatMb(t.heapTotalBytes),
    ]),
  );
  if (threadRows.length > 0) {
    lines.push('', renderTable(['Id', 'Worker', 'Heap used', 'Heap total'], threadRows, { styleHeader: header }));
  }
  const free = (freemem() / totalmem()) * 100;
  lines.push(
    '',
    pc.cyan(`This host: ${formatMb(freemem())} MB available of ${formatMb(totalmem())} MB (${free.toFixed(1)}%)`),
  );
  if (live) lines.push(pc.dim('[Press q to quit]'));
  return lines.join('\n');
}
