export interface BenchOptions {
  url: string;
  tasks: number;
  rounds: number;
  /** Tasks per second in paced mode; 0 = throughput mode. */
  paced: number;
  pacedSeconds: number;
  /** Total concurrency (taskq: workers × concurrency; BullMQ: one Worker). */
  concurrency: number;
  workers: number;
  bulk: number;
}

export interface BenchSummary {
  target: string;
  mode: 'throughput' | 'paced';
  [key: string]: unknown;
}
