import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Engine } from './engine.js';
import { ProtocolError, completeMessageLength, decodeRequest, encodeReply } from './wire.js';

export { Engine, MAX_WIRE_VERSION, SERVER_VERSION } from './engine.js';
export { CommandError } from './collection.js';
export { decodeReply, encodeOpMsg, OP_MSG, OP_QUERY, OP_REPLY } from './wire.js';

export interface MongoTestServerOptions {
  /** Port to listen on; default 0 (a free one, kept across stop/start). */
  port?: number;
  /**
   * How often the TTL monitor removes expired documents. Default 60 000 ms,
   * like mongod's `ttlMonitorSleepSecs`; tests of TTL pass something short.
   */
  ttlMonitorIntervalMs?: number;
}

/**
 * A small MongoDB wire-protocol server for tests, on `bson` + `mingo`:
 * OP_MSG, and OP_QUERY/OP_REPLY for the driver's first hello. It reports a
 * standalone MongoDB 7.0 and keeps every database in memory; `stop()` then
 * `start()` is a restart on the same port that keeps the data (like a
 * durable server). Listens on 127.0.0.1 only.
 */
export class MongoTestServer {
  readonly engine = new Engine();
  readonly #sockets = new Set<Socket>();
  readonly #ttlIntervalMs: number;
  #server: Server | undefined;
  #ttlTimer: NodeJS.Timeout | undefined;
  #port: number;
  #nextConnectionId = 1;
  /** Commands answered since the server was created (tests use it to see traffic). */
  commands = 0;
  /** Requests per wire opCode (OP_QUERY 2004, OP_MSG 2013) since the server was created. */
  readonly opCodes = new Map<number, number>();

  constructor(options: MongoTestServerOptions = {}) {
    this.#port = options.port ?? 0;
    this.#ttlIntervalMs = options.ttlMonitorIntervalMs ?? 60_000;
  }

  /** Creates a server and starts it. */
  static async start(options: MongoTestServerOptions = {}): Promise<MongoTestServer> {
    const server = new MongoTestServer(options);
    await server.start();
    return server;
  }

  get port(): number {
    return this.#port;
  }

  get url(): string {
    return `mongodb://127.0.0.1:${this.#port}`;
  }

  get running(): boolean {
    return this.#server !== undefined;
  }

  async start(): Promise<void> {
    if (this.#server) return;
    const server = createServer((socket) => this.#accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#port = (server.address() as AddressInfo).port;
    this.#server = server;
    this.#ttlTimer = setInterval(() => this.engine.expire(), this.#ttlIntervalMs);
    this.#ttlTimer.unref();
  }

  /** Closes the listener and every connection (clients see a network error). Data stays for a later start(). */
  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    clearInterval(this.#ttlTimer);
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  #accept(socket: Socket): void {
    const connectionId = this.#nextConnectionId++;
    this.#sockets.add(socket);
    socket.setNoDelay(true);
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      try {
        for (let length = completeMessageLength(pending); length > 0; length = completeMessageLength(pending)) {
          const message = pending.subarray(0, length);
          pending = pending.subarray(length);
          this.#handle(socket, message, connectionId);
        }
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error;
        // a framing error leaves the stream unreadable: drop the connection, as mongod does
        socket.destroy();
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => this.#sockets.delete(socket));
  }

  #handle(socket: Socket, message: Buffer, connectionId: number): void {
    const request = decodeRequest(message);
    this.opCodes.set(request.header.opCode, (this.opCodes.get(request.header.opCode) ?? 0) + 1);
    const reply = this.engine.run(request.command, connectionId);
    this.commands += 1;
    if (!request.noReply) socket.write(encodeReply(request, reply));
  }
}
