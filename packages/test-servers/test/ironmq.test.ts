import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IronMqServer } from '../src/ironmq/index.js';

// The local IronMQ v3 server, spoken to over raw HTTP as the v3 API reference describes it
// (https://dev.iron.io/mq/3/reference/api/): paths under /3/projects/{id}/queues, `Authorization: OAuth TOKEN`,
// JSON bodies, errors as non-2xx with {"msg": …}.

let server: IronMqServer;
let counter = 0;

beforeAll(async () => {
  // Leases of 1 s so expiry can be observed; the documented minimum (30 s) is checked on a second server.
  server = await IronMqServer.start({ token: 'secret-token', projectId: 'p1', minTimeoutSeconds: 1 });
});

afterAll(async () => {
  await server.stop();
});

interface Reply<T = Record<string, unknown>> {
  status: number;
  body: T;
}

async function call<T = Record<string, unknown>>(
  method: string,
  path: string,
  body?: unknown,
  token = 'secret-token',
  signal?: AbortSignal,
): Promise<Reply<T>> {
  const init: RequestInit = {
    method,
    headers: { Authorization: `OAuth ${token}`, 'Content-Type': 'application/json' },
  };
  if (body !== undefined) init.body = JSON.stringify(body);
  if (signal) init.signal = signal;
  const response = await fetch(`${server.origin}/3/projects/p1/queues${path}`, init);
  return { status: response.status, body: (await response.json()) as T };
}

interface Reserved {
  id: string;
  body: string;
  reserved_count: number;
  reservation_id: string;
}

async function newQueue(timeout = 1): Promise<string> {
  counter += 1;
  const name = `q-${counter}`;
  const created = await call('PUT', `/${name}`, { queue: { message_timeout: timeout } });
  expect(created.status).toBe(200);
  return name;
}

async function post(queue: string, ...bodies: string[]): Promise<string[]> {
  const reply = await call<{ ids: string[] }>('POST', `/${queue}/messages`, {
    messages: bodies.map((body) => ({ body })),
  });
  expect(reply.status).toBe(201);
  return reply.body.ids;
}

async function reserve(queue: string, options: Record<string, unknown> = {}): Promise<Reserved[]> {
  const reply = await call<{ messages: Reserved[] }>('POST', `/${queue}/reservations`, options);
  expect(reply.status).toBe(200);
  return reply.body.messages;
}

