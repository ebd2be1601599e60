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
  /** taskq's queueLimit (tasks held in memory); null = taskq's default. */
  queueLimit: number | null;
  /** pg-boss tuning: parallel work() loops and jobs per fetch (postgres target). */
  pgbossLoops?: number;
  pgbossBatch?: number;
  /** Skip the SQLite / MariaDB reference rounds of the postgres target. */
  noOthers?: boolean;
}

export interface BenchSummary {
  target: string;
  mode: 'throughput' | 'paced';
  [key: string]: unknown;
}
