import type pg from 'pg';

type Opened = { client: pg.ClientBase; done: (broken?: boolean) => Promise<void> };
type OpenClient = () => Promise<Opened>;

/**
 * One dedicated PostgreSQL connection per channel that LISTENs for enqueue
 * notifications and wakes this process's waiting dequeues. When the
 * connection drops, waiters fall back to polling until `ensure()` reconnects.
 */
export class PgListener {
  #client: Opened | undefined;
  #connecting: Promise<void> | undefined;
  #closed = false;
  #retryAt = 0;

  constructor(
    readonly channel: string,
    readonly open: OpenClient,
    readonly onNotify: (queue: string) => void,
  ) {}

  /** True while notifications are flowing; otherwise the broker polls. */
  get listening(): boolean {
    return this.#client !== undefined;
  }

  /** Connects when not connected (at most once a second after a failure). Never rejects. */
  ensure(): Promise<void> {
    if (this.#closed || this.#client) return Promise.resolve();
    if (this.#connecting) return this.#connecting;
    if (Date.now() < this.#retryAt) return Promise.resolve();
    this.#connecting = this.#connect().finally(() => (this.#connecting = undefined));
    return this.#connecting;
  }

  async #connect(): Promise<void> {
    let opened: Opened | undefined;
    try {
      opened = await this.open();
      const { client } = opened;
      client.on('notification', (message) => {
        if (message.channel === this.channel && message.payload !== undefined) this.onNotify(message.payload);
      });
      let gone = false;
      const lost = () => {
        if (gone) return;
        gone = true;
        if (this.#client === opened) this.#client = undefined;
        this.#retryAt = Date.now() + 1000;
        // give the dead connection back (a pool destroys it) so pool.end() does not wait for it
        void opened?.done(true).catch(() => {});
      };
      client.on('error', lost);
      client.on('end', lost);
      await client.query(`LISTEN "${this.channel}"`);
      if (this.#closed) {
        await opened.done().catch(() => {});
        return;
      }
      this.#client = opened;
    } catch {
      this.#retryAt = Date.now() + 1000;
      await opened?.done().catch(() => {});
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#connecting;
    const opened = this.#client;
    this.#client = undefined;
    if (opened) {
      await opened.client.query(`UNLISTEN "${this.channel}"`).catch(() => {});
      await opened.done().catch(() => {});
    }
  }
}
