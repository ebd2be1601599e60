import { ErrorCodes, TaskqError, type Logger, type Taskq } from '@taskq/core';

export type Role = 'admin' | 'viewer';

export interface DashboardUser {
  username: string;
  /** Plain text, or `scrypt:<salt hex>:<hash hex>` from {@link hashPassword}. */
  password: string;
  /** `admin` may resubmit, delete and edit; `viewer` only reads. Default `admin`. */
  role?: Role;
}

export interface DashboardOptions {
  /** The taskq client whose broker, store and schedules the dashboard shows. */
  taskq: Taskq;
  /** Where the dashboard is mounted, e.g. `/taskq` (no trailing slash). Default `` (the root). */
  basePath?: string;
  /**
   * Who may log in. Default: from the environment (`TASKQ_DASHBOARD_USER` +
   * `TASKQ_DASHBOARD_PASSWORD` for an admin, `TASKQ_DASHBOARD_VIEWER` +
   * `TASKQ_DASHBOARD_VIEWER_PASSWORD` for a read-only user). `false` turns
   * authentication off (only for a dashboard behind your own auth, or on loopback).
   */
  users?: DashboardUser[] | false;
  /** Session lifetime in seconds (sliding). Default 8 hours. */
  sessionTtlSeconds?: number;
  /**
   * The `Secure` cookie flag: `auto` (default) sets it when the request came
   * over HTTPS (or `X-Forwarded-Proto: https` with `trustProxy`).
   */
  secureCookies?: boolean | 'auto';
  /** Trust `X-Forwarded-For` / `X-Forwarded-Proto` (behind a reverse proxy). Default false. */
  trustProxy?: boolean;
  /** Failed logins allowed per client address and per user name within `loginWindowSeconds`. Default 5. */
  maxLoginFailures?: number;
  loginWindowSeconds?: number;
  /** Where audit lines (resubmit, delete, schedule changes) go. Default: the taskq logger at info level. */
  auditLogger?: Logger;
  /** Page title. Default `taskq`. */
  title?: string;
}

export interface ResolvedDashboardOptions {
  taskq: Taskq;
  basePath: string;
  users: Map<string, Required<DashboardUser>> | null;
  sessionTtlMs: number;
  secureCookies: boolean | 'auto';
  trustProxy: boolean;
  maxLoginFailures: number;
  loginWindowMs: number;
  auditLogger: Logger | undefined;
  title: string;
}

function bad(option: string, fix: string): TaskqError {
  return new TaskqError(ErrorCodes.CONFIG, `Dashboard option \`${option}\`: ${fix}`);
}

/** Users from TASKQ_DASHBOARD_* environment variables (empty when none are set). */
export function usersFromEnv(env: NodeJS.ProcessEnv = process.env): DashboardUser[] {
  const users: DashboardUser[] = [];
  const pairs: [string, string, Role][] = [
    ['TASKQ_DASHBOARD_USER', 'TASKQ_DASHBOARD_PASSWORD', 'admin'],
    ['TASKQ_DASHBOARD_VIEWER', 'TASKQ_DASHBOARD_VIEWER_PASSWORD', 'viewer'],
  ];
  for (const [userVar, passwordVar, role] of pairs) {
    const username = env[userVar];
    const password = env[passwordVar];
    if (!username && !password) continue;
    if (!username || !password) throw bad(userVar, `set both ${userVar} and ${passwordVar}.`);
    users.push({ username, password, role });
  }
  return users;
}

export function resolveOptions(options: DashboardOptions): ResolvedDashboardOptions {
  if (!options || typeof options.taskq?.runtime !== 'function') {
    throw bad('taskq', 'pass the Taskq client: createDashboard({ taskq: new Taskq({...}), ... }).');
  }
  const basePath = (options.basePath ?? '').replace(/\/+$/, '');
  if (basePath !== '' && !/^\/[A-Za-z0-9._~\-/]*$/.test(basePath)) {
    throw bad('basePath', `"${options.basePath}" must start with / and hold only URL path characters, e.g. "/taskq".`);
  }
  let users: ResolvedDashboardOptions['users'] = null;
  if (options.users !== false) {
    const list = options.users ?? usersFromEnv();
    if (list.length === 0) {
      throw bad(
        'users',
        'no dashboard users: pass users: [{ username, password }] or set TASKQ_DASHBOARD_USER and ' +
          'TASKQ_DASHBOARD_PASSWORD (users: false, or `taskq dashboard --no-auth` on loopback, turns authentication off).',
      );
    }
    users = new Map();
    for (const user of list) {
      if (!user.username || typeof user.username !== 'string') throw bad('users', 'every user needs a username.');
      if (!user.password || user.password.length < 8) {
        throw bad('users', `the password of "${user.username}" must be at least 8 characters.`);
      }
      const role = user.role ?? 'admin';
      if (role !== 'admin' && role !== 'viewer') throw bad('users', `role must be "admin" or "viewer", not "${role}".`);
      users.set(user.username, { username: user.username, password: user.password, role });
    }
  }
  const positive = (name: string, value: number | undefined, fallback: number) => {
    const v = value ?? fallback;
    if (!(Number.isFinite(v) && v > 0)) throw bad(name, 'must be a positive number.');
    return v;
  };
  return {
    taskq: options.taskq,
    basePath,
    users,
    sessionTtlMs: positive('sessionTtlSeconds', options.sessionTtlSeconds, 8 * 3600) * 1000,
    secureCookies: options.secureCookies ?? 'auto',
    trustProxy: options.trustProxy ?? false,
    maxLoginFailures: positive('maxLoginFailures', options.maxLoginFailures, 5),
    loginWindowMs: positive('loginWindowSeconds', options.loginWindowSeconds, 900) * 1000,
    auditLogger: options.auditLogger,
    title: options.title ?? 'taskq',
  };
}
