import { describe, expect, it } from 'vitest';
import { linearSlope, rssSlopePer100k, speedups, stopsScalingAt } from '../src/stats.js';
import { parseMachineTicks, parseStatTicks, saturation, type CpuShares } from '../src/procstat.js';
import { escapeXml, lineChartSvg, niceStep } from '../src/svg.js';
import { rotate } from '../src/targets/postgres.js';

describe('slope of RSS over tasks', () => {
  it('is the least-squares slope', () => {
    expect(
      linearSlope([
        { x: 0, y: 1 },
        { x: 1, y: 3 },
        { x: 2, y: 5 },
      ]),
    ).toBe(2);
    expect(
      linearSlope([
        { x: 0, y: 4 },
        { x: 10, y: 4 },
      ]),
    ).toBe(0);
    expect(linearSlope([{ x: 1, y: 1 }])).toBeNull();
    expect(
      linearSlope([
        { x: 3, y: 1 },
        { x: 3, y: 2 },
      ]),
    ).toBeNull();
  });

  it('leaves out the warm-up and reports MB per 100,000 tasks', () => {
    // 150 MB while warming up to 200,000 tasks, then +0.5 MB per 100,000
    const samples = [
      { done: 0, rssMb: 90 },
      { done: 100_000, rssMb: 150 },
      ...Array.from({ length: 9 }, (_, i) => ({ done: 200_000 + i * 100_000, rssMb: 160 + i * 0.5 })),
    ];
    expect(rssSlopePer100k(samples, 1_000_000, 0.2)).toEqual({ slopeMbPer100k: 0.5, samplesUsed: 9 });
    expect(rssSlopePer100k([], 1000).slopeMbPer100k).toBeNull();
  });

  it('finds where a curve stops scaling', () => {
    expect(stopsScalingAt([1, 2, 4], [1000, 1900, 2000])).toBe(2);
    expect(stopsScalingAt([1, 2, 4], [1000, 1050, 3000])).toBe(1);
    expect(stopsScalingAt([1, 2, 4], [1000, 1900, 3600])).toBeNull();
    expect(stopsScalingAt([1, 2, 4], [1000, null, 900])).toBeNull();
  });

  it('speed-up over the first point', () => {
    expect(speedups([1000, 1800, null])).toEqual([1, 1.8, null]);
    expect(speedups([null, 5])).toEqual([null, null]);
  });
});

describe('/proc parsing and the saturation verdict', () => {
  it('reads utime + stime after a command name with spaces and parentheses', () => {
    const fields = ['S', ...Array.from({ length: 10 }, () => '0'), '120', '30', '0', '0'];
    expect(parseStatTicks(`4242 (node (main) x) ${fields.join(' ')}`)).toBe(150);
    expect(parseStatTicks('garbage')).toBeNull();
  });

  it('reads busy and total ticks of the machine', () => {
    expect(parseMachineTicks('cpu  10 0 5 80 5 0 0 0 0 0\ncpu0 1 2 3\n')).toEqual({ busy: 15, total: 100 });
    expect(parseMachineTicks('intr 1')).toBeNull();
  });

  const shares = (machine: number, groups: Record<string, [number, number]>): CpuShares => ({
    windowS: 5,
    machineBusyCores: machine,
    groups: Object.fromEntries(
      Object.entries(groups).map(([k, [cores, busiest]]) => [k, { cores, busiestProcessCores: busiest }]),
    ),
  });

  it('names a single-threaded process at one core first, then a full machine, else none', () => {
    const single = ['redis', 'cluster main thread'];
    expect(saturation(shares(1.4, { redis: [0.95, 0.95], cluster: [0.4, 0.4] }), 2, single).saturated).toBe('redis');
    expect(
      saturation(shares(1.5, { redis: [0.5, 0.5], 'cluster main thread': [1.2, 0.97] }), 2, single).saturated,
    ).toBe('cluster main thread');
    expect(saturation(shares(1.9, { redis: [0.6, 0.6], postgres: [1.1, 0.3] }), 2, single).saturated).toBe(
      'machine CPU',
    );
    expect(saturation(shares(0.8, { redis: [0.3, 0.3] }), 2, single).saturated).toBe('none (latency-bound)');
  });

  it('says when other processes shared a busy machine', () => {
    const busy = shares(1.95, { redis: [0.2, 0.2], postgres: [0, 0], 'cluster processes': [0.75, 0.75] });
    const verdict = saturation(busy, 2, ['redis'], ['redis', 'postgres', 'cluster processes']);
    expect(verdict.saturated).toBe('machine CPU (shared with other processes)');
    expect(verdict.otherProcessesCores).toBe(1);
    expect(verdict.detail).toContain('other processes 1');
    const alone = shares(1.9, { redis: [0.5, 0.5], 'cluster processes': [1.3, 0.9] });
    expect(saturation(alone, 2, ['redis'], ['redis', 'cluster processes']).saturated).toBe('machine CPU');
  });
});

describe('SVG chart', () => {
  it('picks round grid steps', () => {
    expect(niceStep(9000)).toBe(2000);
    expect(niceStep(12_000)).toBe(2500);
    expect(niceStep(0)).toBe(1);
  });

  it('draws one polyline per measured run of points, a legend, and escapes text', () => {
    const svg = lineChartSvg({
      title: 'scale <A&B>',
      xLabel: 'units',
      yLabel: 'tasks/s',
      x: [1, 2, 4],
      series: [
        { name: 'redis: threads', values: [1000, 1800, null] },
        { name: 'redis: processes', values: [1000, 1900, 3000] },
      ],
    });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect(svg.match(/<polyline /g)).toHaveLength(2);
    expect(svg.match(/<circle /g)).toHaveLength(5);
    expect(svg).toContain('scale &lt;A&amp;B&gt;');
    expect(svg).toContain('redis: processes');
    expect(escapeXml(`"'`)).toBe('&quot;&apos;');
  });
});

describe('round order', () => {
  it('rotates so every system goes first in turn', () => {
    expect(rotate(['a', 'b', 'c'], 0)).toEqual(['a', 'b', 'c']);
    expect(rotate(['a', 'b', 'c'], 1)).toEqual(['b', 'c', 'a']);
    expect(rotate(['a', 'b', 'c'], 5)).toEqual(['c', 'a', 'b']);
  });
});
