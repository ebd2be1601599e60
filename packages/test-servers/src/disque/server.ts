import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { COMMANDS, type CommandContext } from './commands.js';
import { JobStore } from './jobs.js';
import { encode, ErrorReply, NULL_ARRAY, ProtocolError, RequestParser, Status, type Reply } from './resp.js';

const HOST = '127.0.0.1';

/** One client connection: commands run in order; a blocked GETJOB holds back the ones after it. */
class Connection {
  readonly #parser = new RequestParser();
  readonly #pending: Buffer[][] = [];
  #blocked: { cancel: () => void } | null = null;
  #closed = false;
  name: string | null = null;

  constructor(
    readonly socket: Socket,
    readonly node: DisqueNode,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => this.#onClose());
  }

  get blocked(): boolean {
    return this.#blocked !== null;
  }

  #onData(chunk: Buffer): void {
    try {
      this.#pending.push(...this.#parser.push(chunk));
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      this.#write(new ErrorReply(`ERR ${error.message}`));
      this.socket.end();
      return;
    }
    this.#drain();
  }

  #drain(): void {
    const out: Buffer[] = [];
    while (!this.#blocked && !this.#closed && this.#pending.length > 0) {
      const args = this.#pending.shift() as Buffer[];
      const name = (args[0] as Buffer).toString('latin1').toLowerCase();
      if (name === 'quit') {
        encode(new Status('OK'), out);
        this.socket.end(Buffer.concat(out));
        this.#closed = true;
        return;
      }
      const reply = this.#run(name, args);
      if (reply !== undefined) encode(reply, out);
    }
    if (out.length > 0) this.socket.write(Buffer.concat(out));
  }

  #run(name: string, args: Buffer[]): Reply | undefined {
    const entry = COMMANDS[name];
    if (!entry) return new ErrorReply(`ERR unknown command '${(args[0] as Buffer).toString()}'`);
    const [handler, arity] = entry;
    if ((arity > 0 && args.length !== arity) || (arity < 0 && args.length < -arity)) {
      return new ErrorReply(`ERR wrong number of arguments for '${name}' command`);
    }
    return handler(this.#context(), args);
  }

  #context(): CommandContext {
    const node = this.node;
    const cluster = node.cluster;
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const connection = this;
    return {
      store: cluster.store,
      nodeId: node.id,
      port: node.port,
      // Computed only by the commands that read them (HELLO, INFO, QSTAT, ADDJOB, SHOW).
      get nodes() {
        return cluster.nodes.map((n) => ({ id: n.id, host: HOST, port: n.port, running: n.running }));
      },
      get connectedClients() {
        return node.connections.size;
      },
      get blockedClients() {
        return [...node.connections].filter((c) => c.blocked).length;
      },
      startedMs: node.startedMs,
      get clientName() {
        return connection.name;
      },
      set clientName(value) {
        connection.name = value;
      },
      block: (queueKeys, timeoutMs, withCounters) => this.#block(queueKeys, timeoutMs, withCounters),
    };
  }

  #block(queueKeys: string[], timeoutMs: number, withCounters: boolean): void {
    let timer: NodeJS.Timeout | undefined;
    const finish = (reply: Reply) => {
      clearTimeout(timer);
      unregister();
      this.#blocked = null;
      this.#write(reply);
      this.#drain();
    };
    const unregister = this.node.cluster.store.wait({
      queueKeys,
      deliver: (job) => {
        const reply: Reply[] = [job.queue, job.id, job.body];
        if (withCounters) reply.push('nacks', job.nacks, 'additional-deliveries', job.additionalDeliveries);
        finish([reply]);
      },
    });
    if (timeoutMs > 0) timer = setTimeout(() => finish(NULL_ARRAY), timeoutMs);
    this.#blocked = {
      cancel: () => {
        clearTimeout(timer);
        unregister();
      },
    };
  }

  #write(reply: Reply): void {
    if (!this.#closed && !this.socket.destroyed) this.socket.write(Buffer.concat(encode(reply)));
  }

  #onClose(): void {
    this.#closed = true;
    this.#blocked?.cancel();
    this.#blocked = null;
    this.node.connections.delete(this);
  }

  destroy(): void {
    this.#onClose();
    this.socket.destroy();
  }
}

/** One node: its own port and id, the cluster's jobs. Stop it and start it again on the same port. */
export class DisqueNode {
  readonly id = randomBytes(20).toString('hex');
  readonly connections = new Set<Connection>();
  #server: Server | null = null;
  #port = 0;
  startedMs = Date.now();

  constructor(readonly cluster: DisqueCluster) {}

  get port(): number {
    return this.#port;
  }

  get running(): boolean {
    return this.#server !== null;
  }

  get address(): string {
    return `${HOST}:${this.#port}`;
  }

  /** Listens on a spare loopback port the first time, on the same port after a stop. */
  async start(): Promise<void> {
    if (this.#server) return;
    const server = createServer((socket) => this.connections.add(new Connection(socket, this)));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, HOST, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#port = (server.address() as { port: number }).port;
    this.#server = server;
    this.startedMs = Date.now();
  }

  /** Closes the listener and every connection at once (like a killed process); the jobs stay with the cluster. */
  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = null;
    for (const connection of [...this.connections]) connection.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

export interface DisqueClusterOptions {
  /** Number of nodes. Default 1. */
  nodes?: number;
}

/**
 * A Disque cluster of one or more nodes on loopback. Nodes share one job store:
 * Disque replicates every job to REPLICATE nodes (by default min(3, cluster
 * size)), so with up to three nodes every job lives on every node, and a job
 * delivered by a node that dies is queued again by the others after its retry
 * time. What this model leaves out is listed in the @taskq/disque README.
 */
export class DisqueCluster {
  readonly store = new JobStore();
  readonly nodes: DisqueNode[];

  private constructor(count: number) {
    this.nodes = Array.from({ length: count }, () => new DisqueNode(this));
  }

  static async start(options: DisqueClusterOptions = {}): Promise<DisqueCluster> {
    const count = options.nodes ?? 1;
    if (!Number.isInteger(count) || count < 1) throw new Error(`nodes must be a positive integer, got ${count}`);
    const cluster = new DisqueCluster(count);
    for (const node of cluster.nodes) await node.start();
    return cluster;
  }

  /** `disque://127.0.0.1:P1,127.0.0.1:P2` — every node, for @taskq/disque. */
  get url(): string {
    return `disque://${this.nodes.map((node) => node.address).join(',')}`;
  }

  /** Stops every node and drops every job. */
  async stop(): Promise<void> {
    for (const node of this.nodes) await node.stop();
    this.store.clear();
  }
}

/** A single-node Disque server on a spare loopback port. */
export function startDisque(options: DisqueClusterOptions = {}): Promise<DisqueCluster> {
  return DisqueCluster.start(options);
}
