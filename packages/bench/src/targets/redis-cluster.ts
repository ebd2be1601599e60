import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import { runRound } from '../child.js';
import { median, round, type RoundResult } from '../measure.js';
import { aggregate } from './redis.js';
import type { BenchOptions, BenchSummary } from './types.js';

const run = promisify(execFile);

/**
 * taskq on a Redis Cluster (3 masters + 3 replicas): one queue (one hash tag, so one master does all the queue's
 * work) against three queues whose hash tags — queue and results — land on three different masters, each queue
 * with its own cluster process, at the same total number of tasks. Rounds alternate. With `--url
 * redis+cluster://h1:p1,…` it uses that cluster; otherwise it starts six local `redis-server --cluster-enabled yes`
 * on spare loopback ports and removes them afterwards.
 */
export async function runRedisClusterTarget(options: BenchOptions, log: (line: string) => void): Promise<BenchSummary> {
  const given = /^rediss?\+cluster:\/\//.test(options.url) ? options.url : null;
  const local = given ? null : await LocalCluster.start();
  const seeds = given
    ? given
        .replace(/^rediss?\+cluster:\/\//, '')
        .split(/[/?]/)[0]!
        .split(',')
    : local!.addresses;
  const [seedHost, seedPort] = seeds[0]!.split(':');
  const admin = new Cluster([{ host: seedHost!, port: Number(seedPort ?? 6379) }]);
  const workers = options.workers;
  const concurrency = Math.max(1, Math.round(options.concurrency / workers));
  const one: RoundResult[] = [];
  /** Per round and mode: CPU seconds each master used, over the round's wall seconds. */
  const cpu: Record<'one' | 'three', number[][]> = { one: [], three: [] };
  const three: Array<{ throughput: number; perQueue: number[]; p50: number | null; p95: number | null }> = [];
  try {
    for (let i = 0; i < options.rounds; i++) {
      for (const mode of i % 2 === 0 ? ['one', 'three'] : ['three', 'one']) {
        const prefix = `bench-${randomBytes(4).toString('hex')}`;
        // Through core's URL table: a redis:// seed with ?cluster=1 (ioredis discovers the other nodes).
        const broker = `redis://${seeds[0]}?cluster=1&prefix=${prefix}`;
        const names = mode === 'one' ? ['bench'] : await spreadNames(admin, prefix, await masterRanges(admin), 3);
        const perQueueTasks = Math.ceil(options.tasks / names.length);
        const cpuBefore = await masterCpu(admin);
        const startedAt = Date.now();
        const results = await Promise.all(
          names.map((name) =>
            runRound([
              'taskq',
              JSON.stringify({
                broker,
                store: broker,
                name,
                tasks: perQueueTasks,
                workers,
                concurrency,
                bulk: options.bulk,
                queueLimit: options.queueLimit,
                paced: options.paced / names.length,
                pacedSeconds: options.pacedSeconds,
              }),
            ]),
          ),
        );
        const wallSeconds = (Date.now() - startedAt) / 1000;
        const cpuAfter = await masterCpu(admin);
        cpu[mode as 'one' | 'three'].push(
          [...cpuAfter].map(([node, seconds]) => round((seconds - (cpuBefore.get(node) ?? 0)) / wallSeconds, 2)),
        );
        await deleteKeys(admin, prefix);
        if (mode === 'one') {
          one.push(results[0]!);
        } else {
          // The three processes run side by side: all their tasks over the span from the first start to the last
          // finish (the sum of their own rates would overstate it when one finishes early).
          const first = Math.min(...results.map((r) => r.firstStartAt ?? Number.NaN));
          const last = Math.max(...results.map((r) => r.lastDoneAt ?? Number.NaN));
          const done = results.reduce((sum, r) => sum + r.tasks, 0);
          three.push({
            throughput: round(done / ((last - first) / 1000)),
            perQueue: results.map((r) => r.throughput),
            p50: median(results.map((r) => r.latencyP50Ms ?? Number.NaN)),
            p95: median(results.map((r) => r.latencyP95Ms ?? Number.NaN)),
          });
        }
        const shown = mode === 'one' ? results[0]!.throughput : three.at(-1)!.throughput;
        log(
          `round ${i + 1} ${mode === 'one' ? '1 queue ' : '3 queues'} ${String(shown).padStart(8)} tasks/s  ` +
            `(${names.join(', ')}: ${results.map((r) => r.throughput).join(' + ')}; ` +
            `master CPU ${cpu[mode as 'one' | 'three'].at(-1)!.join(' / ')} of a core)`,
        );
      }
    }
  } finally {
    admin.disconnect();
    await local?.stop();
  }
  const threeThroughput = median(three.map((t) => t.throughput));
  const oneQueue = aggregate(one);
  return {
    target: 'redis-cluster',
    mode: options.paced > 0 ? 'paced' : 'throughput',
    server: given
      ? 'the given Redis Cluster'
      : 'a local Redis Cluster: 6 redis-server (3 masters, 3 replicas), loopback',
    tasks: options.tasks,
    rounds: options.rounds,
    workers,
    concurrency,
    bulk: options.bulk,
    queueLimit: options.queueLimit,
    oneQueue: { ...oneQueue, masterCpuPerRound: cpu.one },
    threeQueues: {
      masterCpuPerRound: cpu.three,
      throughput: round(threeThroughput, 3),
      latencyP50Ms: median(three.map((t) => t.p50 ?? Number.NaN)),
      latencyP95Ms: median(three.map((t) => t.p95 ?? Number.NaN)),
      perRound: three.map((t) => t.throughput),
      perQueue: three.map((t) => t.perQueue),
    },
    speedup: oneQueue.throughput ? round(threeThroughput / oneQueue.throughput, 2) : null,
  };
}

type SlotRange = [from: number, to: number, master: string];

/** CPU seconds (user + sys) each master has used so far, by address. */
async function masterCpu(admin: Cluster): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const node of admin.nodes('master')) {
    const info = await node.info('cpu');
    const used = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? 0);
    out.set(`${node.options.host}:${node.options.port}`, used('used_cpu_user') + used('used_cpu_sys'));
  }
  return out;
}

