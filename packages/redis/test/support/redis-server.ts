import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

/**
 * A redis-server on a spare loopback port that a test owns: start, kill, start again.
 * With `persist`, an append-only file fsynced on every write keeps what Redis acknowledged
 * across a SIGKILL (crash tests); without it a restart begins empty.
 */
export class RedisServer {
  readonly dir = mkdtempSync(join(tmpdir(), 'taskq-redis-'));
  #child: ChildProcess | null = null;

  private constructor(
    readonly port: number,
    readonly persist: boolean,
  ) {}

  static async start(options: { persist?: boolean } = {}): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), options.persist ?? false);
    await server.start();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', ''];
    if (this.persist) args.push('--appendonly', 'yes', '--appendfsync', 'always');
    else args.push('--appendonly', 'no');
    args.push('--daemonize', 'no');
    this.#child = spawn('redis-server', args, { stdio: 'ignore' });
    const probe = new Redis({ port: this.port, lazyConnect: true, retryStrategy: () => 50, maxRetriesPerRequest: 1 });
    probe.on('error', () => undefined);
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (
        await probe.ping().then(
          () => true,
          () => false,
        )
      )
        break;
      if (Date.now() > deadline) throw new Error(`redis-server on port ${this.port} did not start`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    probe.disconnect();
  }

  async kill(): Promise<void> {
    const child = this.#child;
    this.#child = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise((resolve) => {
      child.once('exit', resolve);
      child.kill('SIGKILL');
    });
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}
