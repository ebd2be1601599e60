import type { TaskqEmitter } from '../events.js';
import type { ClusterStat } from '../stats/cluster-stat.js';
import { importOptional } from '../util/import-optional.js';

/** What a metrics exporter reads: the events to count, and the gauges to read at scrape time. */
export interface MetricsTarget {
  readonly events: TaskqEmitter;
  /** The queue a task goes to when it names none (the client's `cluster`). */
  readonly queue: string;
  /** The cluster's heartbeat, or null when this process runs no cluster (or it is not started yet). */
  stat(): ClusterStat | null;
  /** Tasks waiting on the broker, read at scrape time. */
  queueSize(): Promise<number>;
  /** Tasks delivered but not acknowledged, read at scrape time. */
  lockSize(): Promise<number>;
}

/** `metrics` in the config: where the cluster serves `/metrics`. */
export interface MetricsServerOptions {
  port: number;
  host: string;
  path: string;
}

export interface MetricsEndpoint {
  /** e.g. http://127.0.0.1:9464/metrics */
  readonly url: string;
  close(): Promise<void>;
}

/** What `@taskq/prometheus` exports for the cluster's opt-in endpoint. */
export interface MetricsServerFactory {
  start(target: MetricsTarget, options: MetricsServerOptions): Promise<MetricsEndpoint>;
}

/** Loads `@taskq/prometheus` (only when `metrics` is configured) and serves the cluster's metrics. */
export async function startMetricsEndpoint(
  target: MetricsTarget,
  options: MetricsServerOptions,
): Promise<MetricsEndpoint> {
  const module = await importOptional<{ metricsServerFactory?: MetricsServerFactory }>(
    '@taskq/prometheus',
    'The `metrics` option',
  );
  if (typeof module.metricsServerFactory?.start !== 'function') {
    throw new Error('@taskq/prometheus exports no metricsServerFactory: install a matching version.');
  }
  return module.metricsServerFactory.start(target, options);
}
