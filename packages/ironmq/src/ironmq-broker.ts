import {
  BaseBroker,
  ErrorCodes,
  TaskqError,
  type BrokerCapabilities,
  type BrokerFactoryOptions,
  type BrokerInfo,
  type Delivery,
  type EnqueueItem,
  type EnqueueOptions,
  type QueuedMessage,
} from '@taskq/core';
import { IronMqClient, type CallOptions, type ReservedMessage } from './client.js';
import { hasStatus, isStaleReservation, toTaskqError } from './errors.js';
import { resolveIronMqOptions, type IronMqConnectionOptions, type ResolvedIronMqOptions } from './options.js';

export interface IronMqBrokerOptions extends BrokerFactoryOptions, IronMqConnectionOptions {}

/** IronMQ takes at most 100 messages per post, reservation and batch delete. */
const BATCH = 100;
/** Longest long poll IronMQ allows, seconds. */
const MAX_WAIT_SECONDS = 30;
/** Longest post delay IronMQ allows, seconds. */
const MAX_DELAY_SECONDS = 604_800;
/** How often lapsed entries are dropped from the lease table. */
const PRUNE_EVERY_MS = 10_000;

export const ironMqBrokerCapabilities: BrokerCapabilities = {
  receipts: true,
  extendLease: true,
  // `size` comes from IronMQ; in-flight counts only from this process (IronMQ reports no reserved count).
  exactCounts: false,
  bulkDequeue: true,
  bulkEnqueue: true,
  delay: true,
  priority: false,
  maxPayloadBytes: 65_536,
  stats: false,
  listQueued: true,
};

/** What this broker knows about a delivery it handed out. */
interface Lease {
  /** The live reservation id: the one from the reservation, or from the latest touch. */
  reservationId: string;
  /** When the reservation lapses (ms, this process's clock). */
  until: number;
}

/**
 * An IronMQ v3 broker over `fetch`. A delivery is an IronMQ reservation for
 * `retrySeconds`; the receipt is `<message id>:<reservation id at delivery>`.
 * Touch (`extend`) gives a message a new reservation id, so the broker keeps
 * receipt → live reservation id, and acknowledges with the live one. Calls
 * for one receipt run one after another, so an acknowledge never races a
 * touch of the same message.
 */
export class IronMqBroker extends BaseBroker {
  readonly capabilities: BrokerCapabilities;
  readonly client: IronMqClient;
  /** The IronMQ queue this broker uses. */
  readonly ironQueue: string;
  readonly settings: ResolvedIronMqOptions;
  readonly #leases = new Map<string, Lease>();
  readonly #inflight = new Map<string, Promise<unknown>>();
  readonly #closing = new AbortController();
  #nextPrune = 0;

  constructor(options: IronMqBrokerOptions) {
    super(options);
    this.settings = resolveIronMqOptions(options);
    this.capabilities = { ...ironMqBrokerCapabilities, maxPayloadBytes: this.settings.maxPayloadBytes };
    this.ironQueue = this.settings.queueName ?? this.queue;
    this.client = new IronMqClient({
      origin: this.settings.origin,
      token: this.settings.token,
      projectId: this.settings.projectId,
    });
  }

