// One cluster process for the dashboard's browser tests. Env: TASKQ_URL (Redis), TASKQ_SECRET, TASKQ_NAME, TASKQ_PREFIX.
// Prints "ready" once started; stops on SIGTERM.
import { fileURLToPath } from 'node:url';
import { Taskq } from '@taskq/core';

const q = new Taskq({
  name: process.env.TASKQ_NAME,
  secretKey: process.env.TASKQ_SECRET,
  broker: process.env.TASKQ_URL,
  store: process.env.TASKQ_URL,
  tasks: [fileURLToPath(new URL('./e2e-tasks.mjs', import.meta.url))],
  workers: 2,
  concurrency: 4,
  // a failure is final: it stays in the failed list until resubmitted from the dashboard
  ackFailures: true,
  logLevel: 'error',
});
const cluster = q.cluster({ handleSignals: false });
await cluster.start();
process.stdout.write('ready\n');

process.once('SIGTERM', async () => {
  await cluster.stop({ deadlineMs: 5000 });
  await q.close();
  process.exit(0);
});
