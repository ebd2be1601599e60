import { createServer } from 'node:http';
import { collectDefaultMetrics, Registry } from 'prom-client';
import {
  ErrorCodes,
  TaskqError,
  type MetricsEndpoint,
  type MetricsServerFactory,
  type MetricsServerOptions,
  type MetricsTarget,
} from '@taskq/core';
import { TaskqMetrics } from './taskq-metrics.js';

export interface MetricsServerStartOptions extends Partial<MetricsServerOptions> {
  /** Serve these metrics (and their registry) instead of new ones. */
  metrics?: TaskqMetrics;
  /** Add prom-client's default process metrics (CPU, memory, event loop lag) to a new registry. Default true. */
  defaultMetrics?: boolean;
}

/**
 * Serves `/metrics` for one cluster over HTTP: what `metrics: { port, host }`
 * in the taskq config starts. `port: 0` picks a free port (see `url`).
 */
export async function startMetricsServer(
  target: MetricsTarget,
  options: MetricsServerStartOptions = {},
): Promise<MetricsEndpoint & { metrics: TaskqMetrics }> {
  const host = options.host ?? '127.0.0.1';
  const path = options.path ?? '/metrics';
  let metrics = options.metrics;
  if (metrics === undefined) {
    const registry = new Registry();
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
    metrics = new TaskqMetrics({ registry });
  }
  const detach = metrics.attach(target);
  const { registry } = metrics;
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== path) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`taskq metrics are at ${path}\n`);
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (error: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(String(error)),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((error: unknown) => {
    detach();
    const code = (error as { code?: string }).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      throw new TaskqError(
        ErrorCodes.CONFIG,
        `The metrics endpoint cannot listen on ${host}:${options.port ?? 0} (${code}): ` +
          'choose another `metrics.port` (0 picks a free one) or `metrics.host`.',
        { cause: error },
      );
    }
    throw error;
  });
  const { port } = server.address() as { port: number };
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}${path}`,
    metrics,
    close: async () => {
      detach();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** What @taskq/core loads for the `metrics` option. */
export const metricsServerFactory: MetricsServerFactory = {
  start: (target, options) => startMetricsServer(target, options),
};
