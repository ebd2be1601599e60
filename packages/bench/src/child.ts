import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { RoundResult } from './measure.js';
import type { ClusterMessage, ClusterProcessOptions } from './systems/cluster.js';

const CLI = fileURLToPath(new URL('./cli.js', import.meta.url));

/**
 * Runs one round of one system in a fresh process (clean heap, honest peak
 * RSS), passing `args` to `cli.js --round`. The child prints its RoundResult
 * as its last stdout line.
 */
export function runRound<T = RoundResult>(args: readonly string[]): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, '--round', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0) return reject(new Error(`bench round ${args.join(' ')} exited with ${code}: ${out}`));
      try {
        resolve(JSON.parse(last) as T);
      } catch {
        reject(new Error(`bench round printed no result: ${out}`));
      }
    });
  });
}

/** A running cluster process (see systems/cluster.ts) as its parent sees it. */
export interface ClusterChild {
  pid: number;
  /** Resolves when the cluster has started. */
  ready: Promise<Extract<ClusterMessage, { type: 'ready' }>>;
  /** The latest tick (null before the first). */
  latest(): Extract<ClusterMessage, { type: 'tick' }> | null;
  /** Every tick so far. */
  ticks: Extract<ClusterMessage, { type: 'tick' }>[];
  /** Asks the cluster to stop; resolves with its result once the process has exited. */
  stop(): Promise<Extract<ClusterMessage, { type: 'result' }>>;
}

/** Starts `cli.js --cluster-process <options>` and follows its JSON lines. */
export function spawnCluster(options: ClusterProcessOptions): ClusterChild {
  const child = spawn(process.execPath, [CLI, '--cluster-process', JSON.stringify(options)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const ticks: Extract<ClusterMessage, { type: 'tick' }>[] = [];
  let result: Extract<ClusterMessage, { type: 'result' }> | null = null;
  let onReady: (m: Extract<ClusterMessage, { type: 'ready' }>) => void = () => {};
  let onFail: (e: Error) => void = () => {};
  const ready = new Promise<Extract<ClusterMessage, { type: 'ready' }>>((resolve, reject) => {
    onReady = resolve;
    onFail = reject;
  });
  // 'close', not 'exit': the result line (large with many latencies) may still be in the pipe when the process exits.
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  child.on('error', (e) => onFail(e));
  void exited.then((code) => onFail(new Error(`cluster process exited with ${code} before it was ready`)));
  createInterface({ input: child.stdout }).on('line', (line) => {
    let message: ClusterMessage;
    try {
      message = JSON.parse(line) as ClusterMessage;
    } catch {
      return; // not ours
    }
    if (message.type === 'ready') onReady(message);
    else if (message.type === 'tick') ticks.push(message);
    else if (message.type === 'result') result = message;
  });
  return {
    pid: child.pid!,
    ready,
    ticks,
    latest: () => ticks.at(-1) ?? null,
    async stop() {
      child.stdin.end('stop\n');
      const code = await exited;
      if (code !== 0 || result === null) throw new Error(`cluster process ${child.pid} exited with ${code}`);
      return result;
    },
  };
}
