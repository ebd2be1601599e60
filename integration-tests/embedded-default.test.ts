import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const DEMO = fileURLToPath(new URL('../packages/demo/dist/demo.js', import.meta.url));

describe('the embedded default', () => {
  it('with no broker or store configured, uses one SQLite file in the working directory for both', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'taskq-default-'));
    writeFileSync(join(dir, 'tasks.mjs'), 'export const double = (x) => x * 2;\n');
    const script = `
      import { Taskq } from '@taskq/core';
      const q = new Taskq({ secretKey: 's', tasks: ['./tasks.mjs'], workers: 1, logLevel: 'silent' });
      const cluster = await q.cluster({ handleSignals: false }).start();
      const id = await q.enqueue('double', [21]);
      const value = await q.result(id, { wait: 20000 });
      const runtime = await q.runtime();
      console.log(JSON.stringify({ value, broker: runtime.broker.constructor.name, store: runtime.store.constructor.name }));
      await cluster.stop();
      await q.close();`;
    // Resolve @taskq/core from the workspace while running in the temp directory.
    writeFileSync(
      join(dir, 'main.mjs'),
      script.replace("'@taskq/core'", JSON.stringify(import.meta.resolve('@taskq/core'))),
    );
    const { stdout } = await run(process.execPath, ['main.mjs'], { cwd: dir });
    expect(JSON.parse(stdout.trim())).toEqual({ value: 42, broker: 'SqlBroker', store: 'SqlStore' });
    expect(existsSync(join(dir, 'taskq.sqlite'))).toBe(true);
  });

  it('npm start: the demo runs an enqueuer and a cluster process on one SQLite file and exits when done', async () => {
    const { stdout } = await run(process.execPath, [DEMO], { timeout: 120_000 });
    expect(stdout).toMatch(/cluster [0-9a-f]{32} is running in process \d+; broker and results in .*taskq\.sqlite/);
    expect(stdout).toContain('✔ add');
    expect(stdout).toContain('✘ divide');
    expect(stdout).toContain('RangeError: cannot divide 1 by zero');
    expect(stdout).toContain('[4,42,"chains-run-in-order"]');
    expect(stdout).toContain('(input order): [2,4,6]');
    expect(stdout).toContain('group "prices": 3 results');
    expect(stdout).toContain('all tasks done; cluster stopped.');
  });
});
