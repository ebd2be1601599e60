import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../../core/dist/cli/bin.js', import.meta.url));
const BASE_ENV = { ...process.env, TASKQ_SECRET_KEY: 'cli-test-secret' };
delete BASE_ENV.TASKQ_DASHBOARD_USER;
delete BASE_ENV.TASKQ_DASHBOARD_PASSWORD;

function run(args: string[], env: NodeJS.ProcessEnv = BASE_ENV) {
  const child = spawn(process.execPath, [BIN, 'dashboard', '--broker', 'memory:', '--store', 'memory:', ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, out: () => out, err: () => err };
}

async function urlOf(out: () => string): Promise<string> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const match = /taskq dashboard on (http:\/\/\S+)/.exec(out());
    if (match) return match[1]!;
    if (Date.now() > deadline) throw new Error(`the dashboard did not start: ${out()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('taskq dashboard (the CLI command)', () => {
  it('refuses to start without users, and --no-auth off loopback', async () => {
    const noUsers = run(['--port', '0']);
    expect(await noUsers.exited).toBe(3);
    expect(noUsers.err()).toContain('TASKQ_CONFIG_INVALID');
    expect(noUsers.err()).toContain('TASKQ_DASHBOARD_USER');
    const open = run(['--port', '0', '--no-auth', '--host', '0.0.0.0']);
    expect(await open.exited).toBe(3);
    expect(open.err()).toContain('only listen on loopback');
  });

  it('serves with users from the environment, asks for a login, and stops on SIGTERM', async () => {
    const server = run(['--port', '0', '--base-path', '/ops'], {
      ...BASE_ENV,
      TASKQ_DASHBOARD_USER: 'ops',
      TASKQ_DASHBOARD_PASSWORD: 'from-the-env-var',
    });
    try {
      const url = await urlOf(server.out);
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/ops\/$/);
      const response = await fetch(`${url}tasks`, { redirect: 'manual' });
      expect(response.status).toBe(303);
      expect(response.headers.get('Location')).toBe('/ops/login');
    } finally {
      server.child.kill('SIGTERM');
    }
    expect(await server.exited).toBe(0);
  });

  it('serves without a login on loopback with --no-auth', async () => {
    const server = run(['--port', '0', '--no-auth']);
    try {
      const url = await urlOf(server.out);
      expect((await fetch(`${url}clusters`)).status).toBe(200);
    } finally {
      server.child.kill('SIGTERM');
    }
    await server.exited;
  });
});
