import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ErrorCodes, TaskqError } from '@taskq/core';
import { createDashboard } from './dashboard.js';
import type { DashboardOptions } from './options.js';

export interface ServeOptions extends DashboardOptions {
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
}

export interface RunningDashboard {
  server: Server;
  /** e.g. `http://127.0.0.1:8080/`. */
  url: string;
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/**
 * The standalone dashboard (`taskq dashboard`): a node:http server. Refuses
 * `users: false` unless bound to a loopback address.
 */
export async function serveDashboard(options: ServeOptions): Promise<RunningDashboard> {
  const host = options.host ?? '127.0.0.1';
  if (options.users === false && !LOOPBACK.has(host)) {
    throw new TaskqError(
      ErrorCodes.CONFIG,
      `The dashboard without authentication may only listen on loopback (127.0.0.1, ::1), not ${host}: ` +
        'set TASKQ_DASHBOARD_USER and TASKQ_DASHBOARD_PASSWORD, or bind to 127.0.0.1.',
    );
  }
  const dashboard = createDashboard(options);
  const server = createServer((req, res) => dashboard.handle(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8080, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    server,
    url: `http://${shownHost}:${address.port}${dashboard.basePath}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
