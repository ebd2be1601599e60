import type { Command } from 'commander';
import { Taskq, consoleLogger, type ClusterHandle, type TaskqOptions } from '../../index.js';
import { addCommonOptions, asUnavailable, intFlag, loadCliConfig, type CommonFlags } from '../context.js';

interface ClusterFlags extends CommonFlags {
  workers?: number;
  concurrency?: number;
  cluster?: string;
  tasks?: string;
  once?: boolean;
}

/** How often `--once` checks whether everything queued is done. */
const ONCE_POLL_MS = 250;

export function registerCluster(program: Command): void {
  const command = program
    .command('cluster')
    .description('start a cluster that runs tasks (Django Q `qcluster`); SIGTERM/SIGINT stop it gracefully')
    .option('-w, --workers <n>', 'worker threads (overrides TASKQ_WORKERS)', intFlag('--workers'))
    .option(
      '--concurrency <n>',
      'tasks run at once per worker thread (overrides TASKQ_CONCURRENCY)',
      intFlag('--concurrency'),
    )
    .option('-q, --cluster <queue>', 'queue to work on; default: the name (overrides TASKQ_CLUSTER)')
    .option('-t, --tasks <modules>', 'comma-separated task modules (overrides TASKQ_TASKS)')
    .option('--once', 'process what is queued, then stop (exit when the queue is empty and nothing runs)');
  addCommonOptions(command).action(async (flags: ClusterFlags) => runCluster(flags));
}

async function runCluster(flags: ClusterFlags): Promise<void> {
  const overrides: TaskqOptions = {};
  if (flags.workers !== undefined) overrides.workers = flags.workers;
  if (flags.concurrency !== undefined) overrides.concurrency = flags.concurrency;
  if (flags.cluster !== undefined) overrides.cluster = flags.cluster;
  if (flags.tasks !== undefined) {
    overrides.tasks = flags.tasks
      .split(',')
      .map((t) => t.trim())
      .filter(Boolean);
  }
  const { options, config, file } = await loadCliConfig(flags, overrides);
  const q = new Taskq(options);
  (config.logger ?? consoleLogger(config.logLevel)).info(
    file ? `config from ${file}` : 'no config file; using TASKQ_* variables and defaults',
  );
  if (config.broker === 'memory:' || (typeof config.broker === 'string' && config.broker.startsWith('memory:'))) {
    // Nothing outside this process can enqueue to an in-process broker: almost always a missing setting.
    process.stderr.write(
      'taskq: warning: the broker is memory: (in-process), so no other process can send this cluster tasks; ' +
        'set TASKQ_BROKER_URL or `broker` to a shared broker.\n',
    );
  }
  // A signal during start-up (connecting, importing task modules) stops the cluster as soon as it is up,
  // instead of killing the process the default way; the cluster's own handlers take over once it runs.
  let signalledDuringStart = false;
  const onStartupSignal = () => (signalledDuringStart = true);
  process.once('SIGTERM', onStartupSignal);
  process.once('SIGINT', onStartupSignal);
  try {
    await q.runtime().catch((error: unknown) => Promise.reject(asUnavailable(error, config)));
    const stopped = new Promise<void>((resolve) => q.on('clusterStop', () => resolve()));
    // The cluster installs SIGTERM/SIGINT handlers: the first stops gracefully, a second aborts running tasks.
    const cluster = q.cluster({ handleSignals: true });
    await cluster.start();
    process.off('SIGTERM', onStartupSignal);
    process.off('SIGINT', onStartupSignal);
    if (signalledDuringStart) await cluster.stop();
    if (flags.once) await stopWhenDrained(q, cluster, stopped);
    await stopped;
  } finally {
    process.off('SIGTERM', onStartupSignal);
    process.off('SIGINT', onStartupSignal);
    await q.close();
  }
}

/**
 * `--once`: stop when the broker has nothing waiting and this cluster holds
 * nothing (pulled, running or unsaved), seen on two checks in a row so a
 * delivery in flight between the broker and the pool is not missed.
 */
async function stopWhenDrained(q: Taskq, cluster: ClusterHandle, stopped: Promise<void>): Promise<void> {
  let done = false;
  void stopped.then(() => (done = true));
  let idleChecks = 0;
  while (!done) {
    await new Promise((resolve) => setTimeout(resolve, ONCE_POLL_MS));
    if (done) return;
    const stat = cluster.stat();
    const busy = stat ? stat.running + stat.taskQueueSize + stat.resultQueueSize : 0;
    const queued = await q.queueSize().catch(() => 1);
    idleChecks = busy === 0 && queued === 0 ? idleChecks + 1 : 0;
    if (idleChecks >= 2) {
      await cluster.stop();
      return;
    }
  }
}
