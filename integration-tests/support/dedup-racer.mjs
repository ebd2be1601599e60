// One of several processes racing to enqueue tasks with the same dedup keys (job-control.test.ts).
// Env: TASKQ_URL, TASKQ_STORE_URL, TASKQ_SECRET, RACE_KEYS (how many keys), RACE_ROUNDS (enqueues per key).
// Prints one JSON line: { key: [ids returned, in order] }.
import { Taskq } from '@taskq/core';

const q = new Taskq({
  name: 'crash',
  secretKey: process.env.TASKQ_SECRET,
  broker: process.env.TASKQ_URL,
  store: process.env.TASKQ_STORE_URL,
  logLevel: 'warn',
});
const keys = Array.from({ length: Number(process.env.RACE_KEYS) }, (_, i) => `order-${i}`);
const rounds = Number(process.env.RACE_ROUNDS);
// Wait for the start signal on stdin so every process races from the same moment.
await new Promise((resolve) => process.stdin.once('data', resolve));
const ids = await Promise.all(
  keys.map(async (key) => {
    const out = [];
    for (let round = 0; round < rounds; round++) {
      out.push(await q.enqueue('work', [key], { dedupKey: key }));
    }
    return [key, out];
  }),
);
process.stdout.write(`${JSON.stringify(Object.fromEntries(ids))}\n`);
await q.close();
