import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCodes } from '../src/cli/exit-codes.js';
import { TASKS, runCli, tempDir } from './fixtures/cli/harness.js';

/** Each start-up failure class exits with its own code and a message that says what to fix. */
describe('taskq exit codes and messages', { timeout: 60_000 }, () => {
  let dir: ReturnType<typeof tempDir>;
  beforeAll(() => {
    dir = tempDir();
    writeFileSync(join(dir.path, 'unknown.json'), JSON.stringify({ brokr: 'redis://127.0.0.1:6379' }));
    writeFileSync(join(dir.path, 'broken.mjs'), 'export default { name: ;\n');
    writeFileSync(join(dir.path, 'array.json'), '[1, 2]');
    // Every store a URL names keeps schedules now; a custom store instance may not (the memory store, schedules hidden).
    const core = pathToFileURL(join(import.meta.dirname, '../dist/index.js')).href;
    writeFileSync(
      join(dir.path, 'nosched.mjs'),
      `import { MemoryStore } from ${JSON.stringify(core)};\n` +
        'const inner = new MemoryStore();\n' +
        'const store = new Proxy(inner, { get: (t, k) => typeof k === "string" && /Schedule/.test(k) ? undefined : ' +
        '(typeof t[k] === "function" ? t[k].bind(t) : t[k]) });\n' +
        'export default { broker: "memory:", store };\n',
    );
  });
  afterAll(() => dir.remove());

  const cases: { title: string; args: string[]; env?: Record<string, string>; exit: number; message: RegExp }[] = [
    {
      title: 'no secret key for a shared broker',
      args: ['cluster', '--once'],
      env: { TASKQ_BROKER_URL: 'redis://127.0.0.1:6379/0?prefix=taskq-cli-nokey', TASKQ_TASKS: TASKS },
      exit: ExitCodes.NO_SECRET_KEY,
      message: /No secret key: set `secretKey` in the config \(or TASKQ_SECRET_KEY\).*\[TASKQ_NO_SECRET_KEY\]/s,
    },
    {
      title: 'broker unreachable (cluster)',
      args: ['cluster', '--once'],
      env: { TASKQ_BROKER_URL: 'redis://127.0.0.1:1', TASKQ_SECRET_KEY: 's', TASKQ_TASKS: TASKS },
      exit: ExitCodes.UNAVAILABLE,
      message: /Cannot reach the broker.*check that .*\[TASKQ_BROKER_UNAVAILABLE\]/s,
    },
    {
      title: 'broker unreachable (monitor)',
      args: ['monitor', '--json'],
      env: { TASKQ_BROKER_URL: 'redis://127.0.0.1:1' },
      exit: ExitCodes.UNAVAILABLE,
      message: /Cannot reach the broker redis:\/\/127\.0\.0\.1:1.*TASKQ_BROKER_URL.*\[TASKQ_BROKER_UNAVAILABLE\]/s,
    },
    {
      title: 'a TASKQ_* variable of the wrong type',
      args: ['cluster'],
      env: { TASKQ_WORKERS: 'four' },
      exit: ExitCodes.CONFIG,
      message: /TASKQ_WORKERS="four" is not a whole number.*\[TASKQ_CONFIG_INVALID\]/s,
    },
    {
      title: 'a value out of range, naming where it came from',
      args: ['cluster', '--workers', '0'],
      exit: ExitCodes.CONFIG,
      message: /`workers`: .*set `workers` to a whole number of threads, at least 1 \(set by a command-line flag\)/,
    },
    {
      title: 'a flag that is not a number',
      args: ['cluster', '--concurrency', 'lots'],
      exit: ExitCodes.CONFIG,
      message: /--concurrency "lots" is not a whole number/,
    },
    {
      title: 'an unknown option in the config file',
      args: ['cluster', '--config', 'unknown.json'],
      exit: ExitCodes.CONFIG,
      message: /unknown option\(s\) `brokr`/,
    },
    {
      title: 'a config file that does not parse',
      args: ['info', '--config-file', 'broken.mjs'],
      exit: ExitCodes.CONFIG,
      message: /broken\.mjs could not be loaded .*fix the syntax/s,
    },
    {
      title: 'a config file that is not an object',
      args: ['info', '--config-file', 'array.json'],
      exit: ExitCodes.CONFIG,
      message: /must export an object of taskq options/,
    },
    {
      title: 'a config path that does not exist',
      args: ['monitor', '--once', '--config', 'missing.json'],
      exit: ExitCodes.CONFIG,
      message: /missing\.json does not exist: fix the path/,
    },
    {
      title: 'an unknown broker scheme',
      args: ['info'],
      env: { TASKQ_BROKER_URL: 'kafka://h:9092' },
      exit: ExitCodes.CONFIG,
      message: /Unknown URL scheme "kafka:"/,
    },
    {
      title: 'migrate without a SQL database',
      args: ['migrate'],
      env: { TASKQ_BROKER_URL: 'redis://127.0.0.1:6379' },
      exit: ExitCodes.CONFIG,
      message: /Nothing to migrate: .*Set TASKQ_BROKER_URL or TASKQ_STORE_URL to sqlite:/s,
    },
    {
      title: 'schedules on a store that keeps none',
      args: ['schedule', 'list', '--config', 'nosched.mjs'],
      exit: ExitCodes.CONFIG,
      message: /keeps no schedules/,
    },
    {
      title: 'a cluster (scheduler on) with a store that keeps no schedules',
      args: ['cluster', '--once', '--config', 'nosched.mjs'],
      env: { TASKQ_TASKS: TASKS },
      exit: ExitCodes.CONFIG,
      message: /keeps no schedules.*sqlite:\.\/taskq\.sqlite.*`scheduler: false`/s,
    },
    {
      title: 'an unknown command option (usage)',
      args: ['monitor', '--bogus'],
      exit: ExitCodes.USAGE,
      message: /unknown option '--bogus'/,
    },
  ];

  for (const c of cases) {
    it(`${c.title}: exit ${c.exit}`, async () => {
      const result = await runCli(c.args, { cwd: dir.path, env: c.env ?? {} });
      expect(result.stderr).toMatch(c.message);
      expect(result.code).toBe(c.exit);
    });
  }

  it('--help works on every command and exits 0', async () => {
    for (const args of [
      [],
      ['cluster'],
      ['monitor'],
      ['info'],
      ['memory'],
      ['schedule'],
      ['schedule', 'add'],
      ['purge'],
      ['migrate'],
      ['tasks'],
      ['tasks', 'list'],
      ['tasks', 'retry'],
    ]) {
      const result = await runCli([...args, '--help'], { cwd: dir.path });
      expect(result.code, args.join(' ')).toBe(0);
      expect(result.stdout).toMatch(/^Usage: taskq/);
    }
  });
});
