import { IronMqHttpError, isConnectionReset } from './errors.js';

/** `{body, delay}` as IronMQ posts it; `delay` in whole seconds (≤ 604,800). */
export interface NewMessage {
  body: string;
  delay?: number;
}

export interface ReservedMessage {
  id: string;
  body: string;
  reserved_count: number;
  reservation_id: string;
}

export interface PeekedMessage {
  id: string;
  body: string;
  reserved_count: number;
}

export interface QueueInfo {
  name: string;
  project_id?: string;
  size?: number;
  total_messages?: number;
  message_timeout?: number;
  message_expiration?: number;
  type?: string;
  [key: string]: unknown;
}

export interface ReserveOptions {
  /** 1–100. */
  n: number;
  /** Reservation length in seconds (the API documents 30–86,400). */
  timeout?: number;
  /** Long poll, 0–30 s. */
  wait?: number;
  /** Delete on reservation (at-most-once). */
  delete?: boolean;
}

export interface IronMqClientOptions {
  /** `https://host:port` */
  origin: string;
  token: string;
  projectId: string;
  /** Per call, added to a long poll's wait. Default 10,000 ms. */
  requestTimeoutMs?: number;
}

export interface CallOptions {
  signal?: AbortSignal | undefined;
  /** This call's limit instead of the client's `requestTimeoutMs`, ms. */
  timeoutMs?: number | undefined;
  /** Extra time the server may legitimately take (a long poll's wait), ms. */
  extraMs?: number;
}

/**
 * A small typed client for the IronMQ v3 HTTP API (pull queues) over Node's
 * `fetch`. Every method is one HTTP call; a non-2xx answer rejects with
 * IronMqHttpError (status and the body's `msg`), a network failure with the
 * fetch error.
 */
export class IronMqClient {
  readonly #base: string;
  readonly #token: string;
  readonly #timeoutMs: number;

  constructor(options: IronMqClientOptions) {
    this.#base = `${options.origin}/3/projects/${encodeURIComponent(options.projectId)}/queues`;
    this.#token = options.token;
    this.#timeoutMs = options.requestTimeoutMs ?? 10_000;
  }

  /** PUT /queues/{q}: creates the queue (or updates its settings). */
  async createQueue(
    queue: string,
    settings: { message_timeout?: number } = {},
    call?: CallOptions,
  ): Promise<QueueInfo> {
    const reply = await this.#call<{ queue: QueueInfo }>('PUT', q(queue), { queue: settings }, call);
    return reply.queue;
  }

