import { runTaskqAlone } from './alone.js';
import type { BenchOptions, BenchSummary } from './types.js';

/** taskq alone on the in-memory broker and store: the ceiling of the cluster pipeline itself. */
export function runMemoryTarget(options: BenchOptions, log: (line: string) => void): Promise<BenchSummary> {
  return runTaskqAlone({ name: 'memory' }, options, log, () => ({ broker: 'memory:', store: 'memory:' }));
}
