import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiError, Queue, type StoredMessage } from './queue.js';

export interface IronMqServerOptions {
  /** The one OAuth token the server accepts. Default: random. */
  token?: string;
  /** The one project the server hosts. Default: random (24 hex digits, like IronMQ's). */
  projectId?: string;
  /**
   * Smallest reservation `timeout` accepted. The API documents 30 s; tests that
   * need short leases lower it. Default 30.
   */
  minTimeoutSeconds?: number;
  /** Largest message body in bytes (the API documents 64 KB or 256 KB by plan). Default 65,536. */
  maxMessageBytes?: number;
  /** Port on 127.0.0.1. Default: a free one. */
  port?: number;
}

const MAX_TIMEOUT = 86_400;
const MAX_DELAY = 604_800;
const MAX_WAIT = 30;
const MAX_N = 100;
const DEFAULT_TIMEOUT = 60;
const DEFAULT_EXPIRATION = 604_800;
/** Request bodies larger than this are refused before parsing. */
const MAX_REQUEST_BYTES = 64 * 1024 * 1024;

interface Route {
  queue?: string;
  /** Path below the queue: '', 'messages', 'reservations', 'messages/{id}', 'messages/{id}/touch', … */
  rest: string[];
}

/**
 * A local IronMQ v3 server (pull queues) for tests, written from the public
 * v3 API reference: the same paths, JSON bodies, status codes and `{msg}`
 * errors. Everything lives in memory; `restart()` drops connections but keeps
 * the queues, like a durable server coming back. Not implemented: push
 * queues, subscribers, alerts, dead-letter queues, webhooks and message
 * expiration (`message_expiration` is stored and reported, never applied).
 * Where the reference is silent this server chose: `size` counts unreserved
 * messages only; a bulk delete with one bad reservation deletes nothing;
 * posting to a missing queue creates it; PUT on an existing queue updates it.
 */
export class IronMqServer {
  readonly token: string;
  readonly projectId: string;
  readonly host = '127.0.0.1';
  readonly minTimeoutSeconds: number;
  readonly maxMessageBytes: number;
  readonly queues = new Map<string, Queue>();
  /** Every request seen (method and path, no query), oldest first; capped at 10,000. */
  readonly requests: Array<{ method: string; path: string }> = [];
  #server: Server;
  #port: number;

  private constructor(options: IronMqServerOptions) {
    this.token = options.token ?? randomBytes(12).toString('hex');
    this.projectId = options.projectId ?? randomBytes(12).toString('hex');
    this.minTimeoutSeconds = options.minTimeoutSeconds ?? 30;
    this.maxMessageBytes = options.maxMessageBytes ?? 65_536;
    this.#port = options.port ?? 0;
    this.#server = this.#createServer();
  }

  static async start(options: IronMqServerOptions = {}): Promise<IronMqServer> {
    const server = new IronMqServer(options);
    await server.#listen();
    return server;
  }

  get port(): number {
    return this.#port;
  }

  /** `http://127.0.0.1:PORT`: the server's origin. */
  get origin(): string {
    return `http://${this.host}:${this.#port}`;
  }

  /** `ironmq://TOKEN@127.0.0.1:PORT/PROJECT[/QUEUE]?protocol=http` for @taskq/ironmq. */
  url(queue?: string): string {
    const path = queue === undefined ? '' : `/${encodeURIComponent(queue)}`;
    return `ironmq://${this.token}@${this.host}:${this.#port}/${this.projectId}${path}?protocol=http`;
  }

  /** Drops every connection and listens again on the same port; queues and messages are kept. */
  async restart(): Promise<void> {
    await this.#close();
    this.#server = this.#createServer();
    await this.#listen();
  }

  async stop(): Promise<void> {
    for (const queue of this.queues.values()) queue.close();
    await this.#close();
  }

