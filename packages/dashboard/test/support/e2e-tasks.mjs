// Tasks for the dashboard's browser tests (run by real cluster processes).
import { existsSync } from 'node:fs';
import { currentTask } from '@taskq/core/worker';

export function add(a, b) {
  return a + b;
}

/** Fails until the file `marker` exists: "fix the bug", then resubmit from the dashboard. */
export function flaky(marker, payload) {
  if (!existsSync(marker)) throw new Error(`marker ${marker} is missing (payload ${JSON.stringify(payload)})`);
  return { ok: true, payload };
}

export function echo(value) {
  return value;
}

export function tick() {
  return Date.now();
}

/** Reports progress and log lines, holds `holdMs` (aborted early when cancelled), then returns 'done'. */
export async function reports(lines, holdMs = 0) {
  const task = currentTask();
  task.progress({ stage: 'start' });
  for (let i = 0; i < lines; i++) task.log(i === lines - 1 ? 'warn' : 'info', `step ${i}`, { i });
  task.progress(0.5);
  if (holdMs > 0) {
    await new Promise((resolve, reject) => {
      const timer = setTimeout(resolve, holdMs);
      task.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(task.signal.reason);
      });
    });
  }
  task.progress(1);
  return 'done';
}

/** Fails with an error code (a dead letter to filter by code). */
export function failWithCode(code, payload) {
  const error = new Error(`failed with ${code} (payload ${JSON.stringify(payload)})`);
  error.code = code;
  throw error;
}
