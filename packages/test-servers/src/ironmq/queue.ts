import { randomBytes } from 'node:crypto';

/** One message as the server keeps it. */
export interface StoredMessage {
  id: string;
  body: string;
  /** Not deliverable before this time (ms): the post's `delay`, or a release's `delay`. */
  visibleAt: number;
  /** The live reservation, if any (it lapses at `reservedUntil`). */
  reservationId: string | null;
  reservedUntil: number;
  /** How many times it has been reserved. */
  reservedCount: number;
  /** Delivery order: posts count up from 0; timed-out and released messages go to the front (negative). */
  order: number;
}

/** Why an operation on a message was refused, as the API reports it. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

let nextMessageId = BigInt(Date.now()) * 1_000_000n;

/** IronMQ message ids are decimal strings (e.g. "6167399524335638401"). */
function newMessageId(): string {
  nextMessageId += 1n;
  return nextMessageId.toString();
}

function newReservationId(): string {
  return randomBytes(16).toString('hex');
}

interface Waiter {
  /** Tries to serve the waiting reserve; true when it was served. */
  attempt(): boolean;
  /** Ends the wait empty-handed. */
  expire(): void;
}

/**
 * One pull queue: FIFO delivery, reservations that lapse back to the front of
 * the queue, delays, and long-poll waiters woken by posts, releases and lapses.
 */
export class Queue {
  /** Every message, in post order. */
  readonly messages = new Map<string, StoredMessage>();
  /** Messages with a reservation (live or lapsed but not yet noticed). */
  readonly #reserved = new Set<StoredMessage>();
  /** Messages sent back to the front (lapsed or released): negative `order`. */
  readonly #front = new Set<StoredMessage>();
  totalMessages = 0;
  #tail = 0;
  #head = 0;
  readonly #waiters = new Set<Waiter>();
  #timer: NodeJS.Timeout | undefined;

  constructor(
    readonly name: string,
    public messageTimeout: number,
    public messageExpiration: number,
  ) {}

  /** Reserve calls waiting (long poll) on this queue. */
  get waiting(): number {
    return this.#waiters.size;
  }

