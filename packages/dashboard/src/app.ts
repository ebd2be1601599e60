import { Hono } from 'hono';
import { getCookie, setCookie, deleteCookie } from 'hono/cookie';
import { html } from 'hono/html';
import { consoleLogger, isTaskqError, type Logger } from '@taskq/core';
import { asset } from './assets.js';
import { LoginLimiter, Sessions, randomToken, safeEqual, verifyPassword, type Session } from './auth.js';
import { resolveOptions, type DashboardOptions, type ResolvedDashboardOptions } from './options.js';
import { layout } from './views/layout.js';
import { field, formOf, type Ctx, type DashboardContext, type Env } from './context.js';
import { registerTaskRoutes } from './routes/tasks.js';
import { registerScheduleRoutes } from './routes/schedules.js';
import { registerOverviewRoutes } from './routes/overview.js';
import { registerControlRoutes } from './routes/control.js';

const SESSION_COOKIE = 'taskq_session';
const LOGIN_COOKIE = 'taskq_login';

export function buildApp(input: DashboardOptions): { app: Hono<Env>; options: ResolvedDashboardOptions } {
  const options = resolveOptions(input);
  const { basePath, taskq } = options;
  const sessions = new Sessions(options.sessionTtlMs);
  const limiter = new LoginLimiter(options.maxLoginFailures, options.loginWindowMs);
  // without authentication every visitor shares one session, so CSRF checks still apply
  const anonymous: Session | null = options.users
    ? null
    : { id: 'anonymous', username: 'anonymous', role: 'admin', csrf: randomToken(), expiresAt: Infinity };

  const log: Logger = taskq.config.logger ?? consoleLogger(taskq.config.logLevel ?? 'info', 'taskq-dashboard');
  // audit lines are never filtered by the log level
  const auditLog: Logger = options.auditLogger ?? taskq.config.logger ?? consoleLogger('info', 'taskq-dashboard');
  const ctx: DashboardContext = {
    options,
    runtime: () => taskq.runtime(),
    url: (path) => `${basePath}/${path.replace(/^\//, '')}`,
    async page(c, frame, body, status = 200) {
      const content = await layout(
        {
          appTitle: options.title,
          base: basePath,
          session: c.get('session') ?? null,
          authEnabled: options.users !== null,
          notice: c.req.query('notice'),
          ...frame,
        },
        body,
      );
      return c.html(content, status as 200);
    },
    audit(c, action, fields) {
      const session = c.get('session');
      auditLog.info('dashboard audit', { action, user: session?.username, ip: clientAddress(c, options), ...fields });
    },
    describe(error) {
      if (isTaskqError(error)) return error.message;
      log.error('dashboard request failed', { error: String((error as Error)?.stack ?? error) });
      return 'The request failed; the server log has the details.';
    },
  };

  const app = new Hono<Env>().basePath(basePath || '/');

  app.use('*', async (c, next) => {
    await next();
    c.header(
      'Content-Security-Policy',
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    );
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('X-Frame-Options', 'DENY');
    c.header('Referrer-Policy', 'same-origin');
    if (!c.res.headers.has('Cache-Control')) c.header('Cache-Control', 'no-store');
  });

  app.get('/favicon.ico', (c) => c.body(null, 204));

  app.get('/assets/:name', (c) => {
    const found = asset(c.req.param('name'));
    if (!found) return c.notFound();
    return c.body(new Uint8Array(found.body), 200, { 'Content-Type': found.type, 'Cache-Control': 'max-age=3600' });
  });

  const cookieOptions = (c: Ctx) => ({
    path: basePath || '/',
    httpOnly: true,
    sameSite: 'Strict' as const,
    secure: options.secureCookies === 'auto' ? isHttps(c, options) : options.secureCookies,
  });

  // --- login / logout (before the session check) ---
  app.get('/login', async (c) => {
    if (!options.users) return c.redirect(ctx.url(''), 303);
    // keep an existing token: a second GET (another tab, the favicon's redirect) must not void the open form
    const token = getCookie(c, LOGIN_COOKIE) || randomToken();
    setCookie(c, LOGIN_COOKIE, token, { ...cookieOptions(c), maxAge: 3600 });
    const failed = c.req.query('failed');
    return ctx.page(
      c,
      {
        title: 'Log in',
        error:
          failed === 'limit'
            ? 'Too many failed logins; try again later.'
            : failed
              ? 'Wrong user name or password.'
              : undefined,
      },
      loginForm(ctx, token),
      failed === 'limit' ? 429 : failed ? 401 : 200,
    );
  });

  app.post('/login', async (c) => {
    if (!options.users) return c.redirect(ctx.url(''), 303);
    const form = await formOf(c);
    const token = getCookie(c, LOGIN_COOKIE);
    if (!token || !safeEqual(field(form, '_csrf'), token) || !sameOrigin(c, options)) {
      return c.text('Forbidden: the login form expired or came from another site; reload the login page.', 403);
    }
    const username = field(form, 'username');
    const password = field(form, 'password');
    const keys = [`ip:${clientAddress(c, options)}`, `user:${username}`];
    const wait = limiter.blockedFor(keys);
    if (wait > 0) {
      log.warn('dashboard login rate-limited', { user: username, ip: clientAddress(c, options) });
      c.header('Retry-After', String(wait));
      return c.redirect(ctx.url('login?failed=limit'), 303);
    }
    const user = options.users.get(username);
    // verify even for unknown users, so timing does not tell which names exist
    const ok = verifyPassword(password, user?.password ?? 'taskq-no-such-user-password') && user !== undefined;
    if (!ok) {
      limiter.fail(keys);
      log.warn('dashboard login failed', { user: username, ip: clientAddress(c, options) });
      return c.redirect(ctx.url('login?failed=1'), 303);
    }
    limiter.succeed(keys);
    const session = sessions.create(user.username, user.role);
    deleteCookie(c, LOGIN_COOKIE, { path: basePath || '/' });
    setCookie(c, SESSION_COOKIE, session.id, { ...cookieOptions(c), maxAge: Math.floor(options.sessionTtlMs / 1000) });
    log.info('dashboard login', { user: user.username, role: user.role });
    return c.redirect(ctx.url(''), 303);
  });

  // --- every other route: a session, CSRF on changes, the role ---
  app.use('*', async (c, next) => {
    const session = anonymous ?? sessions.get(getCookie(c, SESSION_COOKIE));
    if (!session) {
      if (c.req.header('HX-Request')) {
        c.header('HX-Redirect', ctx.url('login'));
        return c.body(null, 401);
      }
      if (c.req.method === 'GET') return c.redirect(ctx.url('login'), 303);
      return c.text('Unauthorized: log in first.', 401);
    }
    c.set('session', session);
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      let token = c.req.header('X-CSRF-Token');
      if (!token) {
        const type = c.req.header('Content-Type') ?? '';
        if (type.includes('form')) {
          const form = await formOf(c);
          token = field(form, '_csrf') || undefined;
        }
      }
      if (!token || !safeEqual(token, session.csrf) || !sameOrigin(c, options)) {
        return c.text('Forbidden: missing or wrong CSRF token; reload the page and try again.', 403);
      }
      const path = c.req.path.slice(basePath.length);
      if (session.role !== 'admin' && path !== '/logout') {
        return c.text(`Forbidden: user "${session.username}" has the read-only role.`, 403);
      }
    }
    await next();
  });

  app.post('/logout', (c) => {
    const session = c.get('session');
    sessions.delete(session.id);
    deleteCookie(c, SESSION_COOKIE, { path: basePath || '/' });
    return c.redirect(ctx.url('login'), 303);
  });

  registerOverviewRoutes(app, ctx);
  registerTaskRoutes(app, ctx);
  registerScheduleRoutes(app, ctx);
  registerControlRoutes(app, ctx);

  app.onError((error, c) => {
    const message = ctx.describe(error);
    return c.text(message, 500);
  });
  return { app, options };
}

