import type { IncomingMessage, ServerResponse } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { buildApp } from './app.js';
import type { DashboardOptions, ResolvedDashboardOptions } from './options.js';

export interface Dashboard {
  /** The Fetch API handler: `(Request) => Promise<Response>` (Hono, Bun, Deno, workers). */
  fetch(request: Request): Promise<Response>;
  /**
   * A node:http handler `(req, res, next?)` for node:http, Express and Connect.
   * Requests outside `basePath` go to `next` when given, else get a 404.
   */
  handle(req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void): void;
  /** Whether a node request's path is under `basePath` (for Fastify's onRequest hook). */
  owns(req: IncomingMessage): boolean;
  readonly basePath: string;
}

/**
 * One request handler for the whole dashboard, mounted under `basePath`. It
 * keeps no connection of its own: it uses the Taskq client's broker, store
 * and schedules. Throws TASKQ_CONFIG_INVALID without users (set
 * TASKQ_DASHBOARD_USER/TASKQ_DASHBOARD_PASSWORD or pass `users`).
 */
export function createDashboard(options: DashboardOptions): Dashboard {
  const { app, options: resolved } = buildApp(options);
  const listener = getRequestListener((request, env) => app.fetch(request, env));
  const owns = (req: IncomingMessage) => isUnder(originalUrl(req), resolved);
  return {
    basePath: resolved.basePath,
    fetch: async (request) => app.fetch(request),
    owns,
    handle(req, res, next) {
      // Express strips its mount path from req.url; the dashboard routes on the full path
      const url = originalUrl(req);
      if (!isUnder(url, resolved)) {
        if (next) return next();
        res.statusCode = 404;
        res.end('Not found');
        return;
      }
      req.url = url;
      listener(req, res).catch((error: unknown) => (next ? next(error) : res.destroy(error as Error)));
    },
  };
}

function originalUrl(req: IncomingMessage): string {
  return (req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url ?? '/';
}

function isUnder(url: string, options: ResolvedDashboardOptions): boolean {
  if (options.basePath === '') return true;
  const path = url.split('?')[0] ?? '';
  return path === options.basePath || path.startsWith(`${options.basePath}/`);
}
