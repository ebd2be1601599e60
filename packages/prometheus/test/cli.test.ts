import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, scrape, valueOf } from './support/scrape.js';

const TASKS = fileURLToPath(new URL('./support/tasks.mjs', import.meta.url));
const BIN = join(dirname(createRequire(import.meta.url).resolve('@taskq/core/package.json')), 'dist/cli/bin.js');

let child: ChildProcess | null = null;

afterEach(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((resolve) => child?.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
  child = null;
});

describe('`taskq cluster` with TASKQ_METRICS', () => {
  it('serves /metrics from the environment alone, and stops serving when the cluster stops', async () => {
    let output = '';
    child = spawn(process.execPath, [BIN, 'cluster'], {
      env: {
        PATH: process.env['PATH'],
        TASKQ_BROKER_URL: 'memory:',
        TASKQ_TASKS: TASKS,
        TASKQ_WORKERS: '1',
        TASKQ_METRICS: '{"port":0,"host":"127.0.0.1"}',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await eventually(() => /serving Prometheus metrics at http:\/\/127\.0\.0\.1:\d+\/metrics/.test(output), 'the URL');
    const url = /(http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(output)?.[1] as string;
    const samples = await scrape(url);
    expect(valueOf(samples, 'taskq_worker_threads', { queue: 'default' })).toBe(1);
    expect(valueOf(samples, 'taskq_queue_depth', { queue: 'default' })).toBe(0);

    const exited = new Promise<number | null>((resolve) => child?.once('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    await expect(fetch(url)).rejects.toThrow();
  });
});
