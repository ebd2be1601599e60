import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BIN,
  CliProcess,
  TASKS,
  cleanEnv,
  deleteRedisPrefix,
  eventually,
  runCli,
  uniqueRedis,
} from './fixtures/cli/harness.js';

const exec = promisify(execFile);

interface StatJson {
  clusterId: string;
  name: string;
  host: string;
  pid: number;
  status: string;
  workers: number;
  memory: { rssBytes: number; heapUsedBytes: number; threads: unknown[] };
}

/** Two clusters, separate processes with different names, sharing one Redis broker. */
describe('watching clusters: monitor, info, memory', { timeout: 90_000 }, () => {
  const redis = uniqueRedis();
  const env = { TASKQ_BROKER_URL: redis.url, TASKQ_SECRET_KEY: 'cli-monitor-secret', TASKQ_TASKS: TASKS };
  const clusters: CliProcess[] = [];

  beforeAll(async () => {
    clusters.push(new CliProcess(['cluster', '--name', 'alpha', '--workers', '1'], { env, timeoutMs: 120_000 }));
    clusters.push(new CliProcess(['cluster', '--name', 'beta', '--workers', '2'], { env, timeoutMs: 120_000 }));
    await Promise.all(clusters.map((c, i) => c.waitFor(new RegExp(`cluster ${['alpha', 'beta'][i]} started`))));
  });

  afterAll(async () => {
    for (const c of clusters) c.kill('SIGTERM');
    const results = await Promise.all(clusters.map((c) => c.exited));
    await deleteRedisPrefix(redis.prefix);
    // graceful stop on SIGTERM: both exit 0
    expect(results.map((r) => r.code)).toEqual([0, 0]);
  });

  it('monitor --once --json lists both clusters with their heartbeat fields', async () => {
    const stats = await eventually(async () => {
      const result = await runCli(['monitor', '--once', '--json'], { env });
      expect(result.code).toBe(0);
      const snapshot = JSON.parse(result.stdout) as { clusters: StatJson[] };
      const names = snapshot.clusters.map((c) => c.name).sort();
      return names.join() === 'alpha,beta' ? snapshot : undefined;
    });
    expect(stats).toMatchObject({ queue: 'default', queued: 0, locked: 0, successes: 0, failures: 0 });
    expect(stats).toHaveProperty('broker.server', expect.stringMatching(/^redis /));
    const beta = stats.clusters.find((c) => c.name === 'beta')!;
    expect(beta).toMatchObject({ workers: 2, status: 'Idle', pid: clusters[1]!.child.pid });
    expect(beta.clusterId).toMatch(/^[0-9a-f]{32}$/);
    for (const key of ['host', 'taskQueueSize', 'resultQueueSize', 'reincarnations', 'startedAt', 'memory']) {
      expect(beta).toHaveProperty(key);
    }
  });

  it('monitor --once prints the table once', async () => {
    const result = await runCli(['monitor', '--once'], { env });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/Host\s+Id\s+Name\s+Queue\s+Queued\s+State\s+Pool\s+TQ\s+RQ\s+RC\s+Up/);
    // Each cluster works on its own queue (its name) and shows what waits there.
    expect(result.stdout).toMatch(/alpha\s+alpha\s+0\s+(Idle|Working)\s+1\s+0\s+0\s+0\s+\d+:\d\d:\d\d/);
    expect(result.stdout).toMatch(/beta\s+beta\s+0\s+(Idle|Working)\s+2\s/);
    expect(result.stdout).toMatch(/redis \S+ queue default\s+Queued 0\s+Success 0\s+Failures 0/);
    expect(result.stdout).not.toContain('Press q');
  });

  it('info --json and info --ids', async () => {
    const info = JSON.parse((await runCli(['info', '--json'], { env })).stdout);
    expect(info).toMatchObject({
      clusters: 2,
      workers: 3,
      restarts: 0,
      queued: 0,
      successes: 0,
      failures: 0,
      schedules: 0, // the Redis store keeps schedules
    });
    expect(info.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(info.tasksPerUnit).toMatchObject({ rate: 0, unit: 'day' });
    expect(info.averageTime).toBeNull();

    const ids = JSON.parse((await runCli(['info', '--ids', '--json'], { env })).stdout).ids as string[];
    const pids = JSON.parse((await runCli(['monitor', '--json'], { env })).stdout).clusters as StatJson[];
    expect(ids.sort()).toEqual(pids.map((c) => c.clusterId).sort());
    const plain = await runCli(['info'], { env });
    expect(plain.stdout).toMatch(/Clusters\s+2\s+Workers\s+3\s+Restarts\s+0/);
  });

  it('memory --json reports RSS and heap per cluster and heap per worker thread', async () => {
    const snapshot = await eventually(async () => {
      const result = await runCli(['memory', '--json'], { env });
      const parsed = JSON.parse(result.stdout) as { clusters: StatJson[] & { threads: unknown[] }[] };
      const threads = parsed.clusters.map((c) => (c as unknown as { threads: unknown[] }).threads.length);
      return parsed.clusters.length === 2 && threads.every((n) => n > 0) ? parsed : undefined;
    });
    expect(snapshot).toHaveProperty('host.totalBytes', expect.any(Number));
    for (const c of snapshot.clusters as unknown as { rssBytes: number; heapUsedBytes: number; threads: object[] }[]) {
      expect(c.rssBytes).toBeGreaterThan(0);
      expect(c.heapUsedBytes).toBeGreaterThan(0);
      expect(c.threads[0]).toMatchObject({ threadId: expect.any(Number), heapUsedBytes: expect.any(Number) });
    }
    const table = await runCli(['memory', '--once'], { env });
    expect(table.stdout).toMatch(/Host\s+Id\s+Name\s+Pid\s+RSS\s+Heap/);
  });

  it('the interactive monitor draws both clusters every second and quits on q', async () => {
    const socket = `taskq-cli-${randomBytes(4).toString('hex')}`;
    const tmux = (...args: string[]) => exec('tmux', ['-L', socket, ...args], { env: cleanEnv(env) });
    const command = `${process.execPath} ${BIN} monitor; echo EXIT=$?; sleep 60`;
    await tmux('new-session', '-d', '-s', 'monitor', '-x', '120', '-y', '30', command);
    try {
      const screen = () => tmux('capture-pane', '-p', '-t', 'monitor').then((r) => r.stdout);
      const first = await eventually(async () => {
        const text = await screen();
        return /alpha/.test(text) && /beta/.test(text) && /Press q to quit/.test(text) ? text : undefined;
      });
      expect(first).toMatch(/taskq monitor — 2 clusters/);
      expect(first).toMatch(/Queued 0\s+Success 0\s+Failures 0/);
      // it refreshes: the uptime column changes
      const uptime = (text: string) => /alpha\s.*?(\d+:\d\d:\d\d)/.exec(text)?.[1];
      const before = uptime(first);
      await eventually(async () => {
        const now = uptime(await screen());
        return now !== undefined && now !== before ? now : undefined;
      });
      await tmux('send-keys', '-t', 'monitor', 'q');
      const after = await eventually(async () => {
        const text = await screen();
        return /EXIT=\d+/.test(text) ? text : undefined;
      });
      expect(after).toMatch(/EXIT=0/);
      expect(after).not.toMatch(/Press q to quit/); // the alternate screen was left
    } finally {
      await tmux('kill-server').catch(() => undefined);
    }
  });
});