function loginForm(ctx: DashboardContext, token: string) {
  return html`<form method="post" action="${ctx.url('login')}" class="login">
    <input type="hidden" name="_csrf" value="${token}" />
    <label>User name <input name="username" autocomplete="username" required autofocus /></label>
    <label>Password <input name="password" type="password" autocomplete="current-password" required /></label>
    <button type="submit">Log in</button>
  </form>`;
}

function clientAddress(c: Ctx, options: ResolvedDashboardOptions): string {
  if (options.trustProxy) {
    const forwarded = c.req.header('X-Forwarded-For')?.split(',')[0]?.trim();
    if (forwarded) return forwarded;
  }
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress ?? 'unknown';
}

function isHttps(c: Ctx, options: ResolvedDashboardOptions): boolean {
  if (options.trustProxy && c.req.header('X-Forwarded-Proto') === 'https') return true;
  return new URL(c.req.url).protocol === 'https:';
}

/** A browser sends Origin with every POST; when present it must be this host. */
function sameOrigin(c: Ctx, options: ResolvedDashboardOptions): boolean {
  const origin = c.req.header('Origin');
  if (!origin || origin === 'null') return origin !== 'null';
  try {
    const host = (options.trustProxy ? c.req.header('X-Forwarded-Host') : undefined) ?? new URL(c.req.url).host;
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}
