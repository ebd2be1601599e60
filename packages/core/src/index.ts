export * from './errors.js';
export * from './logger.js';
export * from './reporter.js';
export * from './events.js';
export * from './adapters.js';
export { importOptional } from './util/import-optional.js';
export * from './serialize/serializer.js';
export * from './serialize/tagged-json.js';
export * from './signing/signer.js';
export * from './signing/hmac-signer.js';
export * from './task/ids.js';
export * from './task/task.js';
export * from './broker/broker.js';
export * from './broker/memory-broker.js';
export * from './store/result-store.js';
export * from './store/control-store.js';
export * from './store/memory-store.js';
export * from './store/schedule-store.js';
export * from './store/memory-schedule-store.js';
export * from './stats/cluster-stat.js';
export * from './config/config.js';
export * from './scheduler/index.js';
export * from './task/context.js';
export * from './task/task-ref.js';
export * from './task/registry.js';
export * from './task/task-result.js';
export * from './signing/package-codec.js';
export * from './cluster/cluster.js';
export * from './cluster/runtime.js';
export { awaitsRetry, iterSubTaskId } from './cluster/finisher.js';
export * from './client/taskq.js';
export * from './client/create-runtime.js';
export * from './config/load.js';
export * from './client/composition.js';
export type {
  MetricsEndpoint,
  MetricsServerFactory,
  MetricsServerOptions,
  MetricsTarget,
} from './observability/metrics.js';
export { loadErrorReporters, type ErrorReportersOption, type LoadedReporters } from './observability/reporters.js';
export { SpanNames } from './observability/tracing.js';
