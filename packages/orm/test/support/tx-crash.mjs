// A process that begins a transaction, enqueues a task inside it, reports the task id and then waits for the
// test to SIGKILL it before COMMIT. Usage: node tx-crash.mjs <kind> <driver target> <taskq URL> <secret>
import { Taskq } from '@taskq/core';
import { openHandle } from './tx-handles.mjs';

const [kind, target, url, secretKey] = process.argv.slice(2);
const q = new Taskq({ broker: url, store: url, secretKey, logLevel: 'silent' });
// open and migrate taskq's own connection first: on SQLite it must not wait for the lock our transaction takes
await q.queueSize();
const handle = await openHandle(kind, target);
const transaction = await handle.begin();
const id = await q.enqueue('add', [20, 22], { transaction, taskName: 'crashed' });
process.stdout.write(`${JSON.stringify({ id })}\n`);
// hold the transaction open until killed
setInterval(() => {}, 1000);
