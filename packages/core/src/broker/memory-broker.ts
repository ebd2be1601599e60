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
import { LimitTracker } from './limit-tracker.js';

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
  /** Its keyed limit's key, when it was enqueued with one. */
  limitKey?: string;
}

/** The ready messages of one key (or of the messages without a key): ids per priority, FIFO within a priority. */
class ReadyByPriority {
  readonly lists = new Map<number, ReadyList>();

  push(priority: number, id: string): void {
    let ids = this.lists.get(priority);
    if (!ids) this.lists.set(priority, (ids = new ReadyList()));
    ids.push(id);
  }

  get empty(): boolean {
    return this.lists.size === 0;
  }

  /** The next id in priority order (highest first), or undefined. */
  shift(): string | undefined {
    const priorities = this.lists.size === 1 ? [...this.lists.keys()] : [...this.lists.keys()].sort((a, b) => b - a);
    for (const priority of priorities) {
      const ids = this.lists.get(priority) as ReadyList;
      const id = ids.size > 0 ? ids.shift() : undefined;
      if (ids.size === 0) this.lists.delete(priority);
      if (id !== undefined) return id;
    }
    return undefined;
  }

  clear(): void {
    this.lists.clear();
  }
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
    keyedLimits: true,
  };

  readonly #messages = new Map<string, StoredMessage>();
  /** Ready messages without a keyed limit. */
  readonly #ready = new ReadyByPriority();
  /** Ready messages with a keyed limit, per key; keys take turns starting after the last one served. */
  readonly #readyByKey = new Map<string, ReadyByPriority>();
  readonly #limits = new LimitTracker();
  #turn = 0;
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
    if (options.limit !== undefined) {
      message.limitKey = options.limit.key;
      this.#limits.define(options.limit);
    }
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
    const message = this.#messages.get(id);
    this.#messages.delete(id);
    this.#timed.delete(id);
    // A delivered message of a limited key frees its slot: a consumer waiting on that limit may now take one.
    if (message?.locked && message.limitKey !== undefined) {
      this.#limits.released(message.limitKey);
      this.#wakeAll();
    }
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
    for (const message of this.#messages.values()) {
      if (message.locked && message.limitKey !== undefined) this.#limits.released(message.limitKey);
    }
    this.#messages.clear();
    this.#ready.clear();
    this.#readyByKey.clear();
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

  /**
   * Take up to `max` visible messages, leasing each for retrySeconds. Messages without a key come first; then the
   * keys with ready messages take turns, one message each per round, skipping a key at its limit.
   */
  #take(max: number): Delivery[] {
    this.#requeueDue();
    const out: Delivery[] = [];
    while (out.length < max) {
      const id = this.#ready.shift();
      if (id === undefined) break;
      this.#deliver(id, out);
    }
    const keys = [...this.#readyByKey.keys()];
    if (keys.length === 0 || out.length >= max) return out;
    const now = this.#now();
    const start = this.#turn % keys.length;
    for (let served = true; served && out.length < max;) {
      served = false;
      for (let i = 0; i < keys.length && out.length < max; i++) {
        const key = keys[(start + i) % keys.length] as string;
        const ready = this.#readyByKey.get(key);
        if (ready === undefined || !this.#limits.allows(key, now)) continue;
        const id = ready.shift();
        if (ready.empty) this.#readyByKey.delete(key);
        if (id === undefined || !this.#deliver(id, out)) continue;
        this.#limits.delivered(key, now);
        served = true;
      }
    }
    this.#turn = start + 1;
    return out;
  }

  /** Leases one ready message into `out`; false when it was acknowledged while it waited. */
  #deliver(id: string, out: Delivery[]): boolean {
    const message = this.#messages.get(id);
    if (message === undefined) return false;
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
    return true;
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
      if (message.locked && message.limitKey !== undefined) this.#limits.released(message.limitKey);
      message.locked = false;
      this.#pushReady(message);
    }
  }

  #pushReady(message: StoredMessage): void {
    if (message.inReady) return;
    message.inReady = true;
    if (message.limitKey === undefined) {
      this.#ready.push(message.priority, message.id);
      return;
    }
    let ready = this.#readyByKey.get(message.limitKey);
    if (!ready) this.#readyByKey.set(message.limitKey, (ready = new ReadyByPriority()));
    ready.push(message.priority, message.id);
  }

  #msUntilNextVisible(): number {
    const now = this.#now();
    let next = Number.POSITIVE_INFINITY;
    for (const id of this.#timed) {
      const message = this.#messages.get(id);
      if (message && message.visibleAt > now) next = Math.min(next, message.visibleAt - now);
    }
    // A key held back by its rate becomes deliverable when its oldest delivery leaves the window.
    for (const key of this.#readyByKey.keys()) next = Math.min(next, this.#limits.msUntilRateSlot(key, now) || next);
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
