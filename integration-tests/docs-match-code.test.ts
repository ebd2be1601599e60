import { execFile, spawn, execFileSync } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  existsSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify, stripVTControlCharacters } from 'node:util';
import { describe, expect, it } from 'vitest';
import { MemoryStore, Taskq, resolveConfig } from '@taskq/core';
import { disqueBrokerCapabilities } from '@taskq/disque';
import { ironMqBrokerCapabilities } from '@taskq/ironmq';
import { mongoBrokerCapabilities, mongoStoreCapabilities } from '@taskq/mongo';
import { SQL_BROKER_CAPABILITIES, SQL_STORE_CAPABILITIES } from '@taskq/orm';
import { redisBrokerCapabilities } from '@taskq/redis';
import { sqsBrokerCapabilities } from '@taskq/sqs';

/** What the READMEs, docs/ and the demo tell a new user, checked against what the code does. */
const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TASKQ = join(ROOT, 'packages/core/bin/taskq.js');
const DEMO = join(ROOT, 'packages/demo/dist/demo.js');
const CORE_README = readFileSync(join(ROOT, 'packages/core/README.md'), 'utf8');
const CLI_DOC = readFileSync(join(ROOT, 'docs/cli.md'), 'utf8');
const REDIS = process.env.TASKQ_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Every Markdown page a user reads: the root README, CONTRIBUTING, docs/ and the package READMEs. */
function userDocs(): { file: string; text: string }[] {
  const files = [
    ...readdirSync(join(ROOT, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => join('docs', f)),
    ...readdirSync(join(ROOT, 'packages'))
      .map((p) => join('packages', p, 'README.md'))
      .filter((f) => existsSync(join(ROOT, f))),
    'README.md',
    'CONTRIBUTING.md',
  ];
  return files.map((file) => ({ file, text: readFileSync(join(ROOT, file), 'utf8') }));
}

/** The fenced code blocks of a Markdown text. */
function codeBlocks(text: string): string[] {
  return [...text.matchAll(/```[^\n]*\n([\s\S]*?)```/g)].map((m) => m[1] as string);
}

describe('taskq cluster is started so that it gets SIGTERM', () => {
  it('no example starts it through npx or an npm script without exec', () => {
    for (const { file, text } of userDocs()) {
      for (const block of codeBlocks(text)) {
        expect(block, file).not.toMatch(/npx taskq cluster/);
        expect(block, file).not.toMatch(/"[\w:-]+":\s*"taskq cluster/);
      }
    }
    expect(CLI_DOC).toMatch(/> \*\*Run `taskq cluster` so that it gets the signals\.\*\*/);
    expect(CORE_README).toMatch(/> \*\*Start the cluster so that it receives SIGTERM\.\*\*/);
  });

  it('the documented script ("worker": "exec taskq cluster") stops the cluster gracefully when npm gets SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'taskq-exec-'));
    let clusterPid: number | null = null;
    try {
      writeFileSync(
        join(dir, 'package.json'),
        JSON.stringify({ name: 'app', private: true, scripts: { worker: 'exec taskq cluster' } }),
      );
      writeFileSync(join(dir, 'tasks.mjs'), 'export const add = (a, b) => a + b;\n');
      mkdirSync(join(dir, 'node_modules/.bin'), { recursive: true });
      symlinkSync(TASKQ, join(dir, 'node_modules/.bin/taskq'));
      const npm = spawn('npm', ['run', 'worker'], {
        cwd: dir,
        env: {
          ...process.env,
          TASKQ_BROKER_URL: `sqlite:${join(dir, 'q.sqlite')}`,
          TASKQ_SECRET_KEY: 'exec',
          TASKQ_TASKS: './tasks.mjs',
          TASKQ_WORKERS: '1',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      npm.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      npm.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const exited = new Promise<void>((resolve) => npm.once('exit', () => resolve()));
      await until(
        () => /cluster default started/.test(output),
        'the cluster to start',
        () => output,
      );
      // With exec the shell is replaced: npm's child is the cluster itself.
      clusterPid = Number(execFileSync('ps', ['-o', 'pid=', '--ppid', String(npm.pid)], { encoding: 'utf8' }).trim());
      expect(clusterPid).toBeGreaterThan(0);
      npm.kill('SIGTERM');
      await exited;
      await until(
        () => !alive(clusterPid as number),
        'the cluster process to exit',
        () => output,
      );
      expect(output).toMatch(/cluster default stopped/);
    } finally {
      if (clusterPid !== null && alive(clusterPid)) process.kill(clusterPid, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the docs say what the code does', () => {
  it('docs/cli.md lists every exit code of the binary', async () => {
    const { ExitCodes } = (await import(new URL('../packages/core/dist/cli/exit-codes.js', import.meta.url).href)) as {
      ExitCodes: Record<string, number>;
    };
    for (const [name, code] of Object.entries(ExitCodes)) {
      expect(CLI_DOC, `exit code ${code} (${name})`).toMatch(new RegExp(`^\\| ${code} \\|`, 'm'));
    }
  });

  it('the core README names the real default broker and module-load failures as start-up errors', () => {
    const broker = resolveConfig({}).broker as string;
    expect(CORE_README).toContain(`With no\n\`broker\` configured the default is \`${broker}\``);
    expect(CORE_README).not.toMatch(/`memory:`\s+\(the default\)/);
    expect(CORE_README).not.toMatch(/not start-up\s+errors/);
    expect(CORE_README).toMatch(
      /stops the start with\s+`TASKQ_TASK_MODULE_FAILED`[^.]*`taskq cluster`\s+prints one line and exits 8/,
    );
    expect(CORE_README).toMatch(/the cluster does not start \(`taskq cluster` exits 8\)/);
    expect(CORE_README).not.toMatch(/TypeScript task modules\*\* need compiling/);
  });

  it('the core README lists exactly the brokers with priority and the stores that expire results', async () => {
    const memory = new Taskq({ broker: 'memory:', logLevel: 'silent' });
    const redis = new Taskq({ broker: `${REDIS}/0?prefix=taskq-docs`, secretKey: 'docs', logLevel: 'silent' });
    try {
      const brokers: Record<string, boolean> = {
        memory: (await memory.runtime()).broker.capabilities.priority,
        Redis: redisBrokerCapabilities.priority,
        SQL: SQL_BROKER_CAPABILITIES.priority,
        MongoDB: mongoBrokerCapabilities.priority,
        SQS: sqsBrokerCapabilities.priority,
        IronMQ: ironMqBrokerCapabilities.priority,
        Disque: disqueBrokerCapabilities.priority,
      };
      const priority =
        /^\| `priority` \| number \| higher runs first, on brokers with the `priority` capability \(([^)]*)\); (.*) ignore it \|$/m.exec(
          CORE_README,
        );
      expect(priority).not.toBeNull();
      const listed = (priority?.[1] ?? '').split(', ');
      const ignoring = (priority?.[2] ?? '').split(/, | and /);
      for (const [name, has] of Object.entries(brokers)) expect(has ? listed : ignoring, name).toContain(name);

      const stores: Record<string, boolean> = {
        memory: new MemoryStore().capabilities.ttl,
        Redis: (await redis.runtime()).store.capabilities.ttl,
        SQL: SQL_STORE_CAPABILITIES.ttl,
        MongoDB: mongoStoreCapabilities.ttl,
      };
      const cached = /^\| `cached` \| .* the `ttl` capability \(([^)]*)\) \|$/m.exec(CORE_README);
      expect(cached).not.toBeNull();
      for (const [name, has] of Object.entries(stores)) {
        expect(has, name).toBe(true);
        expect((cached?.[1] ?? '').split(', '), name).toContain(name);
      }
    } finally {
      await memory.close();
      await redis.close();
    }
  });

  it('brokerFor() is shown awaited wherever the docs use it', () => {
    const uses = userDocs().flatMap(({ file, text }) =>
      text
        .split('\n')
        .filter((line) => line.includes('.brokerFor('))
        .map((line) => ({ file, line })),
    );
    expect(uses.length).toBeGreaterThan(0);
    for (const { file, line } of uses) expect(line, file).toMatch(/await \(await q\.runtime\(\)\)\.brokerFor\(/);
  });

  it('error messages name only @taskq packages that exist', () => {
    const real = new Set(readdirSync(join(ROOT, 'packages')).map((p) => `@taskq/${p}`));
    for (const pkg of readdirSync(join(ROOT, 'packages'))) {
      const src = join(ROOT, 'packages', pkg, 'src');
      if (!existsSync(src)) continue;
      const text = execFileSync('grep', ['-rhoE', '@taskq/[a-z][a-z0-9-]*', src], { encoding: 'utf8' });
      for (const name of new Set(text.split('\n').filter(Boolean)))
        expect(real, `${pkg}/src names ${name}`).toContain(name);
    }
  });
});

describe('the demo (npm start)', () => {
  it('prints whole failure messages and realistic sample data, and ends with commands that work', async () => {
    // Colours are on under CI=true (picocolors honours CI): compare the text without them.
    const stdout = stripVTControlCharacters((await run(process.execPath, [DEMO], { timeout: 120_000 })).stdout);
    const failure = /✘ divide\s+(\S+)\s+RangeError: cannot divide 1 by zero \(task (\S+)\)/.exec(stdout);
    expect(failure?.[2]).toBe(failure?.[1]);
    const prices = [...stdout.matchAll(/✔ fetchPrice\s+\S+\s+(\{.*\})/g)].map(
      (m) => JSON.parse(m[1] as string) as { symbol: string; price: number; currency: string },
    );
    expect(prices.map((p) => p.symbol).sort()).toEqual(['AAPL', 'MSFT', 'NVDA']);
    expect(new Set(prices.map((p) => p.price)).size).toBe(3);
    for (const p of prices) expect(p.currency).toBe('USD');

    const next = stdout.slice(stdout.indexOf('Try next'));
    expect(next).toMatch(/npx taskq tasks list --failed/);
    expect(next).toMatch(/npx taskq monitor/);
    const env = /export (TASKQ_BROKER_URL=\S+) (TASKQ_NAME=\S+)/.exec(next);
    expect(env).not.toBeNull();
    const vars = Object.fromEntries([env![1]!, env![2]!].map((pair) => pair.split('=', 2) as [string, string]));
    const failed = await run(process.execPath, [TASKQ, 'tasks', 'list', '--failed'], {
      env: { ...process.env, ...vars },
    });
    expect(stripVTControlCharacters(failed.stdout)).toMatch(new RegExp(`${failure?.[1]}\\s+divide\\s+failed`));
    const id = /npx taskq tasks show ([0-9a-f]{32})/.exec(next)?.[1];
    const shown = await run(process.execPath, [TASKQ, 'tasks', 'show', id as string], {
      env: { ...process.env, ...vars },
    });
    expect(stripVTControlCharacters(shown.stdout)).toMatch(/RangeError: cannot divide 1 by zero/);
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(check: () => boolean, what: string, output: () => string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
