import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

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
export function defineScripts(redis: Redis, names: readonly string[], include?: string): void {
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
export function runScript<T>(redis: Redis, name: string, keys: readonly string[], args: readonly Arg[]): Promise<T> {
  const fn = (redis as unknown as Record<string, (...a: Arg[]) => Promise<T>>)[commandName(name)];
  if (!fn) throw new Error(`Lua script ${name} is not defined`);
  return fn.call(redis, keys.length, ...keys, ...args);
}