  #createServer(): Server {
    const server = createServer((req, res) => {
      this.#handle(req, res).catch((error: unknown) => {
        if (error instanceof ApiError) send(res, error.status, { msg: error.message });
        else send(res, 500, { msg: `Internal error: ${(error as Error).message}` });
      });
    });
    server.keepAliveTimeout = 60_000;
    return server;
  }

  #listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#port, this.host, () => {
        this.#server.off('error', reject);
        this.#port = (this.#server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  #close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.origin);
    const method = req.method ?? 'GET';
    if (this.requests.length >= 10_000) this.requests.shift();
    this.requests.push({ method, path: url.pathname });
    this.#authenticate(req, url);
    const route = this.#route(url.pathname);
    const body = await readJson(req);
    if (route.queue === undefined) {
      if (method !== 'GET') throw new ApiError(405, 'Method not allowed');
      return send(res, 200, this.#listQueues(url.searchParams));
    }
    const name = route.queue;
    const [first, id, action, ...extra] = route.rest;
    if (extra.length > 0) throw new ApiError(404, 'Not found');
    if (first === undefined) return this.#queueCall(method, name, body, res);
    if (first === 'reservations' && id === undefined) {
      if (method !== 'POST') throw new ApiError(405, 'Method not allowed');
      return this.#reserve(name, body, req, res);
    }
    if (first !== 'messages') throw new ApiError(404, 'Not found');
    if (id === undefined) return this.#messagesCall(method, name, body, url.searchParams, res);
    if (action === undefined) return this.#messageCall(method, name, id, body, res);
    if (method !== 'POST') throw new ApiError(405, 'Method not allowed');
    const queue = this.#queue(name);
    const reservationId = optionalString(body, 'reservation_id');
    if (action === 'touch') {
      const timeout = integer(body, 'timeout', this.minTimeoutSeconds, MAX_TIMEOUT) ?? queue.messageTimeout;
      return send(res, 200, { reservation_id: queue.touch(id, reservationId, timeout), msg: 'Touched' });
    }
    if (action === 'release') {
      queue.release(id, reservationId, integer(body, 'delay', 0, MAX_DELAY) ?? 0);
      return send(res, 200, { msg: 'Released' });
    }
    throw new ApiError(404, 'Not found');
  }

  /** `/3/projects/{project}/queues[/{queue}[/…]]` */
  #route(pathname: string): Route {
    const parts = pathname.split('/').slice(1);
    if (parts[0] !== '3' || parts[1] !== 'projects' || parts[3] !== 'queues') throw new ApiError(404, 'Not found');
    if (decodeURIComponent(parts[2] ?? '') !== this.projectId) throw new ApiError(404, 'Project not found');
    const rest = parts.slice(4).map((part) => decodeURIComponent(part));
    if (rest.length === 0 || (rest.length === 1 && rest[0] === '')) return { rest: [] };
    const [queue, ...below] = rest;
    if (!queue) throw new ApiError(404, 'Not found');
    return { queue, rest: below };
  }

  /** `Authorization: OAuth TOKEN`, or `?oauth=TOKEN` (as webhooks and the official clients allow). */
  #authenticate(req: IncomingMessage, url: URL): void {
    const header = req.headers.authorization ?? '';
    const match = /^OAuth\s+(\S+)$/i.exec(header);
    const token = match?.[1] ?? url.searchParams.get('oauth');
    if (token !== this.token) throw new ApiError(401, 'Invalid token');
  }

  #queue(name: string): Queue {
    const queue = this.queues.get(name);
    if (!queue) throw new ApiError(404, 'Queue not found');
    return queue;
  }

  #queueInfo(queue: Queue, withSizes: boolean): object {
    return {
      queue: {
        project_id: this.projectId,
        name: queue.name,
        ...(withSizes ? { size: queue.size(), total_messages: queue.totalMessages } : {}),
        message_timeout: queue.messageTimeout,
        message_expiration: queue.messageExpiration,
        type: 'pull',
      },
    };
  }

  #queueCall(method: string, name: string, body: Record<string, unknown>, res: ServerResponse): void {
    if (method === 'GET') return send(res, 200, this.#queueInfo(this.#queue(name), true));
    if (method === 'DELETE') {
      this.#queue(name).close();
      this.queues.delete(name);
      return send(res, 200, { msg: 'Deleted' });
    }
    if (method !== 'PUT' && method !== 'PATCH') throw new ApiError(405, 'Method not allowed');
    const settings = queueSettings(body, this.minTimeoutSeconds);
    let queue = this.queues.get(name);
    if (!queue) {
      if (method === 'PATCH') throw new ApiError(404, 'Queue not found');
      queue = new Queue(name, DEFAULT_TIMEOUT, DEFAULT_EXPIRATION);
      this.queues.set(name, queue);
    }
    if (settings.timeout !== undefined) queue.messageTimeout = settings.timeout;
    if (settings.expiration !== undefined) queue.messageExpiration = settings.expiration;
    return send(res, 200, this.#queueInfo(queue, method === 'PATCH'));
  }

  #listQueues(params: URLSearchParams): object {
    const perPage = Math.min(100, Math.max(1, Number(params.get('per_page') ?? 30) || 30));
    const previous = params.get('previous') ?? '';
    const prefix = params.get('prefix') ?? '';
    const names = [...this.queues.keys()]
      .filter((name) => name.startsWith(prefix) && name > previous)
      .sort()
      .slice(0, perPage);
    return { queues: names.map((name) => ({ name })) };
  }

  #messagesCall(
    method: string,
    name: string,
    body: Record<string, unknown>,
    params: URLSearchParams,
    res: ServerResponse,
  ): void {
    if (method === 'POST') {
      const messages = body['messages'];
      if (!Array.isArray(messages) || messages.length === 0)
        throw new ApiError(400, 'messages must be a non-empty array');
      if (messages.length > MAX_N) throw new ApiError(400, `Too many messages: at most ${MAX_N} per request`);
      const bodies = messages.map((message: unknown) => this.#newMessage(message));
      // Posting to a queue that does not exist creates it (as the v3 service does).
      let queue = this.queues.get(name);
      if (!queue) {
        queue = new Queue(name, DEFAULT_TIMEOUT, DEFAULT_EXPIRATION);
        this.queues.set(name, queue);
      }
      return send(res, 201, { ids: queue.post(bodies), msg: 'Messages put on queue.' });
    }
    const queue = this.#queue(name);
    if (method === 'GET') {
      const n = boundedQuery(params, 'n', 1, MAX_N) ?? 1;
      return send(res, 200, { messages: queue.available(n).map(messageJson) });
    }
    if (method !== 'DELETE') throw new ApiError(405, 'Method not allowed');
    const ids = body['ids'];
    if (ids === undefined || (Array.isArray(ids) && ids.length === 0)) {
      queue.clear();
      return send(res, 200, { msg: 'Cleared' });
    }
    if (!Array.isArray(ids)) throw new ApiError(400, 'ids must be an array of {id, reservation_id}');
    if (ids.length > MAX_N) throw new ApiError(400, `Too many ids: at most ${MAX_N} per request`);
    queue.deleteMany(
      ids.map((item: unknown) => {
        const entry = asObject(item, 'each of ids');
        const id = entry['id'];
        if (typeof id !== 'string' && typeof id !== 'number') throw new ApiError(400, 'each of ids needs an id');
        return { id: String(id), reservationId: optionalString(entry, 'reservation_id') };
      }),
    );
    return send(res, 200, { msg: 'Deleted' });
  }

  #newMessage(value: unknown): { body: string; delay: number } {
    const message = asObject(value, 'each message');
    const body = message['body'];
    if (typeof body !== 'string' || body.length === 0) throw new ApiError(400, 'Message body is required');
    if (Buffer.byteLength(body) > this.maxMessageBytes) {
      throw new ApiError(413, `Message body is too big: at most ${this.maxMessageBytes} bytes`);
    }
    return { body, delay: integer(message, 'delay', 0, MAX_DELAY) ?? 0 };
  }

  #messageCall(method: string, name: string, id: string, body: Record<string, unknown>, res: ServerResponse): void {
    const queue = this.#queue(name);
    if (method === 'GET') {
      const message = queue.messages.get(id);
      if (!message) throw new ApiError(404, 'Message not found');
      return send(res, 200, { message: messageJson(message) });
    }
    if (method !== 'DELETE') throw new ApiError(405, 'Method not allowed');
    queue.delete(id, optionalString(body, 'reservation_id'));
    return send(res, 200, { msg: 'Deleted' });
  }

  #reserve(name: string, body: Record<string, unknown>, req: IncomingMessage, res: ServerResponse): void {
    const queue = this.#queue(name);
    const n = integer(body, 'n', 1, MAX_N) ?? 1;
    const timeout = integer(body, 'timeout', this.minTimeoutSeconds, MAX_TIMEOUT) ?? queue.messageTimeout;
    const wait = integer(body, 'wait', 0, MAX_WAIT) ?? 0;
    const deleteAfter = body['delete'] === true;
    const reply = (messages: StoredMessage[]) =>
      send(res, 200, {
        messages: messages.map((message) => ({ ...messageJson(message), reservation_id: message.reservationId })),
      });
    const first = queue.reserve(n, timeout, deleteAfter);
    if (first.length > 0 || wait === 0) return reply(first);
    const waiting = queue.wait(
      () => {
        const got = queue.reserve(n, timeout, deleteAfter);
        if (got.length === 0) return false;
        reply(got);
        return true;
      },
      wait * 1000,
      () => reply([]),
    );
    // A client that gave up must not be handed messages it will never see.
    res.once('close', waiting.cancel);
  }
}

