import type { Command } from 'commander';
import pc from 'picocolors';
import { type ClusterStat } from '../../index.js';
import { addCommonOptions, loadCliConfig, openRuntime, type CommonFlags } from '../context.js';
import { colorStatus, formatUptime, pausedMarker, printJson, renderTable } from '../format.js';
import { runLive } from '../live.js';
import { takeSnapshot, type MonitorSnapshot } from '../snapshot.js';

interface MonitorFlags extends CommonFlags {
  once?: boolean;
  json?: boolean;
}

export function registerMonitor(program: Command): void {
  const command = program
    .command('monitor')
    .description('live view of every cluster sharing the broker (Django Q `qmonitor`); press q to quit')
    .option('--once', 'print one snapshot and exit')
    .option('--json', 'print one snapshot as JSON and exit');
  addCommonOptions(command).action(async (flags: MonitorFlags) => {
    const { config } = await loadCliConfig(flags);
    const runtime = await openRuntime(config, { signing: false });
    try {
      if (flags.json) printJson(await takeSnapshot(runtime));
      else if (flags.once) process.stdout.write(`${renderMonitor(await takeSnapshot(runtime), false)}\n`);
      else await runLive(async () => renderMonitor(await takeSnapshot(runtime), true));
    } finally {
      await runtime.close();
    }
  });
}

export function renderMonitor(snapshot: MonitorSnapshot, live: boolean, now = Date.now()): string {
  const headers = ['Host', 'Id', 'Name', 'Queue', 'Queued', 'State', 'Pool', 'TQ', 'RQ', 'RC', 'Up'];
  const rows = snapshot.clusters.map((c) => clusterRow(c, snapshot, now));
  const table = renderTable(headers, rows, { styleHeader: (h) => pc.bgGreen(pc.black(h)) });
  const queued = `${snapshot.queued}${snapshot.locked ? ` (${snapshot.locked})` : ''}`;
  const footer = [
    `${snapshot.broker.server} queue ${snapshot.queue}`,
    `Queued ${queued}`,
    `Success ${snapshot.successes}`,
    `Failures ${snapshot.failures}${snapshot.retrying > 0 ? ` (${snapshot.retrying} awaiting retry)` : ''}`,
  ].join('   ');
  const lines = [
    pc.bold(`taskq monitor — ${snapshot.clusters.length} cluster${snapshot.clusters.length === 1 ? '' : 's'}`),
    '',
    table,
  ];
  if (snapshot.clusters.length === 0) lines.push(pc.dim('No clusters appear to be running.'));
  lines.push('', pc.cyan(footer));
  if (live) lines.push(pc.dim('[Press q to quit]'));
  return lines.join('\n');
}

/**
 * The status, then `(paused)` when the cluster's queue is paused, and `(broker unreachable H:MM:SS)` when it cannot
 * reach its broker (visible when its heartbeat lives in a store that still answers).
 */
function stateCell(c: ClusterStat, now: number): string {
  const parts = [colorStatus(c.status)];
  if (c.paused) parts.push(pausedMarker());
  if (c.brokerUnreachableSince) {
    parts.push(pc.red(`(broker unreachable ${formatUptime(c.brokerUnreachableSince, now)})`));
  }
  return parts.join(' ');
}

function clusterRow(c: ClusterStat, snapshot: MonitorSnapshot, now: number): string[] {
  const pool = c.concurrency > 1 ? `${c.workers}x${c.concurrency}` : String(c.workers);
  const count = (n: number) => (n > 0 ? pc.cyan(String(n)) : String(n));
  const queue = snapshot.queues[c.queue];
  return [
    c.host,
    c.clusterId.slice(-8),
    c.name,
    c.queue,
    queue ? `${count(queue.queued)}${queue.locked ? ` (${queue.locked})` : ''}` : '-',
    stateCell(c, now),
    pool,
    count(c.taskQueueSize),
    count(c.resultQueueSize),
    String(c.reincarnations),
    formatUptime(c.startedAt, now),
  ];
}
