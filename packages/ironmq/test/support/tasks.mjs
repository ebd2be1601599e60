// Task module for the end-to-end test: a task that outlives the reservation and logs each execution.
import { appendFileSync } from 'node:fs';

export async function slow(index, logFile, ms) {
  appendFileSync(logFile, `${index}\n`);
  await new Promise((resolve) => setTimeout(resolve, ms));
  return index;
}