function send(res: ServerResponse, status: number, body: object): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function messageJson(message: StoredMessage): object {
  return { id: message.id, body: message.body, reserved_count: message.reservedCount };
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    length += chunk.length;
    if (length > MAX_REQUEST_BYTES) throw new ApiError(413, 'Request body is too big');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ApiError(400, 'Failed to decode JSON.');
  }
  return asObject(parsed, 'the request body');
}

function asObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ApiError(400, `${what} must be a JSON object`);
  }
  return value as Record<string, unknown>;
}

function optionalString(body: Record<string, unknown>, key: string): string | undefined {
  const value = body[key];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new ApiError(400, `${key} must be a string`);
  return value;
}

/** An optional whole number within the documented range; anything else is a 400. */
function integer(body: Record<string, unknown>, key: string, min: number, max: number): number | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ApiError(400, `${key} must be a whole number from ${min} to ${max}`);
  }
  return value;
}

function boundedQuery(params: URLSearchParams, key: string, min: number, max: number): number | undefined {
  const raw = params.get(key);
  if (raw === null) return undefined;
  return integer({ [key]: Number(raw) }, key, min, max);
}

function queueSettings(body: Record<string, unknown>, minTimeout: number): { timeout?: number; expiration?: number } {
  if (body['queue'] === undefined) return {};
  const queue = asObject(body['queue'], 'queue');
  const type = queue['type'];
  if (type !== undefined && type !== 'pull') throw new ApiError(400, 'Only pull queues are supported by this server');
  if (queue['push'] !== undefined) throw new ApiError(400, 'Push queues are not supported by this server');
  const settings: { timeout?: number; expiration?: number } = {};
  const timeout = integer(queue, 'message_timeout', minTimeout, MAX_TIMEOUT);
  const expiration = integer(queue, 'message_expiration', 60, 2_592_000);
  if (timeout !== undefined) settings.timeout = timeout;
  if (expiration !== undefined) settings.expiration = expiration;
  return settings;
}