async function masterRanges(admin: Cluster): Promise<SlotRange[]> {
  const slots = (await admin.cluster('SLOTS')) as unknown as Array<[number, number, [string, number]]>;
  return slots.map(([from, to, [host, port]]) => [from, to, `${host}:${port}`]);
}

function masterOf(ranges: readonly SlotRange[], slot: number): string {
  return ranges.find(([from, to]) => slot >= from && slot <= to)?.[2] ?? '?';
}

/**
 * `count` queue names whose queue tag `{prefix:name}` and result tag `{prefix:results:name}` both land on the same
 * master, a different master for each name.
 */
async function spreadNames(admin: Cluster, prefix: string, ranges: readonly SlotRange[], count: number) {
  const names: string[] = [];
  const used = new Set<string>();
  // Random names of random lengths: CRC16 is linear, so for names of one length the two tags' slots differ by a
  // constant XOR, and for some prefixes no name of that length puts both tags on a given master.
  for (let i = 0; names.length < count && i < 10_000; i++) {
    const name = `bench-${randomBytes(1 + (i % 6)).toString('hex')}`;
    const queueSlot = Number(await admin.cluster('KEYSLOT', `{${prefix}:${name}}`));
    const resultSlot = Number(await admin.cluster('KEYSLOT', `{${prefix}:results:${name}}`));
    const master = masterOf(ranges, queueSlot);
    if (master === '?' || used.has(master) || masterOf(ranges, resultSlot) !== master) continue;
    used.add(master);
    names.push(name);
  }
  if (names.length < count)
    throw new Error(
      `bench: found no ${count} queue names on ${count} different masters (${JSON.stringify(ranges)}, found ${names.join(', ')})`,
    );
  return names;
}

/** Removes a round's keys from every master (taskq keys start with `{prefix:`). */
async function deleteKeys(admin: Cluster, prefix: string): Promise<void> {
  for (const node of admin.nodes('master')) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `{${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      // one DEL per key: keys of different tags live in different slots
      await Promise.all(keys.map((key) => node.del(key)));
    } while (cursor !== '0');
  }
}

/** Six local cluster nodes on spare loopback ports, joined as 3 masters + 3 replicas. */
class LocalCluster {
  readonly root = mkdtempSync(join(tmpdir(), 'taskq-bench-cluster-'));
  readonly children: ChildProcess[] = [];
  readonly addresses: string[] = [];

  static async start(): Promise<LocalCluster> {
    const cluster = new LocalCluster();
    try {
      for (let i = 0; i < 6; i++) {
        const port = await freePort();
        const dir = join(cluster.root, String(port));
        mkdirSync(dir);
        cluster.addresses.push(`127.0.0.1:${port}`);
        const args = ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes'];
        args.push('--cluster-config-file', join(dir, 'nodes.conf'), '--cluster-node-timeout', '5000');
        args.push('--dir', dir, '--save', '', '--appendonly', 'no');
        cluster.children.push(spawn('redis-server', args, { stdio: 'ignore' }));
      }
      for (const address of cluster.addresses) await waitForPing(Number(address.split(':')[1]));
      await run('redis-cli', ['--cluster', 'create', ...cluster.addresses, '--cluster-replicas', '1', '--cluster-yes']);
      await cluster.#waitUntilOk();
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  async #waitUntilOk(): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const infos = await Promise.all(
        this.addresses.map(async (address) => {
          const redis = new Redis({ port: Number(address.split(':')[1]), lazyConnect: true, maxRetriesPerRequest: 1 });
          redis.on('error', () => undefined);
          try {
            return String(await redis.cluster('INFO'));
          } catch {
            return '';
          } finally {
            redis.disconnect();
          }
        }),
      );
      if (infos.every((info) => info.includes('cluster_state:ok') && info.includes('cluster_slots_ok:16384'))) return;
      if (Date.now() > deadline) throw new Error('bench: the local Redis Cluster did not reach cluster_state:ok');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            process.kill(child.pid!, 'SIGKILL');
          }),
      ),
    );
    rmSync(this.root, { recursive: true, force: true });
  }
}

async function waitForPing(port: number): Promise<void> {
  const probe = new Redis({ port, lazyConnect: true, retryStrategy: () => 50, maxRetriesPerRequest: 1 });
  probe.on('error', () => undefined);
  const deadline = Date.now() + 15_000;
  try {
    while (
      !(await probe.ping().then(
        () => true,
        () => false,
      ))
    ) {
      if (Date.now() > deadline) throw new Error(`bench: redis-server on port ${port} did not start`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    probe.disconnect();
  }
}

/** A spare port whose cluster bus port (port + 10000) is a valid port and spare too. */
async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = await listenOn(0);
    if (port !== null && port + 10_000 <= 65_535 && (await listenOn(port + 10_000)) !== null) return port;
  }
  throw new Error('bench: found no spare port pair (port, port + 10000) for a cluster node');
}

/** Binds `port` (0: any) on loopback and releases it: the port, or null when it is taken. */
function listenOn(port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(null));
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : null));
    });
  });
}
