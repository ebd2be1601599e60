import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * Launches fauxqs 1.9.2 (an SQS emulator) in this process, bound to
 * 127.0.0.1 only: its CLI and `startFauxqs()` listen on 0.0.0.0, so this
 * builds the app and listens itself.
 *
 * Two gaps of fauxqs are closed here, so it behaves as SQS documents:
 * - it moves lapsed visibility timeouts and due delays back to the visible
 *   list only when a receive runs, so `GetQueueAttributes` counts were stale
 *   until then. Every request now first applies the timers, as SQS itself
 *   does continuously;
 * - its body check rejects characters above U+FFFF (emoji), which SQS
 *   accepts (#x10000 to #x10FFFF). The check is replaced by SQS's own set.
 */

/** Dummy credentials the SDK signs with; fauxqs checks no signature. */
export const FAUXQS_CREDENTIALS = { accessKeyId: 'fauxqs', secretAccessKey: 'fauxqs' } as const;
export const FAUXQS_REGION = 'us-east-1';

interface SqsStoreLike {
  processAllTimers(): void;
}

interface FastifyLike {
  addHook(name: 'onRequest', hook: (request: unknown, reply: unknown, done: () => void) => void): unknown;
  listen(options: { port: number; host: string }): Promise<string>;
  close(): Promise<void>;
}

interface FauxqsModules {
  buildApp: (options: { logger: boolean; stores?: Record<string, unknown> }) => FastifyLike;
  SqsStore: new () => SqsStoreLike;
}

/** Characters SQS refuses in a message body (its documented set is everything else). */
export const SQS_INVALID_BODY_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

let modules: Promise<FauxqsModules> | undefined;

/** fauxqs exports only `buildApp`; its store class is loaded from the installed package's files. */
function loadFauxqs(): Promise<FauxqsModules> {
  modules ??= (async () => {
    const dist = findFauxqsDist();
    const app = (await import(pathToFileURL(join(dist, 'app.js')).href)) as Pick<FauxqsModules, 'buildApp'>;
    const store = (await import(pathToFileURL(join(dist, 'sqs', 'sqsStore.js')).href)) as Pick<
      FauxqsModules,
      'SqsStore'
    >;
    const types = (await import(pathToFileURL(join(dist, 'sqs', 'sqsTypes.js')).href)) as {
      INVALID_MESSAGE_BODY_CHAR: RegExp;
    };
    // The send actions call INVALID_MESSAGE_BODY_CHAR.test(body): shadow it with SQS's documented set.
    types.INVALID_MESSAGE_BODY_CHAR.test = (body: string) => SQS_INVALID_BODY_CHAR.test(body);
    return { buildApp: app.buildApp, SqsStore: store.SqsStore };
  })();
  return modules;
}

function findFauxqsDist(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'node_modules', 'fauxqs', 'dist');
    if (existsSync(join(candidate, 'sqs', 'sqsStore.js'))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('fauxqs is not installed (npm install -w packages/test-servers fauxqs@1.9.2)');
    dir = parent;
  }
}

export interface FauxqsServerOptions {
  /** Port on 127.0.0.1; default a free one chosen by the OS (kept across restarts). */
  port?: number;
}

/** A fauxqs SQS endpoint on 127.0.0.1 for tests and benchmarks. */
export class FauxqsServer {
  #app: FastifyLike | undefined;
  #port: number;

  private constructor(port: number) {
    this.#port = port;
  }

  static async start(options: FauxqsServerOptions = {}): Promise<FauxqsServer> {
    const server = new FauxqsServer(options.port ?? 0);
    await server.start();
    return server;
  }

  get port(): number {
    return this.#port;
  }

  /** What the SDK's `endpoint` option (or `?endpoint=` of an sqs:// URL) takes. */
  get endpoint(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  get running(): boolean {
    return this.#app !== undefined;
  }

  /** Starts (again) on the same port, empty: fauxqs keeps queues and messages in memory only. */
  async start(): Promise<void> {
    if (this.#app) return;
    const { buildApp, SqsStore } = await loadFauxqs();
    const sqsStore = new SqsStore();
    const app = buildApp({ logger: false, stores: { sqsStore } });
    app.addHook('onRequest', (_request, _reply, done) => {
      sqsStore.processAllTimers();
      done();
    });
    const address = await app.listen({ port: this.#port, host: '127.0.0.1' });
    this.#port = Number(new URL(address).port);
    this.#app = app;
  }

  /** Stops listening and drops every open connection (in-flight long polls end at once). */
  async stop(): Promise<void> {
    const app = this.#app;
    this.#app = undefined;
    await app?.close();
  }
}