  /** GET /queues/{q}: settings, `size` and `total_messages`. */
  async getQueue(queue: string, call?: CallOptions): Promise<QueueInfo> {
    return (await this.#call<{ queue: QueueInfo }>('GET', q(queue), undefined, call)).queue;
  }

  /** DELETE /queues/{q} */
  async deleteQueue(queue: string, call?: CallOptions): Promise<void> {
    await this.#call('DELETE', q(queue), undefined, call);
  }

  /** GET /queues: names in alphabetical order, `perPage` at a time after `previous`. */
  async listQueues(
    options: { perPage?: number; previous?: string; prefix?: string } = {},
    call?: CallOptions,
  ): Promise<string[]> {
    const params = new URLSearchParams();
    if (options.perPage !== undefined) params.set('per_page', String(options.perPage));
    if (options.previous !== undefined) params.set('previous', options.previous);
    if (options.prefix !== undefined) params.set('prefix', options.prefix);
    const query = params.size > 0 ? `?${params}` : '';
    const reply = await this.#call<{ queues: Array<{ name: string }> }>('GET', query, undefined, call);
    return reply.queues.map((queue) => queue.name);
  }

  /** POST /queues/{q}/messages: at most 100 per call; ids come back in the order sent. */
  async postMessages(queue: string, messages: readonly NewMessage[], call?: CallOptions): Promise<string[]> {
    const reply = await this.#call<{ ids: Array<string | number> }>('POST', `${q(queue)}/messages`, { messages }, call);
    return reply.ids.map(String);
  }

  /** POST /queues/{q}/reservations */
  async reserveMessages(queue: string, options: ReserveOptions, call?: CallOptions): Promise<ReservedMessage[]> {
    const reply = await this.#call<{ messages: ReservedMessage[] }>('POST', `${q(queue)}/reservations`, options, {
      ...call,
      extraMs: (options.wait ?? 0) * 1000,
    });
    return reply.messages.map((message) => ({ ...message, id: String(message.id) }));
  }

  /** GET /queues/{q}/messages?n=: waiting messages, not reserved. */
  async peekMessages(queue: string, n: number, call?: CallOptions): Promise<PeekedMessage[]> {
    const reply = await this.#call<{ messages: PeekedMessage[] }>(
      'GET',
      `${q(queue)}/messages?n=${n}`,
      undefined,
      call,
    );
    return reply.messages.map((message) => ({ ...message, id: String(message.id) }));
  }

  /** GET /queues/{q}/messages/{id} */
  async getMessage(queue: string, id: string, call?: CallOptions): Promise<PeekedMessage> {
    const reply = await this.#call<{ message: PeekedMessage }>('GET', m(queue, id), undefined, call);
    return { ...reply.message, id: String(reply.message.id) };
  }

  /** DELETE /queues/{q}/messages/{id}: a reserved message needs its live reservation id. */
  async deleteMessage(queue: string, id: string, reservationId?: string, call?: CallOptions): Promise<void> {
    const body = reservationId === undefined ? {} : { reservation_id: reservationId };
    await this.#call('DELETE', m(queue, id), body, call);
  }

  /** DELETE /queues/{q}/messages with ids: at most 100 per call. */
  async deleteMessages(
    queue: string,
    ids: ReadonlyArray<{ id: string; reservation_id?: string }>,
    call?: CallOptions,
  ): Promise<void> {
    await this.#call('DELETE', `${q(queue)}/messages`, { ids }, call);
  }

  /** DELETE /queues/{q}/messages with no ids: removes every message. */
  async clearQueue(queue: string, call?: CallOptions): Promise<void> {
    await this.#call('DELETE', `${q(queue)}/messages`, {}, call);
  }

  /** POST /queues/{q}/messages/{id}/touch: a new reservation (returned) for `timeout` more seconds. */
  async touchMessage(
    queue: string,
    id: string,
    reservationId: string,
    timeout?: number,
    call?: CallOptions,
  ): Promise<string> {
    const body: Record<string, unknown> = { reservation_id: reservationId };
    if (timeout !== undefined) body['timeout'] = timeout;
    const reply = await this.#call<{ reservation_id: string }>('POST', `${m(queue, id)}/touch`, body, call);
    return reply.reservation_id;
  }

  /** POST /queues/{q}/messages/{id}/release: back on the queue after `delay` seconds. */
  async releaseMessage(queue: string, id: string, reservationId: string, delay = 0, call?: CallOptions): Promise<void> {
    await this.#call('POST', `${m(queue, id)}/release`, { reservation_id: reservationId, delay }, call);
  }

  async #call<T>(method: string, path: string, body: unknown, call: CallOptions = {}): Promise<T> {
    try {
      return await this.#fetch<T>(method, path, body, call);
    } catch (error) {
      // A pooled keep-alive connection the server (or a proxy) already closed: one fresh try.
      if (!isConnectionReset(error) || call.signal?.aborted) throw error;
      return this.#fetch<T>(method, path, body, call);
    }
  }

  async #fetch<T>(method: string, path: string, body: unknown, call: CallOptions): Promise<T> {
    const timeout = AbortSignal.timeout((call.timeoutMs ?? this.#timeoutMs) + (call.extraMs ?? 0));
    const init: RequestInit = {
      method,
      headers: {
        Authorization: `OAuth ${this.#token}`,
        'Content-Type': 'application/json',
        Accept: 'application/json',
      },
      signal: call.signal ? AbortSignal.any([call.signal, timeout]) : timeout,
    };
    if (body !== undefined) init.body = asciiJson(body);
    const response = await fetch(`${this.#base}${path}`, init);
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? {} : JSON.parse(text);
    } catch {
      // Not JSON (a proxy's error page, say): reported below with the raw text.
    }
    if (!response.ok) {
      const msg =
        typeof (parsed as { msg?: unknown } | undefined)?.msg === 'string'
          ? (parsed as { msg: string }).msg
          : text.slice(0, 200) || response.statusText;
      throw new IronMqHttpError(response.status, msg, method, path.split('?')[0] || '/');
    }
    if (parsed === undefined) throw new IronMqHttpError(response.status, 'answer is not JSON', method, path);
    return parsed as T;
  }
}

function q(queue: string): string {
  return `/${encodeURIComponent(queue)}`;
}

function m(queue: string, id: string): string {
  return `${q(queue)}/messages/${encodeURIComponent(id)}`;
}

/**
 * JSON with every non-ASCII character escaped (`\uXXXX`): IronMQ documents
 * message bodies as ASCII text, and escaped JSON decodes to the same string.
 */
export function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\u007f-\uffff]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