  /** Per HTTP call: `requestTimeoutMs`, else the base class's `callTimeoutMs` (which the runtime may set). */
  get #timeoutMs(): number {
    return this.settings.requestTimeoutMs ?? this.callTimeoutMs;
  }

  /** Reservation and touch length: IronMQ counts whole seconds. */
  get #leaseSeconds(): number {
    return Math.max(1, Math.ceil(this.retrySeconds));
  }

  #error(error: unknown): TaskqError {
    return toTaskqError(error, `IronMQ broker "${this.ironQueue}"`, this.closed);
  }

  /** Runs one API call with the broker's close signal (and `signal`), mapping failures to TaskqErrors. */
  async #call<T>(call: (http: CallOptions) => Promise<T>, signal?: AbortSignal): Promise<T> {
    // One controller per call, linked by hand and unlinked after: no listener stays on the long-lived close signal.
    const controller = new AbortController();
    const abort = () => controller.abort();
    const sources = signal ? [this.#closing.signal, signal] : [this.#closing.signal];
    for (const source of sources) {
      if (source.aborted) controller.abort();
      else source.addEventListener('abort', abort, { once: true });
    }
    try {
      return await call({ signal: controller.signal, timeoutMs: this.#timeoutMs });
    } catch (error) {
      throw this.#error(error);
    } finally {
      for (const source of sources) source.removeEventListener('abort', abort);
    }
  }

  /** Creates the queue (PUT). Someone else creating it first is fine. */
  async #createQueue(): Promise<void> {
    try {
      await this.#call((http) => this.client.createQueue(this.ironQueue, {}, http));
    } catch (error) {
      if (!hasStatus((error as { cause?: unknown }).cause, 400, 409)) throw error;
    }
  }

  /** Runs `call`; when IronMQ says the queue does not exist, creates it and runs `call` once more. */
  async #withQueue<T>(call: (http: CallOptions) => Promise<T>, signal?: AbortSignal): Promise<T> {
    try {
      return await this.#call(call, signal);
    } catch (error) {
      if (!isQueueNotFound(error)) throw error;
      await this.#createQueue();
      return this.#call(call, signal);
    }
  }

  /** Runs `call` after every earlier call for these receipts, and before any later one. */
  async #exclusive<T>(receipts: readonly string[], call: () => Promise<T>): Promise<T> {
    const earlier = receipts.map((receipt) => this.#inflight.get(receipt)).filter((p) => p !== undefined);
    const run = Promise.allSettled(earlier).then(call);
    const marker = run.then(
      () => undefined,
      () => undefined,
    );
    for (const receipt of receipts) this.#inflight.set(receipt, marker);
    try {
      return await run;
    } finally {
      for (const receipt of receipts) if (this.#inflight.get(receipt) === marker) this.#inflight.delete(receipt);
    }
  }

  /** The reservation id to use for a receipt now. */
  #reservationOf(receipt: string): { id: string; reservationId: string | undefined } {
    const { id, reservationId } = parseReceipt(receipt);
    return { id, reservationId: this.#leases.get(receipt)?.reservationId ?? reservationId };
  }

  protected async _enqueue(payload: string, options: EnqueueOptions): Promise<string> {
    const [id] = await this._enqueueMany([{ payload, options }]);
    return id as string;
  }

  protected override async _enqueueMany(items: readonly EnqueueItem[]): Promise<string[]> {
    const messages = items.map((item) => ({ body: item.payload, delay: delaySeconds(item.options?.delayMs) }));
    const ids: string[] = [];
    // One post per 100, in order, so FIFO holds across batches.
    for (let start = 0; start < messages.length; start += BATCH) {
      const batch = messages.slice(start, start + BATCH);
      ids.push(...(await this.#withQueue((http) => this.client.postMessages(this.ironQueue, batch, http))));
    }
    return ids;
  }

  protected async _dequeue(max: number, waitMs: number, signal?: AbortSignal): Promise<Delivery[]> {
    const deadline = Date.now() + waitMs;
    const n = Math.min(max, BATCH);
    const timeout = this.#leaseSeconds;
    for (;;) {
      if (this.closed || signal?.aborted) return [];
      // IronMQ waits in whole seconds: a wait is rounded up, never cut short (a cut request could still reserve).
      const wait = Math.min(MAX_WAIT_SECONDS, Math.max(0, Math.ceil((deadline - Date.now()) / 1000)));
      let messages: ReservedMessage[];
      try {
        messages = await this.#withQueue(
          (http) => this.client.reserveMessages(this.ironQueue, { n, timeout, wait }, http),
          signal,
        );
      } catch (error) {
        if (this.closed || signal?.aborted) return [];
        throw error;
      }
      if (messages.length > 0) return this.#deliveries(messages, timeout);
      if (Date.now() >= deadline) return [];
    }
  }

  #deliveries(messages: readonly ReservedMessage[], timeoutSeconds: number): Delivery[] {
    const now = Date.now();
    this.#prune(now);
    return messages.map((message) => {
      const receipt = `${message.id}:${message.reservation_id}`;
      this.#leases.set(receipt, { reservationId: message.reservation_id, until: now + timeoutSeconds * 1000 });
      return { receipt, payload: message.body, deliveries: message.reserved_count };
    });
  }

  /** Forgets leases that have lapsed (their messages are IronMQ's to deliver again). */
  #prune(now: number): void {
    if (now < this.#nextPrune) return;
    this.#nextPrune = now + PRUNE_EVERY_MS;
    for (const [receipt, lease] of this.#leases) if (lease.until <= now) this.#leases.delete(receipt);
  }

  protected async _acknowledge(receipt: string): Promise<void> {
    await this.#exclusive([receipt], () => this.#deleteOne(receipt));
  }

  /** Deletes one message with its live reservation; a lapsed reservation or a gone message is no error. */
  async #deleteOne(receipt: string): Promise<void> {
    const { id, reservationId } = this.#reservationOf(receipt);
    try {
      await this.#call((http) => this.client.deleteMessage(this.ironQueue, id, reservationId, http));
    } catch (error) {
      // 403: the reservation timed out and the message went back to the queue (it will run again);
      // 404: already deleted, or the queue is gone. Either way there is nothing left to acknowledge.
      if (!isStaleReservation((error as { cause?: unknown }).cause)) throw error;
    }
    this.#leases.delete(receipt);
  }

  protected override async _acknowledgeMany(receipts: readonly string[]): Promise<void> {
    const unique = [...new Set(receipts)];
    const batches: string[][] = [];
    for (let start = 0; start < unique.length; start += BATCH) batches.push(unique.slice(start, start + BATCH));
    await Promise.all(batches.map((batch) => this.#exclusive(batch, () => this.#deleteBatch(batch))));
  }

  async #deleteBatch(receipts: readonly string[]): Promise<void> {
    if (receipts.length === 1) return this.#deleteOne(receipts[0] as string);
    const ids = receipts.map((receipt) => {
      const { id, reservationId } = this.#reservationOf(receipt);
      return reservationId === undefined ? { id } : { id, reservation_id: reservationId };
    });
    try {
      await this.#call((http) => this.client.deleteMessages(this.ironQueue, ids, http));
      for (const receipt of receipts) this.#leases.delete(receipt);
    } catch (error) {
      if (!isStaleReservation((error as { cause?: unknown }).cause)) throw error;
      // One stale reservation can refuse the whole batch; delete one by one so the live ones still go.
      await Promise.all(receipts.map((receipt) => this.#deleteOne(receipt)));
    }
  }

  protected async _delete(receipt: string): Promise<void> {
    await this._acknowledge(receipt);
  }

  protected override async _extend(receipt: string, seconds: number): Promise<void> {
    await this.#exclusive([receipt], async () => {
      const { id, reservationId } = this.#reservationOf(receipt);
      if (reservationId === undefined) return;
      const timeout = Math.max(1, Math.ceil(seconds));
      try {
        const renewed = await this.#call((http) =>
          this.client.touchMessage(this.ironQueue, id, reservationId, timeout, http),
        );
        this.#leases.set(receipt, { reservationId: renewed, until: Date.now() + timeout * 1000 });
      } catch (error) {
        // The reservation lapsed (the message is someone else's now) or the message is gone: nothing to extend.
        if (!isStaleReservation((error as { cause?: unknown }).cause)) throw error;
        this.#leases.delete(receipt);
      }
    });
  }

  /**
   * Puts a delivery back on the queue after `delaySeconds` (IronMQ release),
   * for a fast retry instead of waiting out the reservation. Harmless when the
   * reservation already lapsed.
   */
  async release(receipt: string, delaySeconds = 0): Promise<void> {
    this.assertOpen();
    const delay = delaySeconds <= 0 ? 0 : delaySeconds > MAX_DELAY_SECONDS ? NaN : Math.ceil(delaySeconds);
    if (Number.isNaN(delay)) {
      throw new TaskqError(ErrorCodes.INVALID_ARGUMENT, `release delay is at most ${MAX_DELAY_SECONDS} s (7 days).`);
    }
    await this.#exclusive([receipt], async () => {
      const { id, reservationId } = this.#reservationOf(receipt);
      if (reservationId === undefined) return;
      try {
        await this.#call((http) => this.client.releaseMessage(this.ironQueue, id, reservationId, delay, http));
      } catch (error) {
        if (!isStaleReservation((error as { cause?: unknown }).cause)) throw error;
      }
      this.#leases.delete(receipt);
    });
  }

  protected async _queueSize(): Promise<number> {
    try {
      const info = await this.#call((http) => this.client.getQueue(this.ironQueue, http));
      return Number(info.size ?? 0);
    } catch (error) {
      if (isQueueNotFound(error)) return 0;
      throw error;
    }
  }

  /** Deliveries this broker holds whose reservation has not lapsed (IronMQ reports no reserved count). */
  protected async _lockSize(): Promise<number> {
    const now = Date.now();
    let count = 0;
    for (const lease of this.#leases.values()) if (lease.until > now) count++;
    return count;
  }

  protected async _purgeQueue(): Promise<void> {
    try {
      await this.#call((http) => this.client.clearQueue(this.ironQueue, http));
    } catch (error) {
      if (!isQueueNotFound(error)) throw error;
    }
    this.#leases.clear();
  }

  protected async _deleteQueue(): Promise<void> {
    try {
      await this.#call((http) => this.client.deleteQueue(this.ironQueue, http));
    } catch (error) {
      if (!isQueueNotFound(error)) throw error;
    }
    this.#leases.clear();
  }

  /** Lists one queue name: proves the host answers and accepts the token and project. */
  protected async _ping(): Promise<void> {
    await this.#call((http) => this.client.listQueues({ perPage: 1 }, http));
  }

  protected async _info(): Promise<BrokerInfo> {
    return {
      server: `ironmq v3 ${this.settings.origin}`,
      queue: this.queue,
      ironQueue: this.ironQueue,
      projectId: this.settings.projectId,
      retrySeconds: this.retrySeconds,
    };
  }

  /** Waiting messages from IronMQ's peek, which shows at most the first 100. */
  protected override async _listQueued(limit: number, offset: number): Promise<QueuedMessage[]> {
    const n = Math.min(BATCH, offset + limit);
    if (offset >= n) return [];
    try {
      const messages = await this.#call((http) => this.client.peekMessages(this.ironQueue, n, http));
      return messages.slice(offset, offset + limit).map((message) => ({ id: message.id, payload: message.body }));
    } catch (error) {
      if (isQueueNotFound(error)) return [];
      throw error;
    }
  }

  protected async _close(): Promise<void> {
    this.#closing.abort();
    this.#leases.clear();
  }
}

/** Receipts are `<message id>:<reservation id>`; anything else is taken as a bare message id. */
function parseReceipt(receipt: string): { id: string; reservationId: string | undefined } {
  const separator = receipt.indexOf(':');
  if (separator === -1) return { id: receipt, reservationId: undefined };
  return { id: receipt.slice(0, separator), reservationId: receipt.slice(separator + 1) || undefined };
}

/** IronMQ counts delays in whole seconds: a delay is rounded up, so a message never arrives early. */
function delaySeconds(delayMs: number | undefined): number | undefined {
  if (delayMs === undefined || !(delayMs > 0)) return undefined;
  const seconds = Math.ceil(delayMs / 1000);
  if (seconds > MAX_DELAY_SECONDS) {
    throw new TaskqError(
      ErrorCodes.INVALID_ARGUMENT,
      `IronMQ delays a message at most ${MAX_DELAY_SECONDS} s (7 days); got ${seconds} s. Schedule it instead.`,
    );
  }
  return seconds;
}

function isQueueNotFound(error: unknown): boolean {
  const cause = (error as { cause?: unknown }).cause;
  return hasStatus(cause, 404) && /queue/i.test(cause.msg);
}
