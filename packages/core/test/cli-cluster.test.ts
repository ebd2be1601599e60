import { Taskq } from '@taskq/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CliProcess, TASKS, deleteRedisPrefix, runCli, uniqueRedis } from './fixtures/cli/harness.js';

const SECRET = 'cli-test-secret';

describe('taskq cluster', { timeout: 60_000 }, () => {
  let redis: ReturnType<typeof uniqueRedis>;
  let env: Record<string, string>;
  const running: CliProcess[] = [];
  beforeEach(() => {
    redis = uniqueRedis();
    env = { TASKQ_BROKER_URL: redis.url, TASKQ_SECRET_KEY: SECRET, TASKQ_TASKS: TASKS, TASKQ_WORKERS: '1' };
  });
  afterEach(async () => {
    for (const p of running.splice(0)) {
      p.kill('SIGKILL');
      await p.exited;
    }
    await deleteRedisPrefix(redis.prefix);
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`starts, then stops gracefully on ${signal} and exits 0`, async () => {
      const cluster = new CliProcess(['cluster', '--name', 'sig'], { env });
      running.push(cluster);
      await cluster.waitFor(/cluster sig started/);
      cluster.kill(signal);
      const result = await cluster.exited;
      expect(result.stderr).toMatch(new RegExp(`received ${signal}: stopping gracefully`));
      expect(result.stderr).toMatch(/cluster sig stopped/);
      expect(result.code).toBe(0);
    });
  }

  it('--once processes what is queued (including running tasks), then exits 0', async () => {
    const q = new Taskq({ name: 'oncer', broker: redis.url, secretKey: SECRET });
    try {
      const ids = await q.enqueueMany([
        { task: 'sleep', args: [300] },
        ...Array.from({ length: 5 }, (_, i) => ({ task: 'add', args: [i, 10] })),
      ]);
      const result = await runCli(['cluster', '--once', '--name', 'oncer', '--concurrency', '2'], { env });
      expect(result.stderr).toMatch(/cluster oncer stopped .*processed=6 failed=0/);
      expect(result.code).toBe(0);
      expect(await q.queueSize()).toBe(0);
      expect(await q.result(ids[0]!)).toBe(300);
      for (let i = 0; i < 5; i++) expect(await q.result(ids[i + 1]!)).toBe(i + 10);

      const info = await runCli(['info', '--json', '--name', 'oncer'], { env });
      expect(info.code).toBe(0);
      const figures = JSON.parse(info.stdout);
      expect(figures).toMatchObject({ successes: 6, failures: 0, queued: 0, queue: 'oncer' });
      expect(figures.tasksPerUnit).toMatchObject({ sample: 6, unit: 'day' });
      expect(figures.tasksPerUnit.rate).toBeCloseTo(6, 5);
      expect(figures.averageTime).toBeGreaterThan(0);
    } finally {
      await q.close();
    }
  });

  it('--once on an empty queue stops straight away', async () => {
    const result = await runCli(['cluster', '--once', '--name', 'empty'], { env });
    expect(result.stderr).toMatch(/cluster empty stopped .*processed=0/);
    expect(result.code).toBe(0);
  });

  it('purge empties the queue', async () => {
    const q = new Taskq({ name: 'purged', broker: redis.url, secretKey: SECRET });
    try {
      await q.enqueueMany([
        { task: 'add', args: [1, 2] },
        { task: 'add', args: [3, 4] },
      ]);
      const result = await runCli(['purge', '--json', '--name', 'purged'], { env });
      expect(result.code).toBe(0);
      expect(JSON.parse(result.stdout)).toEqual({ queue: 'purged', purged: 2 });
      expect(await q.queueSize()).toBe(0);
    } finally {
      await q.close();
    }
  });
});
