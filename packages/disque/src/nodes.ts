import { Redis } from 'ioredis';
import { unavailable } from './errors.js';
import type { DisqueNodeAddress, ResolvedDisqueOptions } from './options.js';

const key = (node: DisqueNodeAddress) => `${node.host}:${node.port}`;

/**
 * The nodes a broker may talk to, in the order it tries them: the URL's, then
 * any that HELLO discovered. `current` is the node in use; when it fails, the
 * broker moves on to the next one (round robin).
 */
export class NodeSet {
  readonly #nodes: DisqueNodeAddress[];
  #current = 0;

  constructor(nodes: readonly DisqueNodeAddress[]) {
    this.#nodes = [...nodes];
  }

  get all(): readonly DisqueNodeAddress[] {
    return this.#nodes;
  }

  get current(): DisqueNodeAddress {
    return this.#nodes[this.#current] as DisqueNodeAddress;
  }

  /** Nodes in trying order, starting at the current one. */
  fromCurrent(): DisqueNodeAddress[] {
    return [...this.#nodes.slice(this.#current), ...this.#nodes.slice(0, this.#current)];
  }

  use(node: DisqueNodeAddress): void {
    const index = this.#nodes.findIndex((n) => key(n) === key(node));
    if (index !== -1) this.#current = index;
  }

  /** The node failed: the next attempt starts with the one after it. */
  failed(node: DisqueNodeAddress): void {
    if (key(this.current) === key(node)) this.#current = (this.#current + 1) % this.#nodes.length;
  }

  /** Adds nodes a HELLO reported (`[version, myId, [id, ip, port, priority], …]`), skipping failing ones. */
  learn(hello: unknown): void {
    if (!Array.isArray(hello)) return;
    for (const entry of hello.slice(2)) {
      if (!Array.isArray(entry) || entry.length < 4) continue;
      const node = { host: String(entry[1]), port: Number(entry[2]) };
      const priority = Number(entry[3]);
      if (!(node.port > 0) || priority >= 100) continue;
      if (!this.#nodes.some((n) => key(n) === key(node))) this.#nodes.push(node);
    }
  }
}

/** Opens one ioredis connection to a Disque node: RESP2, no client-info handshake, no automatic reconnect. */
export async function openClient(node: DisqueNodeAddress, options: ResolvedDisqueOptions): Promise<Redis> {
  const client = new Redis({
    ...options.redis,
    host: node.host,
    port: node.port,
    ...(options.password === undefined ? {} : { password: options.password }),
    // Disque's HELLO takes no arguments (ioredis 6 would send HELLO 3) and its CLIENT has no SETINFO.
    protocol: 2,
    disableClientInfo: true,
    lazyConnect: true,
    connectTimeout: options.connectTimeoutMs,
    // Failover is ours: a lost connection ends this client, and the broker moves to the next node.
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    enableAutoPipelining: false,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return client;
  } catch (error) {
    client.disconnect();
    throw error;
  }
}

/**
 * One live connection that follows the NodeSet: `get()` returns the open
 * client or connects, trying every node once from the current one. A client
 * whose connection drops is forgotten, and its node marked failed.
 */
export class Link {
  #client: Redis | null = null;
  #node: DisqueNodeAddress | null = null;
  #connecting: Promise<Redis> | null = null;
  /** Clients this link closed itself (abort, close): their end is not a node failure. */
  readonly #released = new WeakSet<Redis>();

  constructor(
    private readonly nodes: NodeSet,
    private readonly options: ResolvedDisqueOptions,
    private readonly what: string,
    /** Runs after each new connection (HELLO discovery). */
    private readonly onConnect: (client: Redis) => void = () => undefined,
  ) {}

  get node(): DisqueNodeAddress | null {
    return this.#node;
  }

  get(): Promise<Redis> {
    if (this.#client && this.#client.status === 'ready') return Promise.resolve(this.#client);
    this.#connecting ??= this.#connect().finally(() => (this.#connecting = null));
    return this.#connecting;
  }

  async #connect(): Promise<Redis> {
    let lastError: unknown = new Error('no nodes configured');
    for (const node of this.nodes.fromCurrent()) {
      try {
        const client = await openClient(node, this.options);
        this.nodes.use(node);
        this.#client = client;
        this.#node = node;
        client.once('end', () => this.#ended(client, node));
        this.onConnect(client);
        return client;
      } catch (error) {
        lastError = error;
        this.nodes.failed(node);
      }
    }
    throw unavailable(this.what, lastError);
  }

  #ended(client: Redis, node: DisqueNodeAddress): void {
    if (this.#client === client) {
      this.#client = null;
      this.#node = null;
    }
    if (!this.#released.has(client)) this.nodes.failed(node);
  }

  /** A call on `client` lost its connection: drop it and move on to the next node. */
  fail(client: Redis): void {
    if (this.#client === client) {
      this.#client = null;
      if (this.#node) this.nodes.failed(this.#node);
      this.#node = null;
    }
    client.disconnect();
  }

  /** Closes the connection without blaming the node (abort, close); the next get() reconnects. */
  release(): void {
    const client = this.#client;
    this.#client = null;
    this.#node = null;
    if (client) {
      this.#released.add(client);
      client.disconnect();
    }
  }

  /** Closes the connection, waiting for one being opened. */
  async close(): Promise<void> {
    const connecting = this.#connecting;
    this.release();
    if (connecting) {
      const client = await connecting.catch(() => null);
      if (client) {
        this.#released.add(client);
        client.disconnect();
      }
    }
    this.#client = null;
  }
}
