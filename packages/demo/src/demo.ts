/**
 * `npm start`: start a cluster, enqueue sample tasks (single tasks, a group,
 * a chain, an iter and one that fails), print each result as it lands, and
 * exit when all are done. `--keep-running` keeps the cluster up afterwards.
 */
import { fileURLToPath } from 'node:url';
import { Taskq, taskRefs } from '@taskq/core';

type Tasks = typeof import('./tasks.js');
const tasks = taskRefs<Tasks>();
const keepRunning = process.argv.includes('--keep-running');

const q = new Taskq({
  name: 'demo',
  tasks: [fileURLToPath(new URL('./tasks.js', import.meta.url))],
  workers: 2,
  ackFailures: true,
  logLevel: 'warn',
});

const expected = new Set<string>();
q.on('postExecute', (record) => {
  if (!expected.delete(record.id)) return;
  const value = record.success ? (record.result ?? 'undefined') : `${record.error?.name}: ${record.error?.message}`;
  const mark = record.success ? '✔' : '✘';
  const took = record.stoppedAt.getTime() - record.startedAt.getTime();
  console.log(`${mark} ${record.func.padEnd(10)} ${record.name.padEnd(30)} ${String(value).slice(0, 60)}  (${took} ms)`);
});

const cluster = await q.cluster().start();
console.log(`cluster ${cluster.id} started with 2 worker threads\n`);

const track = (id: string) => (expected.add(id), id);
track(await q.enqueue(tasks.add, [2, 3]));
track(await q.enqueue(tasks.slugify, ['Hello, taskq World!']));
track(await q.enqueue(tasks.divide, [1, 0]));
for (const symbol of ['AAPL', 'MSFT', 'NVDA']) {
  track(await q.enqueue(tasks.fetchPrice, [symbol], { group: 'prices' }));
}
const chainGroup = await q.chain([
  { task: tasks.wordCount, args: ['the quick brown fox'] },
  { task: tasks.add, args: [40, 2] },
  { task: tasks.slugify, args: ['Chains run in order'] },
]);
const iterId = await q.iter(tasks.add, [[1, 1], [2, 2], [3, 3]]);

const chain = await q.resultGroup(chainGroup, { count: 3, wait: 30_000 });
const iter = await q.result(iterId, { wait: 30_000 });
const prices = await q.resultGroup('prices', { count: 3, wait: 30_000 });
const deadline = Date.now() + 30_000;
while (expected.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));

console.log(`\nchain ${chainGroup}: ${JSON.stringify(chain)}`);
console.log(`iter ${iterId} (input order): ${JSON.stringify(iter)}`);
console.log(`group "prices": ${prices.length} results`);

if (keepRunning) {
  console.log('\n--keep-running: the cluster stays up; press Ctrl-C to stop it.');
} else {
  await cluster.stop();
  await q.close();
  console.log('all tasks done; cluster stopped.');
}
