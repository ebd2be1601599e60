import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from './redis-server.js';

const run = promisify(execFile);

export interface ClusterNodeProcess {
  port: number;
  dir: string;
  child: ChildProcess | null;
}

/**
 * A Redis Cluster that a test owns: six `redis-server --cluster-enabled yes` processes on spare loopback ports
 * (temporary directories, no persistence, `cluster-node-timeout` 1000 ms so a dead master's replica takes over
 * within a few seconds), joined by `redis-cli --cluster create … --cluster-replicas 1`: 3 masters, 3 replicas.
 * `start()` throws when the cluster does not come up (a test failure, never a skip); `stop()` kills every process
 * it started by pid and removes the directories.
 */
export class RedisClusterServer {
  readonly root = mkdtempSync(join(tmpdir(), 'taskq-redis-cluster-'));
  readonly nodes: ClusterNodeProcess[] = [];

  private constructor(readonly nodeTimeoutMs: number) {}

  static async start(options: { nodes?: number; nodeTimeoutMs?: number } = {}): Promise<RedisClusterServer> {
    const server = new RedisClusterServer(options.nodeTimeoutMs ?? 1000);
    try {
      await server.#start(options.nodes ?? 6);
    } catch (error) {
      await server.stop();
      throw error;
    }
    return server;
  }

  /** Seed nodes as `host:port,…` (every node). */
  get hosts(): string {
    return this.nodes.map((node) => `127.0.0.1:${node.port}`).join(',');
  }

  /** A `redis+cluster://` URL over every node, with an optional key prefix. */
  url(prefix?: string): string {
    return `redis+cluster://${this.hosts}${prefix ? `?prefix=${prefix}` : ''}`;
  }

  async #start(count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      const port = await freeClusterPort();
      const dir = join(this.root, String(port));
      mkdirSync(dir);
      const node: ClusterNodeProcess = { port, dir, child: null };
      this.nodes.push(node);
      this.#spawn(node);
    }
    await Promise.all(this.nodes.map((node) => this.#waitForPing(node.port, 15_000)));
    const addresses = this.nodes.map((node) => `127.0.0.1:${node.port}`);
    await run('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '1', '--cluster-yes'], {
      timeout: 60_000,
    });
    await this.waitUntilOk(30_000);
  }

  #spawn(node: ClusterNodeProcess): void {
    const args = [
      '--port',
      String(node.port),
      '--bind',
      '127.0.0.1',
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      join(node.dir, 'nodes.conf'),
      '--cluster-node-timeout',
      String(this.nodeTimeoutMs),
      '--dir',
      node.dir,
      '--save',
      '',
      '--appendonly',
      'no',
      // Replicas sync at once (Redis 7 waits 5 s for more replicas by default): a replica that never synced
      // refuses to take over ("disconnected from master for longer than allowed").
      '--repl-diskless-sync-delay',
      '0',
      '--daemonize',
      'no',
      '--logfile',
      join(node.dir, 'redis.log'),
    ];
    node.child = spawn('redis-server', args, { stdio: 'ignore' });
  }

  async #waitForPing(port: number, timeoutMs: number): Promise<void> {
    const probe = new Redis({ port, lazyConnect: true, retryStrategy: () => 50, maxRetriesPerRequest: 1 });
    probe.on('error', () => undefined);
    const deadline = Date.now() + timeoutMs;
    try {
      while (
        !(await probe.ping().then(
          () => true,
          () => false,
        ))
      ) {
        if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not start`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } finally {
      probe.disconnect();
    }
  }

  /** One command to one node (its own short-lived connection). */
  async command(port: number, ...args: Array<string | number>): Promise<unknown> {
    const redis = new Redis({ port, maxRetriesPerRequest: 1, retryStrategy: () => null, lazyConnect: true });
    redis.on('error', () => undefined);
    try {
      return await redis.call(String(args[0]), ...args.slice(1));
    } finally {
      redis.disconnect();
    }
  }

  /**
   * Waits until every running node reports `cluster_state:ok` and sees all 16,384 slots assigned and ok, and every
   * running replica is in sync with its master (`master_link_status:up`).
   */
  async waitUntilOk(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const infos = await Promise.all(
        this.running().map(async (node) => {
          const cluster = await this.command(node.port, 'CLUSTER', 'INFO').then(String, () => '');
          const replication = await this.command(node.port, 'INFO', 'replication').then(String, () => '');
          return `${cluster}${replication}`;
        }),
      );
      const ok = infos.every(
        (info) =>
          /cluster_state:ok/.test(info) &&
          /cluster_slots_ok:16384/.test(info) &&
          (/role:master/.test(info) || /master_link_status:up/.test(info)),
      );
      if (ok && infos.length > 0) return;
      if (Date.now() > deadline)
        throw new Error(`the Redis Cluster did not reach cluster_state:ok:\n${infos.join('\n')}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  running(): ClusterNodeProcess[] {
    return this.nodes.filter((node) => node.child && node.child.exitCode === null && node.child.signalCode === null);
  }

  /** The port of the master that serves `slot` now (asked of a running node). */
  async masterOf(slot: number): Promise<number> {
    const [node] = this.running();
    const slots = (await this.command(node!.port, 'CLUSTER', 'SLOTS')) as Array<[number, number, [string, number]]>;
    const range = slots.find(([from, to]) => slot >= from && slot <= to);
    if (!range) throw new Error(`no node serves slot ${slot}`);
    return Number(range[2][1]);
  }

  /** Ports of the masters (by `CLUSTER NODES` of a running node). */
  async masters(): Promise<number[]> {
    const [node] = this.running();
    const text = String(await this.command(node!.port, 'CLUSTER', 'NODES'));
    const masters: number[] = [];
    for (const line of text.split('\n')) {
      const [, address, flags = ''] = line.split(' ');
      const roles = flags.split(',');
      if (roles.includes('master') && !roles.includes('fail') && !roles.includes('fail?')) {
        masters.push(Number(/:(\d+)@/.exec(address ?? '')?.[1]));
      }
    }
    return masters;
  }

  /** SIGKILLs the node on `port` (by its pid) and resolves once it has exited. */
  async kill(port: number): Promise<void> {
    const node = this.nodes.find((n) => n.port === port);
    const child = node?.child;
    if (!node || !child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise((resolve) => {
      child.once('exit', resolve);
      process.kill(child.pid!, 'SIGKILL');
    });
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((node) => this.kill(node.port)));
    if (process.env.TASKQ_KEEP_CLUSTER_LOGS) return;
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** A spare port whose cluster bus port (port + 10000) is a valid port and spare too. */
async function freeClusterPort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = await freePort();
    if (port + 10_000 <= 65_535 && (await isFree(port + 10_000))) return port;
  }
  throw new Error('found no spare port pair (port, port + 10000) for a cluster node');
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
