import { randomUUID } from 'node:crypto';
import type { ClusterStat } from '../stats/cluster-stat.js';
import {
  BaseBroker,
  type BrokerCapabilities,
  type BrokerFactory,
  type BrokerFactoryOptions,
  type BrokerInfo,
  type Delivery,
  type EnqueueOptions,
  type QueuedMessage,
} from './broker.js';

interface StoredMessage {
  id: string;
  payload: string;
  priority: number;
  /** Not deliverable before this time (delay, or the current lease). */
  visibleAt: number;
  /** Deliveries so far; the receipt of the current one ends in this number. */
  deliveries: number;
  locked: boolean;
  /** Whether its id sits in a ready list (so it is never listed twice). */
  inReady: boolean;
}

interface Waiter {
  wake: () => void;
}

/**
 * An in-process broker that behaves like a receipt broker: deliveries are
 * leased for `retrySeconds`, redelivered when not acknowledged, can be
 * extended, delayed and prioritised. It is what `sync`-free tests, the demo
 * and the conformance suite's own tests run on. Shared within one process by
 * queue name when created from the `memory:` URL.
 */
export class MemoryBroker extends BaseBroker {
  readonly capabilities: BrokerCapabilities = {
    receipts: true,
    extendLease: true,
    exactCounts: true,
    bulkDequeue: true,
    bulkEnqueue: true,
    delay: true,
    priority: true,
    maxPayloadBytes: null,
    stats: true,
    listQueued: true,
  };

  readonly #messages = new Map<string, StoredMessage>();
  /** Ready message ids per priority, FIFO within a priority. */
  readonly #ready = new Map<number, ReadyList>();
  readonly #waiters = new Set<Waiter>();
  /** Ids of delayed or leased messages: the only ones whose visibility changes with time. */
  readonly #timed = new Set<string>();
  readonly #stats = new Map<string, { stat: ClusterStat; expiresAt: number }>();
  readonly #now: () => number;

  constructor(options: BrokerFactoryOptions & { now?: () => number }) {
    super(options);
    this.#now = options.now ?? Date.now;
  }

  protected async _enqueue(payload: string, options: EnqueueOptions): Promise<string> {
    const id = randomUUID();
    const message: StoredMessage = {
      id,
      payload,
      priority: options.priority ?? 0,
      visibleAt: this.#now() + Math.max(0, options.delayMs ?? 0),
      deliveries: 0,
      locked: false,
      inReady: false,
    };
    this.#messages.set(id, message);
    if (message.visibleAt <= this.#now()) this.#pushReady(message);
    else this.#timed.add(id);
    this.#wakeAll();
    return id;
  }

  protected async _dequeue(max: number, waitMs: number, signal?: AbortSignal): Promise<Delivery[]> {
    const deadline = this.#now() + waitMs;
    for (;;) {
      const deliveries = this.#take(max);
      if (deliveries.length > 0 || this.closed || signal?.aborted) return deliveries;
      const remaining = deadline - this.#now();
      if (remaining <= 0) return [];
      await this.#wait(Math.min(remaining, this.#msUntilNextVisible()), signal);
    }
  }

  protected async _acknowledge(receipt: string): Promise<void> {
    this.#remove(messageIdOf(receipt));
  }

  protected async _delete(receipt: string): Promise<void> {
    this.#remove(messageIdOf(receipt));
  }

  #remove(id: string): void {
    this.#messages.delete(id);
    this.#timed.delete(id);
  }

