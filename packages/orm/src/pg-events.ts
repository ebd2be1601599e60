import { ErrorCodes, TaskqError, type TaskEventChannel, type TaskFinishedEvent } from '@taskq/core';
import { sql } from 'kysely';
import type { SqlConnection } from './connection.js';
import { unavailable } from './errors.js';
import { PgListener } from './pg-listener.js';

/** PostgreSQL drops a NOTIFY payload of 8000 bytes or more: batches are split below that. */
const MAX_PAYLOAD_BYTES = 7900;
/** A dropped LISTEN connection is reopened this often while anyone subscribes. */
const RECONNECT_MS = 1000;

/**
 * Finished-task events over PostgreSQL LISTEN/NOTIFY on the channel `<schema_><prefix>events`: the cluster
 * sends one NOTIFY per saved batch (several only when the batch's JSON passes 7,900 bytes); subscribers share
 * one dedicated LISTEN connection (the same kind the broker's wake-ups use). Like pub/sub, a subscriber that is
 * disconnected misses what was sent meanwhile.
 */
export class PgEventChannel implements TaskEventChannel {
  readonly channel: string;
  readonly #listeners = new Set<(events: TaskFinishedEvent[]) => void>();
  #listener: PgListener | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly connection: SqlConnection) {
    this.channel = connection.tables.channel.replace(/queue_wake$/, 'events');
  }

  /** Only PostgreSQL with a pool taskq can take a dedicated client from has a channel. */
  static supported(connection: SqlConnection): boolean {
    return connection.dialect === 'postgres' && connection.entry.openListenClient !== undefined;
  }

  async publishFinished(events: readonly TaskFinishedEvent[]): Promise<void> {
    try {
      for (const payload of chunks(events)) {
        await sql`select pg_notify(${this.channel}, ${payload})`.execute(this.connection.db);
      }
    } catch (error) {
      throw unavailable(error, 'publishing finished tasks');
    }
  }

  async subscribeFinished(listener: (events: TaskFinishedEvent[]) => void): Promise<() => Promise<void>> {
    const open = this.connection.entry.openListenClient;
    if (!open) throw new TaskqError(ErrorCodes.CONFIG, 'This PostgreSQL connection cannot LISTEN (no pool).');
    this.#listeners.add(listener);
    if (!this.#listener) {
      this.#listener = new PgListener(this.channel, open, (payload) => this.#deliver(payload));
      this.#timer = setInterval(() => void this.#listener?.ensure(), RECONNECT_MS);
      this.#timer.unref();
    }
    await this.#listener.ensure();
    if (!this.#listener.listening) {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) await this.close();
      throw new TaskqError(
        ErrorCodes.BROKER_UNAVAILABLE,
        `Cannot LISTEN on "${this.channel}": the database is unreachable.`,
      );
    }
    return async () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) await this.close();
    };
  }

  #deliver(payload: string): void {
    let events: TaskFinishedEvent[];
    try {
      events = JSON.parse(payload) as TaskFinishedEvent[];
    } catch {
      return;
    }
    for (const listener of this.#listeners) listener(events);
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    const listener = this.#listener;
    this.#listener = undefined;
    await listener?.close();
  }
}

/** JSON arrays of events, each under the NOTIFY payload limit. */
function chunks(events: readonly TaskFinishedEvent[]): string[] {
  const out: string[] = [];
  let current: string[] = [];
  let bytes = 2;
  for (const event of events) {
    const json = JSON.stringify(event);
    const size = Buffer.byteLength(json) + 1;
    if (current.length > 0 && bytes + size > MAX_PAYLOAD_BYTES) {
      out.push(`[${current.join(',')}]`);
      current = [];
      bytes = 2;
    }
    current.push(json);
    bytes += size;
  }
  if (current.length > 0) out.push(`[${current.join(',')}]`);
  return out;
}
