import { execFile } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * taskq as a user installs it: `npm run pack` tarballs of @taskq/core, /orm and /redis,
 * installed with npm into a fresh project in the system temp directory (outside the
 * repository, so no workspace link or hoisted dependency can hide a missing file,
 * export or dependency). Dependencies come from the registry. The install runs with
 * --ignore-scripts and borrows the repository's compiled better-sqlite3 addon (same
 * version) instead of compiling it again (about 2.5 minutes here); everything else
 * is what a user gets.
 */
const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const REDIS = process.env.TASKQ_REDIS_URL ?? 'redis://127.0.0.1:6379';
const PACKAGES = ['core', 'orm', 'redis'];

function tarball(name: string): string {
  const { version } = JSON.parse(readFileSync(join(ROOT, 'packages', name, 'package.json'), 'utf8')) as {
    version: string;
  };
  return join(ROOT, '.packs', `taskq-${name}-${version}.tgz`);
}

describe('installing the packed packages into a project outside the repository', { timeout: 300_000 }, () => {
  let project: string;
  const prefix = `taskq-consumer-${randomBytes(4).toString('hex')}`;
  const node = (script: string, env: Record<string, string> = {}) =>
    run(process.execPath, [script], { cwd: project, env: { ...process.env, ...env }, timeout: 60_000 });

  beforeAll(async () => {
    await run('npm', ['run', 'pack', '--', ...PACKAGES], { cwd: ROOT, timeout: 120_000 });
    project = mkdtempSync(join(realpathSync(tmpdir()), 'taskq-consumer-'));
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify(
        // the script as the docs write it: with exec, so SIGTERM reaches the cluster
        { name: 'consumer', private: true, type: 'module', scripts: { worker: 'exec taskq cluster' } },
        null,
        2,
      ),
    );
    await run(
      'npm',
      ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error', ...PACKAGES.map(tarball)],
      { cwd: project, timeout: 240_000 },
    );
    borrowSqliteAddon(project);
    writeFileSync(join(project, 'tasks.mjs'), 'export const add = (a, b) => a + b;\n');
  }, 300_000);

  afterAll(async () => {
    if (project) rmSync(project, { recursive: true, force: true });
    const redis = new Redis(REDIS, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    try {
      const keys = await redis.keys(`*${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
    } finally {
      redis.disconnect();
    }
  });

  it('installed real copies (no links into the repository) with every exported file present', () => {
    for (const name of PACKAGES) {
      const dir = join(project, 'node_modules', '@taskq', name);
      expect(realpathSync(dir).startsWith(project)).toBe(true);
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        exports: Record<string, { types: string; default: string } | string>;
      };
      for (const [subpath, target] of Object.entries(pkg.exports)) {
        for (const file of typeof target === 'string' ? [target] : [target.types, target.default]) {
          expect(existsSync(join(dir, file)), `${name} exports ${subpath} → ${file}`).toBe(true);
        }
      }
    }
    expect(existsSync(join(project, 'node_modules', '@taskq', 'core', 'docs', 'cli.md'))).toBe(true);
  });

  it('the installed `taskq` binary runs, and its help names the shipped CLI reference', async () => {
    const { stdout } = await run(join(project, 'node_modules', '.bin', 'taskq'), ['--help'], { cwd: project });
    expect(stdout).toMatch(/Usage: taskq/);
    expect(stdout).toContain(join(project, 'node_modules', '@taskq', 'core', 'docs', 'cli.md'));
  });

  it('runs a task through the installed `taskq cluster` (Redis broker and store, npm script)', async () => {
    const url = `${REDIS}/0?prefix=${prefix}`;
    writeFileSync(
      join(project, 'client.mjs'),
      `import { Taskq } from '@taskq/core';
const q = new Taskq({ broker: process.env.URL, secretKey: 'consumer', logLevel: 'silent' });
if (process.argv[2] === 'enqueue') console.log(await q.enqueue('add', [40, 2]));
else console.log(JSON.stringify(await q.result(process.argv[3], { wait: 10000 })));
await q.close();
`,
    );
    const id = (
      await run(process.execPath, ['client.mjs', 'enqueue'], { cwd: project, env: { ...process.env, URL: url } })
    ).stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    const cluster = await run('npm', ['run', 'worker', '--', '--once', '--workers', '1'], {
      cwd: project,
      env: { ...process.env, TASKQ_BROKER_URL: url, TASKQ_SECRET_KEY: 'consumer', TASKQ_TASKS: './tasks.mjs' },
      timeout: 60_000,
    });
    expect(cluster.stderr).not.toMatch(/taskq:/);
    const result = await run(process.execPath, ['client.mjs', 'result', id], {
      cwd: project,
      env: { ...process.env, URL: url },
    });
    expect(JSON.parse(result.stdout)).toBe(42);
  });

  it('runs a task through the client API on the embedded default (SQLite through @taskq/orm)', async () => {
    writeFileSync(
      join(project, 'embedded.mjs'),
      `import { Taskq } from '@taskq/core';
import { SqlBroker, SqlStore } from '@taskq/orm';
import { RedisBroker, RedisStore } from '@taskq/redis';
const q = new Taskq({ secretKey: 'consumer', tasks: ['./tasks.mjs'], workers: 1, logLevel: 'silent' });
const cluster = await q.cluster({ handleSignals: false }).start();
const value = await q.result(await q.enqueue('add', [2, 3]), { wait: 20000 });
const runtime = await q.runtime();
console.log(JSON.stringify({
  value,
  broker: runtime.broker instanceof SqlBroker,
  store: runtime.store instanceof SqlStore,
  redis: typeof RedisBroker === 'function' && typeof RedisStore === 'function',
}));
await cluster.stop();
await q.close();
`,
    );
    const { stdout } = await node('embedded.mjs');
    expect(JSON.parse(stdout)).toEqual({ value: 5, broker: true, store: true, redis: true });
    expect(existsSync(join(project, 'taskq.sqlite'))).toBe(true);
  });
});

describe('a fresh clone: `npm ci` links the taskq bin before anything is built', () => {
  it('links node_modules/.bin/taskq from the committed bin file, which explains a missing build', async () => {
    // The workspace as a fresh clone has it: core's package.json and committed files, no dist/.
    // Dependencies are left out: only how npm links the bin is under test.
    const dir = mkdtempSync(join(realpathSync(tmpdir()), 'taskq-clone-'));
    try {
      const core = JSON.parse(readFileSync(join(ROOT, 'packages/core/package.json'), 'utf8')) as Record<
        string,
        unknown
      >;
      for (const key of ['dependencies', 'devDependencies', 'peerDependencies', 'peerDependenciesMeta', 'scripts']) {
        delete core[key];
      }
      const bins = Object.values(core['bin'] as Record<string, string>);
      mkdirSync(join(dir, 'packages/core'), { recursive: true });
      writeFileSync(
        join(dir, 'package.json'),
        JSON.stringify({ name: 'clone', private: true, workspaces: ['packages/*'] }),
      );
      writeFileSync(join(dir, 'packages/core/package.json'), JSON.stringify(core));
      for (const bin of bins) {
        const { stdout } = await run('git', ['ls-files', '--error-unmatch', join('packages/core', bin)], { cwd: ROOT });
        expect(stdout.trim(), `${bin} is committed`).not.toBe('');
        mkdirSync(dirname(join(dir, 'packages/core', bin)), { recursive: true });
        copyFileSync(join(ROOT, 'packages/core', bin), join(dir, 'packages/core', bin));
      }
      await run('npm', ['install', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: dir });
      const link = join(dir, 'node_modules/.bin/taskq');
      expect(existsSync(link)).toBe(true);
      const unbuilt = await run(link, ['--help'], { cwd: dir }).then(
        () => ({ code: 0, stderr: '' }),
        (error: { code: number; stderr: string }) => error,
      );
      expect(unbuilt.code).toBe(1);
      expect(unbuilt.stderr).toMatch(/@taskq\/core is not built .*run `npm run build`/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('after the build, the workspace `taskq` (what `npx taskq` runs) works', async () => {
    const { stdout } = await run(join(ROOT, 'node_modules/.bin/taskq'), ['--help'], { cwd: ROOT });
    expect(stdout).toMatch(/Usage: taskq/);
    // the repository's docs/cli.md, or the copy `npm run pack` ships in packages/core/docs/
    const docs = /Every command, option and exit code: (\S+)/.exec(stdout)?.[1];
    expect(docs).toMatch(/docs\/cli\.md$/);
    expect(existsSync(docs as string)).toBe(true);
  });
});

/** The repository's compiled better-sqlite3 addon, when the installed version is the same. */
function borrowSqliteAddon(project: string): void {
  const version = (dir: string) =>
    (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
  const ours = join(ROOT, 'node_modules/better-sqlite3');
  const theirs = join(project, 'node_modules/better-sqlite3');
  if (version(ours) !== version(theirs)) {
    throw new Error(
      `better-sqlite3 ${version(theirs)} was installed but the repository has ${version(ours)}: ` +
        'align the versions (or run `npm rebuild better-sqlite3` in the test project, about 2.5 minutes).',
    );
  }
  const addon = 'build/Release/better_sqlite3.node';
  mkdirSync(dirname(join(theirs, addon)), { recursive: true });
  copyFileSync(join(ours, addon), join(theirs, addon));
}
