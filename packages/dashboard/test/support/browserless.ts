import { randomUUID } from 'node:crypto';
import { Taskq, type Logger, type TaskRecord } from '@taskq/core';

/** A Taskq client on its own in-process memory queue and store. */
export function memoryClient(): Taskq {
  return new Taskq({
    name: `dash${randomUUID().slice(0, 8)}`,
    broker: 'memory:',
    store: 'memory:',
    secretKey: 'dashboard-test-secret',
    logLevel: 'silent',
  });
}

export function record(overrides: Partial<TaskRecord> = {}): TaskRecord {
  const now = Date.now();
  const id = overrides.id ?? randomUUID().replaceAll('-', '');
  return {
    id,
    name: `task-${id.slice(0, 6)}`,
    func: 'add',
    args: '[1,2]',
    result: '3',
    error: null,
    success: true,
    group: null,
    hook: null,
    cluster: 'test',
    enqueuedAt: new Date(now - 300),
    startedAt: new Date(now - 200),
    stoppedAt: new Date(now),
    attemptCount: 1,
    ...overrides,
  };
}

/** A logger that keeps its lines, for audit assertions. */
export function memoryLogger(): Logger & { lines: { message: string; fields?: Record<string, unknown> }[] } {
  const lines: { message: string; fields?: Record<string, unknown> }[] = [];
  const push = (message: string, fields?: Record<string, unknown>) => void lines.push({ message, fields });
  return { lines, debug: push, info: push, warn: push, error: push };
}

/**
 * A tiny browser stand-in over HTTP: keeps cookies, follows nothing, and
 * reads the CSRF token a page carries. For the real browser see e2e tests.
 */
export class HttpClient {
  readonly cookies = new Map<string, string>();

  constructor(
    readonly origin: string,
    readonly send: (request: Request) => Promise<Response> = (r) => fetch(r),
  ) {}

  async request(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size > 0) headers.set('Cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    const response = await this.send(new Request(new URL(path, this.origin), { ...init, headers, redirect: 'manual' }));
    for (const line of response.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const at = pair.indexOf('=');
      const name = pair.slice(0, at);
      const value = pair.slice(at + 1);
      if (value === '' || /max-age=0/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return response;
  }

  get(path: string): Promise<Response> {
    return this.request(path);
  }

  post(
    path: string,
    fields: Record<string, string | string[]>,
    headers: Record<string, string> = {},
  ): Promise<Response> {
    const body = new URLSearchParams();
    for (const [k, v] of Object.entries(fields)) for (const one of [v].flat()) body.append(k, one);
    return this.request(path, {
      method: 'POST',
      body,
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: this.origin, ...headers },
    });
  }

  /** The `_csrf` value of the first form in a page. */
  static csrfOf(page: string): string {
    const match = /name="_csrf" value="([^"]+)"/.exec(page);
    if (!match) throw new Error('no CSRF field in the page');
    return match[1]!;
  }

  async login(base: string, username: string, password: string): Promise<Response> {
    const form = await (await this.get(`${base}/login`)).text();
    return this.post(`${base}/login`, { username, password, _csrf: HttpClient.csrfOf(form) });
  }
}
