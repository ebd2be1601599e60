import { readFileSync } from 'node:fs';
import { TaskqError, type ErrorCode } from '@taskq/core';
import type { RedisClient, WaitOptions } from './options.js';

/**
 * The Lua scripts live in src/scripts/<operation>.lua (shipped with the
 * package); this path resolves from both src/ and dist/.
 */
const directory = new URL('../src/scripts/', import.meta.url);

export function loadScript(name: string): string {
  return readFileSync(new URL(`${name}.lua`, directory), 'utf8');
}

/**
 * Defines each script as a command named `taskq_<name>` (callers pass the key
 * count first). `include` names a helper file prepended to each script.
 */
export function defineScripts(redis: RedisClient, names: readonly string[], include?: string): void {
  const prelude = include ? `${loadScript(include)}\n` : '';
  for (const name of names) {
    const command = commandName(name);
    if (typeof (redis as unknown as Record<string, unknown>)[command] === 'function') continue;
    redis.defineCommand(command, { lua: prelude + loadScript(name) });
  }
}

export function commandName(script: string): string {
  return `taskq_${script.replaceAll('-', '_')}`;
}

type Arg = string | number | Buffer;

/** Calls a defined script: `run(redis, 'claim', keys, args)`. */
export function runScript<T>(
  redis: RedisClient,
  name: string,
  keys: readonly string[],
  args: readonly Arg[],
): Promise<T> {
  const fn = (redis as unknown as Record<string, (...a: Arg[]) => Promise<T>>)[commandName(name)];
  if (!fn) throw new Error(`Lua script ${name} is not defined`);
  return fn.call(redis, keys.length, ...keys, ...args);
}

/**
 * Runs a script, then `WAIT replicas timeoutMs` on the same connection (one pipeline: on a Cluster it goes to the
 * node that owns the keys' slot), and rejects with `code` when fewer replicas than asked confirmed the write.
 * Without `wait` it is {@link runScript}.
 */
export async function runScriptReplicated<T>(
  redis: RedisClient,
  name: string,
  keys: readonly string[],
  args: readonly Arg[],
  wait: WaitOptions | undefined,
  code: ErrorCode,
): Promise<T> {
  if (!wait) return runScript<T>(redis, name, keys, args);
  const pipeline = redis.pipeline();
  const fn = (pipeline as unknown as Record<string, (...a: Arg[]) => unknown>)[commandName(name)];
  if (!fn) throw new Error(`Lua script ${name} is not defined`);
  fn.call(pipeline, keys.length, ...keys, ...args);
  pipeline.call('WAIT', wait.replicas, wait.timeoutMs);
  const replies = (await pipeline.exec()) ?? [];
  for (const [error] of replies) if (error) throw error;
  const [[, result] = [], [, acked] = []] = replies;
  if (Number(acked) < wait.replicas) {
    throw new TaskqError(
      code,
      `Redis: ${name} reached ${Number(acked)} of ${wait.replicas} replicas within ${wait.timeoutMs} ms; ` +
        'the write is on the master but would be lost if it failed now.',
    );
  }
  return result as T;
}
