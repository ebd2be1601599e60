// A separate process that drains a queue of a shared SQLite file and prints what it got (one JSON line).
import { SqlBroker } from '../../dist/index.js';

const [url, queue, expected] = process.argv.slice(2);
const broker = await SqlBroker.open({ connection: url, queue, retrySeconds: 60 });
const got = [];
let idle = 0;
// stop after the queue stayed empty for a few waits, so both processes race to the end
while (idle < 5) {
  const deliveries = await broker.dequeue({ max: 7, waitMs: 100 });
  if (deliveries.length === 0) {
    if ((await broker.queueSize()) === 0 && got.length + Number(expected) >= 0) idle++;
    continue;
  }
  idle = 0;
  for (const d of deliveries) got.push(d.payload);
  await broker.acknowledgeMany(deliveries.map((d) => d.receipt));
}
await broker.close();
process.stdout.write(JSON.stringify(got) + '\n');
