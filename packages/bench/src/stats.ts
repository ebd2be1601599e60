import { round } from './measure.js';

/** One point of a series: x and y. */
export interface Point {
  x: number;
  y: number;
}

/** Least-squares slope of y over x; null with fewer than two distinct x. */
export function linearSlope(points: readonly Point[]): number | null {
  const n = points.length;
  if (n < 2) return null;
  let sx = 0;
  let sy = 0;
  for (const p of points) {
    sx += p.x;
    sy += p.y;
  }
  const mx = sx / n;
  const my = sy / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den === 0 ? null : num / den;
}

/** An RSS sample of a soak: tasks finished so far and the process's RSS in MB. */
export interface RssSample {
  done: number;
  rssMb: number;
}

/**
 * RSS growth in MB per 100,000 tasks after warm-up: the least-squares slope of
 * RSS over tasks done, over the samples taken once `warmupFraction` of the
 * tasks were done (samples before that include heap growth to its working size).
 */
export function rssSlopePer100k(
  samples: readonly RssSample[],
  total: number,
  warmupFraction = 0.2,
): { slopeMbPer100k: number | null; samplesUsed: number } {
  const after = samples.filter((s) => s.done >= total * warmupFraction);
  const slope = linearSlope(after.map((s) => ({ x: s.done, y: s.rssMb })));
  return { slopeMbPer100k: slope === null ? null : round(slope * 100_000, 2), samplesUsed: after.length };
}

/** Parallel units' throughput: the speed-up of each point over the first (1 unit). */
export function speedups(values: readonly (number | null)[]): (number | null)[] {
  const base = values[0];
  return values.map((v) =>
    v === null || base === null || base === undefined || base === 0 ? null : round(v / base, 2),
  );
}

/**
 * Where a curve stops scaling: the first unit count whose next point gains
 * less than `minGain` (1.1 = 10 %), or null if every step gained that much
 * (or too few points were measured).
 */
export function stopsScalingAt(
  units: readonly number[],
  values: readonly (number | null)[],
  minGain = 1.1,
): number | null {
  for (let i = 0; i + 1 < values.length; i++) {
    const here = values[i];
    const next = values[i + 1];
    if (here === null || here === undefined || next === null || next === undefined) continue;
    if (next < here * minGain) return units[i] ?? null;
  }
  return null;
}