  /** A lapsed reservation makes its message visible again, at the front of the queue. */
  #lapse(message: StoredMessage, now: number): void {
    if (message.reservationId === null || message.reservedUntil > now) return;
    message.reservationId = null;
    this.#reserved.delete(message);
    this.#toFront(message);
  }

  #toFront(message: StoredMessage): void {
    message.order = --this.#head;
    this.#front.add(message);
  }

  #expire(now: number): void {
    for (const message of this.#reserved) this.#lapse(message, now);
  }

  #remove(message: StoredMessage): void {
    this.messages.delete(message.id);
    this.#reserved.delete(message);
    this.#front.delete(message);
  }

  /** Messages waiting to be reserved (not reserved; delayed ones included). */
  size(now = Date.now()): number {
    this.#expire(now);
    return this.messages.size - this.#reserved.size;
  }

  post(bodies: ReadonlyArray<{ body: string; delay: number }>, now = Date.now()): string[] {
    const ids = bodies.map(({ body, delay }) => {
      const message: StoredMessage = {
        id: newMessageId(),
        body,
        visibleAt: now + delay * 1000,
        reservationId: null,
        reservedUntil: 0,
        reservedCount: 0,
        order: this.#tail++,
      };
      this.messages.set(message.id, message);
      return message.id;
    });
    this.totalMessages += ids.length;
    this.wake();
    return ids;
  }

  /** Up to `n` messages that can be reserved now, in delivery order. */
  available(n: number, now = Date.now()): StoredMessage[] {
    this.#expire(now);
    const ready = (message: StoredMessage) => message.reservationId === null && message.visibleAt <= now;
    const out = [...this.#front].filter(ready).sort((a, b) => a.order - b.order);
    if (out.length >= n) return out.slice(0, n);
    // The map keeps post order; messages sent back to the front were taken above.
    for (const message of this.messages.values()) {
      if (message.order >= 0 && ready(message)) out.push(message);
      if (out.length >= n) break;
    }
    return out;
  }

  reserve(n: number, timeoutSeconds: number, deleteAfter: boolean, now = Date.now()): StoredMessage[] {
    const taken = this.available(n, now);
    for (const message of taken) {
      message.reservedCount += 1;
      message.reservationId = newReservationId();
      message.reservedUntil = now + timeoutSeconds * 1000;
      this.#reserved.add(message);
      if (deleteAfter) this.#remove(message);
    }
    if (taken.length > 0) this.#schedule();
    return taken;
  }

  /** Finds a message and checks that `reservationId` is its live reservation (or that it has none). */
  check(id: string, reservationId: string | undefined, now = Date.now()): StoredMessage {
    const message = this.messages.get(id);
    if (!message) throw new ApiError(404, 'Message not found');
    this.#lapse(message, now);
    if (message.reservationId === null) {
      // A reservation id for a message that is no longer reserved: that reservation timed out.
      if (reservationId !== undefined) throw new ApiError(403, 'Reservation timed out');
      return message;
    }
    if (reservationId === undefined) throw new ApiError(403, 'Message is reserved; pass its reservation_id');
    if (reservationId !== message.reservationId) throw new ApiError(403, 'Reservation does not match');
    return message;
  }

  touch(id: string, reservationId: string | undefined, timeoutSeconds: number, now = Date.now()): string {
    if (reservationId === undefined) throw new ApiError(400, 'reservation_id is required');
    const message = this.check(id, reservationId, now);
    message.reservationId = newReservationId();
    message.reservedUntil = now + timeoutSeconds * 1000;
    this.#schedule();
    return message.reservationId;
  }

  release(id: string, reservationId: string | undefined, delaySeconds: number, now = Date.now()): void {
    if (reservationId === undefined) throw new ApiError(400, 'reservation_id is required');
    const message = this.check(id, reservationId, now);
    message.reservationId = null;
    this.#reserved.delete(message);
    message.visibleAt = now + delaySeconds * 1000;
    this.#toFront(message);
    this.wake();
  }

  delete(id: string, reservationId: string | undefined): void {
    this.#remove(this.check(id, reservationId));
  }

  /** All or nothing: every id is checked before any is deleted. */
  deleteMany(items: ReadonlyArray<{ id: string; reservationId: string | undefined }>): void {
    const messages = items.map((item) => this.check(item.id, item.reservationId));
    for (const message of messages) this.#remove(message);
  }

  clear(): void {
    this.messages.clear();
    this.#reserved.clear();
    this.#front.clear();
  }

  /**
   * A long poll: `attempt` is retried whenever something may have become
   * available, until it returns true; after `ms` (or when the queue goes
   * away) `expired` is called instead.
   */
  wait(attempt: () => boolean, ms: number, expired: () => void): { cancel: () => void } {
    const waiter: Waiter = {
      attempt: () => {
        const served = attempt();
        if (served) finish();
        return served;
      },
      expire: () => {
        finish();
        expired();
      },
    };
    const timer = setTimeout(() => waiter.expire(), ms);
    const finish = () => {
      clearTimeout(timer);
      this.#waiters.delete(waiter);
    };
    this.#waiters.add(waiter);
    this.#schedule();
    return { cancel: finish };
  }

  /** Lets waiters try again, oldest first. */
  wake(): void {
    for (const waiter of [...this.#waiters]) waiter.attempt();
    this.#schedule();
  }

  /** While someone waits, wake them when the next reservation lapses or delay passes. */
  #schedule(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#waiters.size === 0) return;
    const now = Date.now();
    let next = Number.POSITIVE_INFINITY;
    for (const message of this.messages.values()) {
      if (message.reservationId !== null) next = Math.min(next, message.reservedUntil);
      else if (message.visibleAt > now) next = Math.min(next, message.visibleAt);
    }
    if (next === Number.POSITIVE_INFINITY) return;
    this.#timer = setTimeout(() => this.wake(), Math.max(0, next - now) + 1);
  }

  /** Ends every wait (queue deleted or server stopping). */
  close(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const waiter of [...this.#waiters]) waiter.expire();
  }
}
