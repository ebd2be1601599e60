/**
 * `npm start`: the embedded default in action. One SQLite file is both broker
 * and result store; a cluster runs in its own process and this process
 * enqueues sample tasks (single tasks, a group, a chain, an iter and one that
 * fails), prints each result as it lands, and stops the cluster when all are
 * done. `--keep-running` leaves the cluster up until Ctrl-C.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Taskq, taskRefs, type TaskqOptions, type TaskResult } from '@taskq/core';

type Tasks = typeof import('./tasks.js');
const tasks = taskRefs<Tasks>();

const CLUSTER_FLAG = '--cluster-process';
const keepRunning = process.argv.includes('--keep-running');

function options(database: string): TaskqOptions {
  return {
    name: 'demo',
    // No broker or store configured means this same SQLite default, in ./taskq.sqlite.
    broker: `sqlite:${database}`,
    secretKey: 'demo-secret-key-use-your-own',
    tasks: [fileURLToPath(new URL('./tasks.js', import.meta.url))],
    workers: 2,
    ackFailures: true,
    logLevel: 'warn',
  };
}

/** The cluster process: start, say so, and run until SIGTERM/SIGINT (the cluster stops gracefully). */
async function runCluster(database: string): Promise<void> {
  const q = new Taskq(options(database));
  const cluster = await q.cluster().start();
  q.events.once('clusterStop', () => void q.close());
  process.stdout.write(`${JSON.stringify({ ready: cluster.id })}\n`);
}

function startClusterProcess(database: string): Promise<{ child: ChildProcess; id: string }> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), CLUSTER_FLAG, database], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (line) => resolve({ child, id: (JSON.parse(line) as { ready: string }).ready }));
    child.once('exit', (code) => reject(new Error(`the cluster process exited with code ${code} before it was ready`)));
  });
}

/** One line per task. A failure's message is printed whole: it is what the user reads to fix the task. */
function describe(record: TaskResult): string {
  const value = record.success
    ? shorten(JSON.stringify(record.result), 70)
    : `${record.error?.name}: ${record.error?.message}`;
  const took = Math.round(record.timeTaken * 1000);
  return `${record.success ? '✔' : '✘'} ${record.func.padEnd(10)} ${record.name.padEnd(30)} ${value}  (${took} ms)`;
}

function shorten(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** What to try next, pointing the CLI at the demo's database. */
function nextSteps(database: string, failedId: string): string {
  return [
    '',
    "Try next: point the CLI at the demo's database (it stays in place) and look around.",
    `  export TASKQ_BROKER_URL=sqlite:${database} TASKQ_NAME=demo`,
    '  npx taskq tasks list --failed      # the failed divide and its error',
    `  npx taskq tasks show ${failedId}`,
    '  npx taskq info                     # queue and result figures',
    '  npm start -- --keep-running        # keep the cluster up, then `npx taskq monitor` in another terminal',
  ].join('\n');
}

async function main(): Promise<void> {
  const database = join(mkdtempSync(join(tmpdir(), 'taskq-demo-')), 'taskq.sqlite');
  const { child, id } = await startClusterProcess(database);
  console.log(`cluster ${id} is running in process ${child.pid}; broker and results in ${database}\n`);

  const q = new Taskq(options(database));
  const print = async (taskId: string) => console.log(describe((await q.fetch(taskId, { wait: 30_000 }))!));
  const singles = [
    await q.enqueue(tasks.add, [2, 3]),
    await q.enqueue(tasks.slugify, ['Quarterly report: Q3 2026 results']),
    await q.enqueue(tasks.divide, [1, 0]),
    ...(await q.enqueueMany(
      ['AAPL', 'MSFT', 'NVDA'].map((s) => ({ task: tasks.fetchPrice, args: [s], options: { group: 'prices' } })),
    )),
  ];
  const failedId = singles[2] as string;
  const chainGroup = await q.chain([
    { task: tasks.wordCount, args: ['the quick brown fox'] },
    { task: tasks.add, args: [40, 2] },
    { task: tasks.slugify, args: ['Chains run in order'] },
  ]);
  const iterId = await q.iter(tasks.add, [
    [1, 1],
    [2, 2],
    [3, 3],
  ]);
  await Promise.all(singles.map(print));

  console.log(`\nchain ${chainGroup}: ${JSON.stringify(await q.resultGroup(chainGroup, { count: 3, wait: 30_000 }))}`);
  console.log(`iter ${iterId} (input order): ${JSON.stringify(await q.result(iterId, { wait: 30_000 }))}`);
  console.log(`group "prices": ${(await q.resultGroup('prices', { count: 3, wait: 30_000 })).length} results`);
  await q.close();

  if (keepRunning) {
    console.log('\n--keep-running: the cluster stays up; press Ctrl-C to stop it. Watch it from another terminal:');
    console.log(`  TASKQ_BROKER_URL=sqlite:${database} TASKQ_NAME=demo npx taskq monitor`);
    process.on('SIGINT', () => child.kill('SIGTERM'));
  } else {
    child.kill('SIGTERM');
  }
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  console.log(code === 0 ? 'all tasks done; cluster stopped.' : `cluster exited with code ${code}`);
  if (code === 0) console.log(nextSteps(database, failedId));
  process.exitCode = code ?? 1;
}

if (process.argv[2] === CLUSTER_FLAG) await runCluster(process.argv[3] as string);
else await main();