async function size(queue: string): Promise<number> {
  const reply = await call<{ queue: { size: number } }>('GET', `/${queue}`);
  return reply.body.queue.size;
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('IronMQ v3 local server: authentication and errors', () => {
  it('rejects a wrong or missing token with 401 {"msg"}', async () => {
    const wrong = await call('GET', '', undefined, 'not-the-token');
    expect(wrong).toEqual({ status: 401, body: { msg: 'Invalid token' } });
    const none = await fetch(`${server.origin}/3/projects/p1/queues`);
    expect(none.status).toBe(401);
    // The token may also come as ?oauth= (webhooks, some clients).
    const query = await fetch(`${server.origin}/3/projects/p1/queues?oauth=secret-token`);
    expect(query.status).toBe(200);
  });

  it('answers 404 "Queue not found" for a queue that does not exist', async () => {
    expect(await call('GET', '/nope')).toEqual({ status: 404, body: { msg: 'Queue not found' } });
    expect((await call('POST', '/nope/reservations', {})).status).toBe(404);
    expect((await call('DELETE', '/nope')).status).toBe(404);
    expect((await call('PATCH', '/nope', { queue: {} })).status).toBe(404);
  });

  it('answers 404 for another project and 400 for malformed JSON', async () => {
    const other = await fetch(`${server.origin}/3/projects/p2/queues`, {
      headers: { Authorization: 'OAuth secret-token' },
    });
    expect(other.status).toBe(404);
    const queue = await newQueue();
    const bad = await fetch(`${server.origin}/3/projects/p1/queues/${queue}/messages`, {
      method: 'POST',
      headers: { Authorization: 'OAuth secret-token', 'Content-Type': 'application/json' },
      body: '{"messages": [',
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toHaveProperty('msg');
  });

  it('enforces the documented limits: n ≤ 100, wait ≤ 30, delay ≤ 604800, a body, 100 messages per post', async () => {
    const queue = await newQueue();
    expect((await call('POST', `/${queue}/reservations`, { n: 101 })).status).toBe(400);
    expect((await call('POST', `/${queue}/reservations`, { wait: 31 })).status).toBe(400);
    expect((await call('POST', `/${queue}/reservations`, { timeout: 86_401 })).status).toBe(400);
    expect((await call('POST', `/${queue}/messages`, { messages: [{ body: 'x', delay: 604_801 }] })).status).toBe(400);
    expect((await call('POST', `/${queue}/messages`, { messages: [{ delay: 1 }] })).status).toBe(400);
    const tooMany = Array.from({ length: 101 }, () => ({ body: 'x' }));
    expect((await call('POST', `/${queue}/messages`, { messages: tooMany })).status).toBe(400);
    expect(await size(queue)).toBe(0);
  });

  it('refuses a body over the message size limit (64 KB by default)', async () => {
    const queue = await newQueue();
    const big = await call('POST', `/${queue}/messages`, { messages: [{ body: 'x'.repeat(65_537) }] });
    expect(big.status).toBe(413);
    await post(queue, 'x'.repeat(65_536));
    expect(await size(queue)).toBe(1);
  });

  it('by default refuses reservation timeouts under the documented 30 s minimum', async () => {
    const strict = await IronMqServer.start({ token: 't', projectId: 'p' });
    try {
      const base = `${strict.origin}/3/projects/p/queues/q`;
      const headers = { Authorization: 'OAuth t', 'Content-Type': 'application/json' };
      await fetch(`${base}/messages`, { method: 'POST', headers, body: JSON.stringify({ messages: [{ body: 'a' }] }) });
      const short = await fetch(`${base}/reservations`, { method: 'POST', headers, body: '{"timeout":5}' });
      expect(short.status).toBe(400);
      const ok = await fetch(`${base}/reservations`, { method: 'POST', headers, body: '{"timeout":30}' });
      expect(((await ok.json()) as { messages: unknown[] }).messages).toHaveLength(1);
    } finally {
      await strict.stop();
    }
  });
});

describe('IronMQ v3 local server: queues', () => {
  it('PUT creates a queue, GET reports size and total_messages, PATCH updates, DELETE removes', async () => {
    const created = await call<{ queue: Record<string, unknown> }>('PUT', '/made', { queue: { message_timeout: 45 } });
    expect(created.status).toBe(200);
    expect(created.body.queue).toMatchObject({ name: 'made', message_timeout: 45, type: 'pull' });
    expect(created.body.queue).not.toHaveProperty('size');
    await post('made', 'a', 'b');
    const info = await call<{ queue: Record<string, unknown> }>('GET', '/made');
    expect(info.body.queue).toMatchObject({ name: 'made', size: 2, total_messages: 2, project_id: 'p1' });
    const patched = await call<{ queue: Record<string, unknown> }>('PATCH', '/made', {
      queue: { message_timeout: 90 },
    });
    expect(patched.body.queue).toMatchObject({ message_timeout: 90, size: 2 });
    expect(await call('DELETE', '/made')).toEqual({ status: 200, body: { msg: 'Deleted' } });
    expect((await call('GET', '/made')).status).toBe(404);
  });

  it('posting to a queue that does not exist creates it', async () => {
    const ids = await post('auto-created', 'hello');
    expect(ids).toHaveLength(1);
    expect(await size('auto-created')).toBe(1);
  });

  it('lists queues alphabetically with per_page, previous and prefix', async () => {
    for (const name of ['list-c', 'list-a', 'list-b']) await call('PUT', `/${name}`, {});
    const all = await call<{ queues: Array<{ name: string }> }>('GET', '?prefix=list-');
    expect(all.body.queues.map((q) => q.name)).toEqual(['list-a', 'list-b', 'list-c']);
    const page = await call<{ queues: Array<{ name: string }> }>('GET', '?prefix=list-&per_page=1&previous=list-a');
    expect(page.body.queues.map((q) => q.name)).toEqual(['list-b']);
  });
});

describe('IronMQ v3 local server: messages and reservations', () => {
  it('post returns ids in order; reserve hands out up to n, FIFO, with reservation ids', async () => {
    const queue = await newQueue(30);
    const ids = await post(queue, 'm0', 'm1', 'm2');
    expect(new Set(ids).size).toBe(3);
    const got = await reserve(queue, { n: 2 });
    expect(got.map((m) => m.body)).toEqual(['m0', 'm1']);
    expect(got.map((m) => m.id)).toEqual(ids.slice(0, 2));
    expect(got.every((m) => m.reserved_count === 1 && typeof m.reservation_id === 'string')).toBe(true);
    expect(await size(queue)).toBe(1); // reserved messages are not waiting
    const rest = await reserve(queue, { n: 100 });
    expect(rest.map((m) => m.body)).toEqual(['m2']);
    expect(await reserve(queue, { n: 100 })).toEqual([]);
  });

  it('a reservation that times out makes the message visible again, at the front, reserved_count + 1', async () => {
    const queue = await newQueue();
    await post(queue, 'first', 'second');
    const [first] = await reserve(queue, { timeout: 1 });
    expect(first?.body).toBe('first');
    await waitUntil(async () => (await size(queue)) === 2);
    const again = await reserve(queue, { n: 2, timeout: 30 });
    expect(again.map((m) => [m.body, m.reserved_count])).toEqual([
      ['first', 2],
      ['second', 1],
    ]);
    expect(again[0]?.reservation_id).not.toBe(first?.reservation_id);
    // The lapsed reservation can no longer delete it.
    expect(await call('DELETE', `/${queue}/messages/${first!.id}`, { reservation_id: first!.reservation_id })).toEqual({
      status: 403,
      body: { msg: 'Reservation does not match' },
    });
  });

  it('delete needs the live reservation id; a second delete is 404 "Message not found"', async () => {
    const queue = await newQueue(30);
    await post(queue, 'x');
    const [message] = await reserve(queue);
    expect((await call('DELETE', `/${queue}/messages/${message!.id}`, {})).status).toBe(403);
    expect((await call('DELETE', `/${queue}/messages/${message!.id}`, { reservation_id: 'wrong' })).status).toBe(403);
    const ok = await call('DELETE', `/${queue}/messages/${message!.id}`, { reservation_id: message!.reservation_id });
    expect(ok).toEqual({ status: 200, body: { msg: 'Deleted' } });
    const again = await call('DELETE', `/${queue}/messages/${message!.id}`, {
      reservation_id: message!.reservation_id,
    });
    expect(again).toEqual({ status: 404, body: { msg: 'Message not found' } });
    expect(await size(queue)).toBe(0);
  });

  it('a message whose reservation timed out answers 403 "Reservation timed out" until reserved again', async () => {
    const queue = await newQueue();
    await post(queue, 'late');
    const [message] = await reserve(queue, { timeout: 1 });
    await waitUntil(async () => (await size(queue)) === 1);
    const late = await call('DELETE', `/${queue}/messages/${message!.id}`, { reservation_id: message!.reservation_id });
    expect(late).toEqual({ status: 403, body: { msg: 'Reservation timed out' } });
    // An unreserved message can be deleted without a reservation id.
    expect((await call('DELETE', `/${queue}/messages/${message!.id}`, {})).status).toBe(200);
  });

  it('touch returns a new reservation id and pushes the expiry; the old id stops working', async () => {
    const queue = await newQueue();
    await post(queue, 'long');
    const [message] = await reserve(queue, { timeout: 1 });
    const touched = await call<{ reservation_id: string; msg: string }>(
      'POST',
      `/${queue}/messages/${message!.id}/touch`,
      { reservation_id: message!.reservation_id, timeout: 4 },
    );
    expect(touched.status).toBe(200);
    expect(touched.body.msg).toBe('Touched');
    expect(touched.body.reservation_id).not.toBe(message!.reservation_id);
    // Past the original 1 s the message is still reserved.
    expect(await reserve(queue, { wait: 2 })).toEqual([]);
    const stale = await call('POST', `/${queue}/messages/${message!.id}/touch`, {
      reservation_id: message!.reservation_id,
    });
    expect(stale.status).toBe(403);
    const ok = await call('DELETE', `/${queue}/messages/${message!.id}`, {
      reservation_id: touched.body.reservation_id,
    });
    expect(ok.status).toBe(200);
  });

  it('touch without a timeout uses the queue message_timeout; touch of a missing message is 404', async () => {
    const queue = await newQueue(2);
    await post(queue, 'x');
    const [message] = await reserve(queue);
    const touched = await call<{ reservation_id: string }>('POST', `/${queue}/messages/${message!.id}/touch`, {
      reservation_id: message!.reservation_id,
    });
    expect(touched.status).toBe(200);
    const missing = await call('POST', `/${queue}/messages/12345/touch`, { reservation_id: 'r' });
    expect(missing).toEqual({ status: 404, body: { msg: 'Message not found' } });
  });

  it('release makes a message available again at once, or after its delay', async () => {
    const queue = await newQueue(30);
    await post(queue, 'r');
    const [message] = await reserve(queue);
    const released = await call('POST', `/${queue}/messages/${message!.id}/release`, {
      reservation_id: message!.reservation_id,
    });
    expect(released).toEqual({ status: 200, body: { msg: 'Released' } });
    const [again] = await reserve(queue);
    expect(again).toMatchObject({ id: message!.id, reserved_count: 2 });
    const started = Date.now();
    await call('POST', `/${queue}/messages/${again!.id}/release`, { reservation_id: again!.reservation_id, delay: 1 });
    expect(await reserve(queue)).toEqual([]);
    const [third] = await reserve(queue, { wait: 5 });
    expect(third?.reserved_count).toBe(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    // A release with a stale reservation is refused.
    const stale = await call('POST', `/${queue}/messages/${again!.id}/release`, {
      reservation_id: again!.reservation_id,
    });
    expect(stale.status).toBe(403);
  });

  it('a posted delay keeps a message invisible until it passes', async () => {
    const queue = await newQueue(30);
    await call('POST', `/${queue}/messages`, { messages: [{ body: 'later', delay: 1 }, { body: 'now' }] });
    expect((await reserve(queue, { n: 10 })).map((m) => m.body)).toEqual(['now']);
    const [later] = await reserve(queue, { wait: 5 });
    expect(later?.body).toBe('later');
  });

  it('bulk delete takes {ids:[{id, reservation_id}]}; one stale reservation refuses the whole batch', async () => {
    const queue = await newQueue(30);
    await post(queue, 'a', 'b', 'c');
    const got = await reserve(queue, { n: 3 });
    const entries = got.map((m) => ({ id: m.id, reservation_id: m.reservation_id }));
    const refused = await call('DELETE', `/${queue}/messages`, {
      ids: [...entries.slice(0, 2), { id: got[2]!.id, reservation_id: 'stale' }],
    });
    expect(refused.status).toBe(403);
    const ok = await call('DELETE', `/${queue}/messages`, { ids: entries });
    expect(ok).toEqual({ status: 200, body: { msg: 'Deleted' } });
    expect((await call('GET', `/${queue}/messages/${got[0]!.id}`)).status).toBe(404);
  });

  it('DELETE /messages with no ids clears the queue', async () => {
    const queue = await newQueue(30);
    await post(queue, 'a', 'b');
    await reserve(queue);
    expect(await call('DELETE', `/${queue}/messages`, {})).toEqual({ status: 200, body: { msg: 'Cleared' } });
    expect(await size(queue)).toBe(0);
    expect(await reserve(queue, { n: 10 })).toEqual([]);
  });

  it('peek shows waiting messages without reserving them; get by id shows one', async () => {
    const queue = await newQueue(30);
    const [id] = await post(queue, 'p1', 'p2', 'p3');
    await reserve(queue);
    const peeked = await call<{ messages: Array<{ body: string }> }>('GET', `/${queue}/messages?n=5`);
    expect(peeked.body.messages.map((m) => m.body)).toEqual(['p2', 'p3']);
    expect(await size(queue)).toBe(2);
    const one = await call<{ message: Record<string, unknown> }>('GET', `/${queue}/messages/${id}`);
    expect(one.body.message).toEqual({ id, body: 'p1', reserved_count: 1 });
  });

  it('reserve with delete: true removes the messages it returns (at-most-once)', async () => {
    const queue = await newQueue(30);
    const [id] = await post(queue, 'once');
    expect((await reserve(queue, { delete: true })).map((m) => m.body)).toEqual(['once']);
    expect(await call('GET', `/${queue}/messages/${id}`)).toEqual({ status: 404, body: { msg: 'Message not found' } });
    expect(await size(queue)).toBe(0);
  });

  it('unicode and control characters round-trip exactly', async () => {
    const queue = await newQueue(30);
    const body = 'héllo ✓ 你好 🎉 a\u0000b\r\n"q" \\';
    await post(queue, body);
    expect((await reserve(queue))[0]?.body).toBe(body);
  });
});

describe('IronMQ v3 local server: long polling', () => {
  it('wait returns [] after the wait when nothing arrives', async () => {
    const queue = await newQueue();
    const started = Date.now();
    expect(await reserve(queue, { wait: 1 })).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it('a waiting reserve wakes when a message is posted', async () => {
    const queue = await newQueue(30);
    const pending = reserve(queue, { n: 5, wait: 30 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = Date.now();
    await post(queue, 'wake');
    expect((await pending).map((m) => m.body)).toEqual(['wake']);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('a waiting reserve wakes when a reservation times out', async () => {
    const queue = await newQueue();
    await post(queue, 'lapse');
    await reserve(queue, { timeout: 1 });
    const [again] = await reserve(queue, { wait: 10 });
    expect(again).toMatchObject({ body: 'lapse', reserved_count: 2 });
  });

  it('a client that hangs up while waiting is not handed the next message', async () => {
    const queue = await newQueue(30);
    const controller = new AbortController();
    const gone = call('POST', `/${queue}/reservations`, { wait: 30 }, 'secret-token', controller.signal).catch(
      (error: unknown) => error,
    );
    await waitUntil(async () => server.queues.get(queue)?.waiting === 1);
    controller.abort();
    await gone;
    await waitUntil(async () => server.queues.get(queue)?.waiting === 0);
    await post(queue, 'for a live client');
    expect((await reserve(queue)).map((m) => m.body)).toEqual(['for a live client']);
  });
});

describe('IronMQ v3 local server: restart', () => {
  it('restart drops connections and keeps queues and messages', async () => {
    const queue = await newQueue(30);
    await post(queue, 'kept');
    const port = server.port;
    await server.restart();
    expect(server.port).toBe(port);
    // The client's pooled keep-alive connection was cut; the next one reaches the restarted server.
    let got: Reserved[] | undefined;
    await waitUntil(async () => {
      got = await reserve(queue).catch(() => undefined);
      return got !== undefined;
    });
    expect(got?.map((m) => m.body)).toEqual(['kept']);
  });
});
