export {
  TaskqMetrics,
  clientTarget,
  DEFAULT_DURATION_BUCKETS,
  DEFAULT_LATENCY_BUCKETS,
  type TaskqMetricsOptions,
} from './taskq-metrics.js';
export { startMetricsServer, metricsServerFactory, type MetricsServerStartOptions } from './metrics-server.js';
