import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { RoundResult } from './measure.js';

const CLI = fileURLToPath(new URL('./cli.js', import.meta.url));

/**
 * Runs one round of one system in a fresh process (clean heap, honest peak
 * RSS), passing `args` to `cli.js --round`. The child prints its RoundResult
 * as its last stdout line.
 */
export function runRound(args: readonly string[]): Promise<RoundResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, '--round', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0) return reject(new Error(`bench round ${args.join(' ')} exited with ${code}: ${out}`));
      try {
        resolve(JSON.parse(last) as RoundResult);
      } catch {
        reject(new Error(`bench round printed no result: ${out}`));
      }
    });
  });
}
