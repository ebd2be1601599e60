// One cluster process for the crash tests: broker and store on one URL, or the store on its own.
// Env: TASKQ_URL (broker, and store unless TASKQ_STORE_URL is set), TASKQ_SECRET, TASKQ_RETRY (lease seconds, default 3).
// Prints "ready" once started; tests kill it with SIGKILL or stop it with SIGTERM.
import { fileURLToPath } from 'node:url';
import { Taskq } from '@taskq/core';

const url = process.env.TASKQ_URL;
const q = new Taskq({
  name: 'crash',
  secretKey: process.env.TASKQ_SECRET,
  broker: url,
  store: process.env.TASKQ_STORE_URL ?? url,
  tasks: [fileURLToPath(new URL('./crash-tasks.mjs', import.meta.url))],
  workers: 2,
  concurrency: 10,
  bulk: 50,
  // short lease: the tasks a killed cluster held come back within seconds
  retry: Number(process.env.TASKQ_RETRY ?? 3),
  saveLimit: 0,
  scheduler: false,
  logLevel: 'warn',
});
const cluster = q.cluster({ handleSignals: false });
await cluster.start();
process.stdout.write('ready\n');

process.once('SIGTERM', async () => {
  await cluster.stop({ deadlineMs: 5000 });
  await q.close();
  process.exit(0);
});
