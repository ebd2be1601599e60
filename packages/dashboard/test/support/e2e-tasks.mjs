// Tasks for the dashboard's browser tests (run by real cluster processes).
import { existsSync } from 'node:fs';

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
