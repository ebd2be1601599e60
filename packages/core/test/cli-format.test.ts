import { describe, expect, it } from 'vitest';
import { renderMonitor } from '../src/cli/commands/monitor.js';
import { formatUptime, renderTable, stripAnsi, visibleLength } from '../src/cli/format.js';
import { rateOf, type MonitorSnapshot } from '../src/cli/snapshot.js';
import type { ClusterStat } from '../src/stats/cluster-stat.js';

describe('CLI formatting', () => {
  it('picks the tasks-per-unit like qinfo: the largest unit whose rate exceeds one', () => {
    const day = 86_400_000;
    expect(rateOf(0, day)).toEqual({ rate: 0, unit: 'day' });
    expect(rateOf(24, day)).toEqual({ rate: 24, unit: 'day' });
    expect(rateOf(48, day)).toEqual({ rate: 2, unit: 'hour' });
    expect(rateOf(2_880, day)).toEqual({ rate: 2, unit: 'minute' });
    expect(rateOf(172_800, day)).toEqual({ rate: 2, unit: 'second' });
    // a shorter window scales up: 120 tasks in one minute is 2 per second
    expect(rateOf(120, 60_000)).toEqual({ rate: 2, unit: 'second' });
  });

  it('formats uptime as H:MM:SS', () => {
    expect(formatUptime(1_000, 1_000 + 3_723_000)).toBe('1:02:03');
    expect(formatUptime(0)).toBe('-');
  });

  it('aligns table columns ignoring colour codes', () => {
    const table = renderTable(['A', 'Bee'], [['\x1b[32mgreen\x1b[39m', 'x']]);
    const [header, row] = table.split('\n');
    expect(visibleLength(row!)).toBe('green  x'.length);
    expect(header).toBe('A      Bee');
  });

  it('renders a monitor frame with every column and the footer', () => {
    const stat: ClusterStat = {
      clusterId: 'f'.repeat(24) + '1234abcd',
      name: 'billing',
      queue: 'billing',
      host: 'web-1',
      pid: 42,
      status: 'Working',
      workers: 4,
      concurrency: 10,
      taskQueueSize: 3,
      resultQueueSize: 1,
      running: 40,
      reincarnations: 2,
      processed: 100,
      failed: 1,
      rejected: 0,
      startedAt: 1_000,
      updatedAt: 2_000,
      memory: { rssBytes: 1, heapUsedBytes: 1, threads: [] },
    };
    const snapshot: MonitorSnapshot = {
      at: '',
      broker: { server: 'redis 7.0.15', queue: 'billing' },
      queue: 'billing',
      queued: 12,
      locked: 5,
      successes: 100,
      failures: 3,
      retrying: 2,
      clusters: [stat, { ...stat, clusterId: 'e'.repeat(24) + '5678efab', name: 'reports', queue: 'reports' }],
      queues: { billing: { queued: 12, locked: 5 }, reports: { queued: 7, locked: 0 } },
    };
    const frame = stripAnsi(renderMonitor(snapshot, true, 1_000 + 65_000));
    expect(frame).toMatch(/Host\s+Id\s+Name\s+Queue\s+Queued\s+State\s+Pool\s+TQ\s+RQ\s+RC\s+Up/);
    // Each cluster's queue and what waits on it (delivered, unacknowledged in parentheses).
    expect(frame).toMatch(/web-1\s+1234abcd\s+billing\s+billing\s+12 \(5\)\s+Working\s+4x10\s+3\s+1\s+2\s+0:01:05/);
    expect(frame).toMatch(/web-1\s+5678efab\s+reports\s+reports\s+7\s+Working/);
    expect(frame).toMatch(
      /redis 7\.0\.15 queue billing\s+Queued 12 \(5\)\s+Success 100\s+Failures 3 \(2 awaiting retry\)/,
    );
    expect(frame).toContain('[Press q to quit]');
    // A cluster that cannot reach its broker says so, with how long.
    const down = { ...snapshot, clusters: [{ ...stat, brokerUnreachableSince: 1_000 + 53_000 }] };
    expect(stripAnsi(renderMonitor(down, false, 1_000 + 65_000))).toMatch(/Working \(broker unreachable 0:00:12\)/);
  });
});
