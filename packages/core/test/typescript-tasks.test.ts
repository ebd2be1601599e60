import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Taskq } from '@taskq/core';
import { ExitCodes } from '../src/cli/exit-codes.js';
import { runCli, tempDir } from './fixtures/cli/harness.js';
import { makeClient } from './helpers.js';

/** A task module in TypeScript (types, an interface, an enum) that imports another TypeScript file. */
const TASKS_TS = `
import { scale, type Scaled } from './scale.ts';

export enum Unit { Meter = 'm' }

export function double(n: number): Scaled {
  return scale(n, 2, Unit.Meter);
}

export async function greet(name: string): Promise<string> {
  const greeting: string = \`hello \${name}\`;
  return greeting;
}
`;
const SCALE_TS = `
export interface Scaled { value: number; unit: string }
export const scale = (n: number, by: number, unit: string): Scaled => ({ value: n * by, unit });
`;

function writeProject(dir: string, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
}

describe('TypeScript task modules without a build step', { timeout: 90_000 }, () => {
  let dir: ReturnType<typeof tempDir>;
  let q: Taskq | null = null;
  beforeAll(() => {
    dir = tempDir();
    writeProject(dir.path, { 'tasks.ts': TASKS_TS, 'scale.ts': SCALE_TS });
  });
  afterEach(async () => {
    await q?.close();
    q = null;
  });
  afterAll(() => dir.remove());

  it('worker threads run tasks from a .ts module (in-process cluster)', async () => {
    q = makeClient({ secretKey: 'ts', tasks: [join(dir.path, 'tasks.ts')], workers: 2 });
    await q.cluster({ handleSignals: false }).start();
    const ids = await Promise.all([q.enqueue('double', [21]), q.enqueue('greet', ['ts'])]);
    expect(await q.result(ids[0]!, { wait: 30_000 })).toEqual({ value: 42, unit: 'm' });
    expect(await q.result(ids[1]!, { wait: 30_000 })).toBe('hello ts');
  });

  it('`taskq cluster` runs them from a taskq.config.ts with tasks: ["./tasks.ts"]', async () => {
    const db = join(dir.path, 'cli.sqlite');
    writeProject(dir.path, {
      'taskq.config.ts': `const config: { broker: string; tasks: string[]; secretKey: string; workers: number } = {
  broker: 'sqlite:${db}', tasks: ['./tasks.ts'], secretKey: 'ts-cli', workers: 1,
};
export default config;
`,
    });
    const client = new Taskq({ broker: `sqlite:${db}`, secretKey: 'ts-cli', logLevel: 'silent' });
    try {
      const id = await client.enqueue('double', [5]);
      const run = await runCli(['cluster', '--once'], { cwd: dir.path, env: { TASKQ_LOG_LEVEL: 'warn' } });
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(await client.result(id)).toEqual({ value: 10, unit: 'm' });
    } finally {
      await client.close();
    }
  });
});

describe('a task module that cannot load stops the cluster at start', { timeout: 90_000 }, () => {
  let dir: ReturnType<typeof tempDir>;
  beforeAll(() => {
    dir = tempDir();
    writeProject(dir.path, {
      'syntax.ts': 'export function broken(: number) {\n  return 1;\n}\n',
      'throws.ts': "export const ok = (n: number) => n;\nthrow new Error('DATABASE_URL is not set');\n",
      // Loads in the main thread's check, fails in every worker thread: still a start-up error, not failing tasks.
      'thread-only.mjs':
        "import { isMainThread } from 'node:worker_threads';\n" +
        "if (!isMainThread) throw new Error('opens a handle only the main thread has');\nexport const ok = () => 1;\n",
    });
  });
  afterAll(() => dir.remove());

  const start = (tasks: string) =>
    runCli(['cluster'], {
      cwd: dir.path,
      env: { TASKQ_BROKER_URL: `sqlite:${join(dir.path, 'x.sqlite')}`, TASKQ_SECRET_KEY: 'x', TASKQ_TASKS: tasks },
    });

  for (const [what, tasks, reason] of [
    ['a missing file', './missing.ts', /Cannot find module|ERR_MODULE_NOT_FOUND|not found/i],
    ['a syntax error', './syntax.ts', /syntax\.ts|Transform failed|Expected/],
    ['an error thrown while loading', './throws.ts', /DATABASE_URL is not set/],
    ['an error thrown only in worker threads', './thread-only.mjs', /only the main thread has.*\(in a worker thread\)/],
  ] as const) {
    it(`${what}: one clear line, its own exit code, no stack trace`, async () => {
      const result = await start(tasks);
      expect(result.code).toBe(ExitCodes.TASK_MODULE);
      const errorLines = result.stderr.split('\n').filter((line) => line.startsWith('taskq:'));
      expect(errorLines).toHaveLength(1);
      const file = tasks.slice(2).replace('.', '\\.');
      expect(errorLines[0]).toMatch(new RegExp(`Task module "[^"]*/${file}" could not be imported`));
      expect(errorLines[0]).toMatch(reason);
      expect(errorLines[0]).toMatch(/\[TASKQ_TASK_MODULE_FAILED\]$/);
      expect(result.stderr).not.toMatch(/^\s+at /m);
      expect(result.stdout).not.toMatch(/cluster .* started/);
    });
  }
});
