import type { Context } from 'hono';
import type { Runtime } from '@taskq/core';
import type { Session } from './auth.js';
import type { ResolvedDashboardOptions } from './options.js';
import type { layout, PageFrame } from './views/layout.js';

export type Env = { Variables: { session: Session } };
export type Ctx = Context<Env>;

/** What route modules share. */
export interface DashboardContext {
  options: ResolvedDashboardOptions;
  runtime(): Promise<Runtime>;
  /** Full URL path of a dashboard path (`url('tasks')` → `/taskq/tasks`). */
  url(path: string): string;
  page(
    c: Ctx,
    frame: Partial<PageFrame> & { title: string },
    body: Parameters<typeof layout>[1],
    status?: number,
  ): Promise<Response>;
  /** One audit line per change made through the dashboard. */
  audit(c: Ctx, action: string, fields: Record<string, unknown>): void;
  /** The error text to show a user: a TaskqError's message, or a generic line (details go to the log). */
  describe(error: unknown): string;
}

/** The form body, every repeated field as an array (Hono caches the first parse, so always parse the same way). */
export async function formOf(c: Ctx): Promise<Record<string, string | File | (string | File)[]>> {
  return c.req.parseBody({ all: true });
}

/** One form field as a string ('' when absent or repeated). */
export function field(form: Record<string, unknown>, name: string): string {
  const value = form[name];
  return typeof value === 'string' ? value : '';
}
