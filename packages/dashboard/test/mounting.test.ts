import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { serve } from '@hono/node-server';
import type { Taskq } from '@taskq/core';
import { createDashboard, type Dashboard } from '../src/index.js';
import { HttpClient, memoryClient, record } from './support/browserless.js';

const USERS = [{ username: 'admin', password: 'mount-test-password' }];
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

async function setup(): Promise<{ taskq: Taskq; dashboard: Dashboard }> {
  const taskq = memoryClient();
  cleanups.push(() => taskq.close());
  const dashboard = createDashboard({ taskq, basePath: '/admin/taskq', users: USERS });
  return { taskq, dashboard };
}

/** What every mount must do: log in, list a failure, delete it (a POST with CSRF), leave other routes alone. */
async function exercise(origin: string, taskq: Taskq, otherRoute: string, otherBody: string) {
  const failed = record({ name: 'mounted-failure', success: false, result: null, error: { name: 'E', message: 'm' } });
  await (await taskq.runtime()).store.saveMany([failed]);
  const client = new HttpClient(origin);
  expect((await client.login('/admin/taskq', 'admin', 'mount-test-password')).status).toBe(303);
  const page = await client.get('/admin/taskq/tasks?state=failure');
  expect(page.status).toBe(200);
  const html = await page.text();
  expect(html).toContain('mounted-failure');
  expect(html).toContain('href="/admin/taskq/assets/app.css"');
  expect((await client.get('/admin/taskq/assets/htmx.min.js')).status).toBe(200);
  const deleted = await client.post('/admin/taskq/tasks/delete', { ids: failed.id, _csrf: HttpClient.csrfOf(html) });
  expect(deleted.status).toBe(303);
  expect(await (await taskq.runtime()).store.get(failed.id)).toBeNull();
  const other = await fetch(`${origin}${otherRoute}`);
  expect(await other.text()).toBe(otherBody);
}

describe('mounting under a path prefix', () => {
  it('node:http', async () => {
    const { taskq, dashboard } = await setup();
    const server = createServer((req, res) => {
      if (dashboard.owns(req)) return dashboard.handle(req, res);
      res.end('app route');
    });
    cleanups.push(() => closeServer(server));
    await exercise(await listen(server), taskq, '/hello', 'app route');
  });

  it('Express (app.use with the prefix, before body parsers)', async () => {
    const { taskq, dashboard } = await setup();
    const app = express();
    app.use('/admin/taskq', dashboard.handle);
    app.use(express.urlencoded({ extended: false }));
    app.get('/hello', (_req, res) => void res.send('express route'));
    const server = createServer(app);
    cleanups.push(() => closeServer(server));
    await exercise(await listen(server), taskq, '/hello', 'express route');
  });

  it('Fastify (an onRequest hook hands the raw request over)', async () => {
    const { taskq, dashboard } = await setup();
    const app = Fastify();
    app.addHook('onRequest', (request, reply, done) => {
      if (!dashboard.owns(request.raw)) return done();
      reply.hijack();
      dashboard.handle(request.raw, reply.raw);
    });
    app.get('/hello', async () => 'fastify route');
    await app.listen({ port: 0, host: '127.0.0.1' });
    cleanups.push(() => app.close());
    const { port } = app.server.address() as AddressInfo;
    await exercise(`http://127.0.0.1:${port}`, taskq, '/hello', 'fastify route');
  });

  it('Hono (app.all on the prefix calls dashboard.fetch)', async () => {
    const { taskq, dashboard } = await setup();
    const app = new Hono();
    app.all('/admin/taskq/*', (c) => dashboard.fetch(c.req.raw));
    app.all('/admin/taskq', (c) => dashboard.fetch(c.req.raw));
    app.get('/hello', (c) => c.text('hono route'));
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
    await new Promise((resolve) => server.once('listening', resolve));
    cleanups.push(() => closeServer(server));
    await exercise(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, taskq, '/hello', 'hono route');
  });
});