  protected override async _extend(receipt: string, seconds: number): Promise<void> {
    const message = this.#current(receipt);
    if (message?.locked) message.visibleAt = Math.max(message.visibleAt, this.#now() + seconds * 1000);
  }

  protected async _queueSize(): Promise<number> {
    const now = this.#now();
    let size = 0;
    for (const message of this.#messages.values()) if (!message.locked || message.visibleAt <= now) size++;
    return size;
  }

  protected async _lockSize(): Promise<number> {
    const now = this.#now();
    let size = 0;
    for (const message of this.#messages.values()) if (message.locked && message.visibleAt > now) size++;
    return size;
  }

  protected async _purgeQueue(): Promise<void> {
    this.#messages.clear();
    this.#ready.clear();
    this.#timed.clear();
  }

  protected async _deleteQueue(): Promise<void> {
    await this._purgeQueue();
  }

  protected async _ping(): Promise<void> {}

  protected async _info(): Promise<BrokerInfo> {
    return { server: 'memory', queue: this.queue };
  }

  protected override async _listQueued(limit: number, offset: number): Promise<QueuedMessage[]> {
    return [...this.#messages.values()].slice(offset, offset + limit).map((message) => ({
      id: message.id,
      payload: message.payload,
      lockedUntil: message.locked ? new Date(message.visibleAt) : null,
      runAt: message.locked ? null : new Date(message.visibleAt),
    }));
  }

  protected override async _setStat(key: string, stat: ClusterStat, ttlSeconds: number): Promise<void> {
    this.#stats.set(key, { stat, expiresAt: this.#now() + ttlSeconds * 1000 });
  }

  protected override async _getStats(): Promise<ClusterStat[]> {
    const now = this.#now();
    const stats: ClusterStat[] = [];
    for (const [key, entry] of this.#stats) {
      if (entry.expiresAt <= now) this.#stats.delete(key);
      else stats.push(entry.stat);
    }
    return stats;
  }

  protected override async _deleteStat(key: string): Promise<void> {
    this.#stats.delete(key);
  }

  protected async _close(): Promise<void> {
    this.#wakeAll();
  }

  /** Take up to `max` visible messages, leasing each for retrySeconds. */
  #take(max: number): Delivery[] {
    this.#requeueDue();
    const out: Delivery[] = [];
    const priorities = this.#ready.size === 1 ? [...this.#ready.keys()] : [...this.#ready.keys()].sort((a, b) => b - a);
    for (const priority of priorities) {
      const ids = this.#ready.get(priority) as ReadyList;
      while (out.length < max && ids.size > 0) {
        const message = this.#messages.get(ids.shift());
        if (message === undefined) continue; // acknowledged while waiting
        message.inReady = false;
        message.locked = true;
        this.#timed.add(message.id);
        message.deliveries += 1;
        message.visibleAt = this.#now() + this.retrySeconds * 1000;
        out.push({
          receipt: `${message.id}.${message.deliveries}`,
          payload: message.payload,
          deliveries: message.deliveries,
        });
      }
      if (ids.size === 0) this.#ready.delete(priority);
      if (out.length >= max) break;
    }
    return out;
  }

  /** Delayed messages that became due and leases that expired go back to ready. */
  #requeueDue(): void {
    const now = this.#now();
    for (const id of this.#timed) {
      const message = this.#messages.get(id);
      if (message === undefined) {
        this.#timed.delete(id);
        continue;
      }
      if (message.visibleAt > now) continue;
      this.#timed.delete(id);
      message.locked = false;
      this.#pushReady(message);
    }
  }

  #pushReady(message: StoredMessage): void {
    if (message.inReady) return;
    message.inReady = true;
    let ids = this.#ready.get(message.priority);
    if (!ids) this.#ready.set(message.priority, (ids = new ReadyList()));
    ids.push(message.id);
  }

  #msUntilNextVisible(): number {
    const now = this.#now();
    let next = Number.POSITIVE_INFINITY;
    for (const id of this.#timed) {
      const message = this.#messages.get(id);
      if (message && message.visibleAt > now) next = Math.min(next, message.visibleAt - now);
    }
    return next;
  }

  #current(receipt: string): StoredMessage | undefined {
    const message = this.#messages.get(messageIdOf(receipt));
    return message && receipt === `${message.id}.${message.deliveries}` ? message : undefined;
  }

  #wait(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const waiter: Waiter = {
        wake: () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', waiter.wake);
          this.#waiters.delete(waiter);
          resolve();
        },
      };
      const timer = setTimeout(waiter.wake, Number.isFinite(ms) ? ms : 2 ** 31 - 1);
      signal?.addEventListener('abort', waiter.wake, { once: true });
      this.#waiters.add(waiter);
    });
  }

  #wakeAll(): void {
    for (const waiter of [...this.#waiters]) waiter.wake();
  }
}

/** A FIFO of ids with O(1) shift (Array#shift is O(n) on long queues). */
class ReadyList {
  #items: string[] = [];
  #head = 0;

  get size(): number {
    return this.#items.length - this.#head;
  }

  push(id: string): void {
    this.#items.push(id);
  }

  shift(): string {
    const id = this.#items[this.#head++] as string;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return id;
  }
}

function messageIdOf(receipt: string): string {
  const dot = receipt.lastIndexOf('.');
  return dot === -1 ? receipt : receipt.slice(0, dot);
}

/** One MemoryBroker per queue name per process, so `memory:` URLs share it. */
const shared = new Map<string, MemoryBroker>();

export const memoryBrokerFactory: BrokerFactory = {
  schemes: ['memory'],
  create(_url, options) {
    const existing = shared.get(options.queue);
    if (existing && !existing.closed) return existing;
    const broker = new MemoryBroker(options);
    shared.set(options.queue, broker);
    return broker;
  },
};
