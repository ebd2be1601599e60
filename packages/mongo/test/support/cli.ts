import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The built `taskq` binary of @taskq/core: the CLI users run. */
const BIN = fileURLToPath(new URL('../../../core/dist/cli/bin.js', import.meta.url));

/** Runs `taskq …` with only the TASKQ_* variables given; resolves with its exit code and output. */
export function runCli(
  args: readonly string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('TASKQ_')));
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...clean, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
