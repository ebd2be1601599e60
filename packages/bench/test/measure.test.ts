import { describe, expect, it } from 'vitest';
import { median, percentile, round } from '../src/measure.js';

describe('bench statistics', () => {
  it('percentile picks the nearest rank', () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 95)).toBe(95);
    expect(percentile([3, 1, 2], 50)).toBe(2);
    expect(percentile([], 50)).toBeNull();
  });

  it('median of rounds and rounding', () => {
    expect(median([1.04, 0.98, 1.2])).toBe(1.04);
    expect(round(1.2345, 2)).toBe(1.23);
  });
});
