import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CLUSTER = fileURLToPath(new URL('./crash-cluster.mjs', import.meta.url));

/** Cluster processes (support/crash-cluster.mjs) started by a test; stopAll() ends whatever is left. */
export class ClusterProcesses {
  readonly #children = new Set<ChildProcess>();

  constructor(
    readonly url: string,
    readonly secret: string,
    /** Extra environment for the processes, e.g. { TASKQ_RETRY: '2' } or { TASKQ_STORE_URL: 'redis://…' }. */
    readonly env: Record<string, string> = {},
  ) {}

  /** Resolves once the process printed "ready" (its cluster started). */
  start(): Promise<ChildProcess> {
    const child = spawn(process.execPath, [CLUSTER], {
      env: { ...process.env, ...this.env, TASKQ_URL: this.url, TASKQ_SECRET: this.secret },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.#children.add(child);
    child.once('exit', () => this.#children.delete(child));
    return new Promise((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error('a cluster process did not start within 30 s')), 30_000);
      child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('ready')) {
          clearTimeout(timer);
          resolve(child);
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`a cluster process exited (${code ?? signal}) before it was ready`));
      });
    });
  }

  stop(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
    return new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill(signal);
    });
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.#children].map((child) => this.stop(child, 'SIGKILL')));
  }
}

export async function eventually(check: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
