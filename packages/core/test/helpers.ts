import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Taskq, type TaskqOptions } from '@taskq/core';

export const TASKS = fileURLToPath(new URL('./fixtures/tasks.mjs', import.meta.url));

let queueCounter = 0;

/** A client on its own memory queue, quiet, with the test task module. */
export function makeClient(options: TaskqOptions = {}): Taskq {
  return new Taskq({
    name: `t${process.pid}x${++queueCounter}`,
    broker: 'memory:',
    tasks: [TASKS],
    workers: 2,
    logLevel: 'silent',
    ...options,
  });
}

export function tempFile(name = 'runs.txt'): string {
  return join(mkdtempSync(join(tmpdir(), 'taskq-test-')), name);
}

/** Lines written by the countRun/countFail/recordHook fixtures. */
export function linesOf(file: string): string[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter(Boolean);
}

/** Polls `condition` until true or the deadline; throws with `what` on timeout. */
export async function eventually(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Resolves to what `promise` rejected with; fails the test when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { code?: string; message: string };
  }
  throw new Error('expected a rejection');
}
