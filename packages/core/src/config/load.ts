import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { ErrorCodes, TaskqError } from '../errors.js';
import { resolveConfig, type ResolvedConfig, type TaskqOptions } from './config.js';
import { closestName } from '../util/closest.js';

/** Searched in this order in the working directory, then in each parent. */
export const CONFIG_FILE_NAMES = ['taskq.config.ts', 'taskq.config.mjs', 'taskq.config.js', 'taskq.config.json'];

type EnvKind = 'string' | 'int' | 'number' | 'boolean' | 'list' | 'argv' | 'json' | 'cached';

interface EnvOption {
  option: keyof TaskqOptions;
  kind: EnvKind;
  /** "none" (or an empty value) means null. */
  nullable?: boolean;
  /** For `json`: an example value for the error message. */
  example?: string;
}

/**
 * Every option that fits in an environment variable (PaaS config). Objects
 * that are code (logger, reporter instances) come from a config file only;
 * reporters by name come as JSON (TASKQ_ERROR_REPORTERS).
 */
export const ENV_OPTIONS: Record<string, EnvOption> = {
  TASKQ_NAME: { option: 'name', kind: 'string' },
  TASKQ_CLUSTER: { option: 'cluster', kind: 'string' },
  TASKQ_SECRET_KEY: { option: 'secretKey', kind: 'string' },
  TASKQ_BROKER_URL: { option: 'broker', kind: 'string' },
  TASKQ_STORE_URL: { option: 'store', kind: 'string' },
  TASKQ_TASKS: { option: 'tasks', kind: 'list' },
  TASKQ_WORKERS: { option: 'workers', kind: 'int' },
  TASKQ_CONCURRENCY: { option: 'concurrency', kind: 'int' },
  TASKQ_RECYCLE: { option: 'recycle', kind: 'int' },
  TASKQ_MAX_HEAP_MB: { option: 'maxHeapMb', kind: 'number', nullable: true },
  TASKQ_TIMEOUT: { option: 'timeout', kind: 'number', nullable: true },
  TASKQ_RETRY: { option: 'retry', kind: 'number' },
  TASKQ_MAX_ATTEMPTS: { option: 'maxAttempts', kind: 'int' },
  TASKQ_ACK_FAILURES: { option: 'ackFailures', kind: 'boolean' },
  TASKQ_RETRY_POLICY: { option: 'retryPolicy', kind: 'json', nullable: true },
  TASKQ_COMPRESS: { option: 'compress', kind: 'boolean' },
  TASKQ_MAX_AGE: { option: 'maxAge', kind: 'number', nullable: true },
  TASKQ_SAVE_LIMIT: { option: 'saveLimit', kind: 'int' },
  TASKQ_SAVE_LIMIT_PER: { option: 'saveLimitPer', kind: 'string', nullable: true },
  TASKQ_GUARD_CYCLE: { option: 'guardCycle', kind: 'number' },
  TASKQ_SCHEDULER: { option: 'scheduler', kind: 'boolean' },
  TASKQ_CATCH_UP: { option: 'catchUp', kind: 'boolean' },
  TASKQ_TIMEZONE: { option: 'timezone', kind: 'string' },
  TASKQ_SYNC: { option: 'sync', kind: 'boolean' },
  TASKQ_QUEUE_LIMIT: { option: 'queueLimit', kind: 'int', nullable: true },
  TASKQ_BULK: { option: 'bulk', kind: 'int' },
  TASKQ_CACHED: { option: 'cached', kind: 'cached' },
  TASKQ_STOP_TIMEOUT: { option: 'stopTimeout', kind: 'number' },
  TASKQ_BROKER_TIMEOUT: { option: 'brokerTimeout', kind: 'number' },
  TASKQ_LEASE_EXTENSION: { option: 'leaseExtension', kind: 'boolean' },
  TASKQ_WORKER_EXEC_ARGV: { option: 'workerExecArgv', kind: 'argv' },
  TASKQ_LOG_LEVEL: { option: 'logLevel', kind: 'string' },
  TASKQ_SERIALIZER: { option: 'serializer', kind: 'string', nullable: true },
  TASKQ_LABEL: { option: 'label', kind: 'string' },
  TASKQ_ERROR_REPORTERS: { option: 'errorReporters', kind: 'json', example: '{"sentry":{"dsn":"https://key@host/1"}}' },
  TASKQ_METRICS: { option: 'metrics', kind: 'json', nullable: true, example: '9464 or {"port":9464,"host":"0.0.0.0"}' },
};

/** Names the config file to load instead of searching (like `--config`). */
export const CONFIG_PATH_ENV = 'TASKQ_CONFIG';

export interface LoadConfigOptions {
  /** Where the search for a config file starts and relative paths resolve. Default `process.cwd()`. */
  cwd?: string;
  /** A config file to load instead of searching (relative to `cwd`). */
  configPath?: string;
  /** Default `process.env`; pass `{}` to ignore the environment. */
  env?: Record<string, string | undefined>;
  /** Highest precedence (command-line flags). */
  overrides?: TaskqOptions;
}

export interface LoadedConfig {
  /** The merged options (file < env < overrides), before validation. Pass them to `new Taskq(options)`. */
  options: TaskqOptions;
  /** The validated config with defaults filled in. */
  config: ResolvedConfig;
  /** The config file used, or null. */
  file: string | null;
  /** Which option came from where, for messages: option → 'file' | env var name | 'flag'. */
  sources: Record<string, string>;
}

/**
 * Loads taskq's configuration the way the CLI does: a `taskq.config.{ts,mjs,js,json}`
 * file (found from `cwd` upwards, or `configPath`, or $TASKQ_CONFIG), then
 * TASKQ_* environment variables, then `overrides`. Validation happens once, in
 * `resolveConfig`; its message also says where the bad value came from.
 */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<LoadedConfig> {
  const cwd = resolve(options.cwd ?? process.cwd());
  const env = options.env ?? process.env;
  const explicit = options.configPath ?? nonEmpty(env[CONFIG_PATH_ENV]);
  const file = explicit !== undefined ? resolve(cwd, explicit) : findConfigFile(cwd);
  if (explicit !== undefined && !existsSync(file as string)) {
    throw new TaskqError(
      ErrorCodes.CONFIG,
      `Config file ${file} does not exist: fix the path given with --config or ${CONFIG_PATH_ENV}.`,
    );
  }
  const fromFile = file ? resolvePaths(await readConfigFile(file), dirname(file)) : {};
  const fromEnv = resolvePaths(parseEnv(env), cwd);
  const overrides = resolvePaths(definedOnly(options.overrides ?? {}), cwd);
  const sources: Record<string, string> = {};
  for (const key of Object.keys(fromFile)) sources[key] = 'the config file';
  for (const [name, spec] of Object.entries(ENV_OPTIONS)) if (spec.option in fromEnv) sources[spec.option] = name;
  for (const key of Object.keys(overrides)) sources[key] = 'a command-line flag';
  const merged = { ...fromFile, ...fromEnv, ...overrides } as TaskqOptions;
  try {
    return { options: merged, config: resolveConfig(merged), file, sources };
  } catch (error) {
    throw withSources(error, sources, file);
  }
}

/** The nearest `taskq.config.*` from `cwd` up to the filesystem root, or null. */
export function findConfigFile(cwd: string): string | null {
  let dir = resolve(cwd);
  for (;;) {
    for (const name of CONFIG_FILE_NAMES) {
      const candidate = join(dir, name);
      if (existsSync(candidate)) return candidate;
    }
    const parent = dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

async function readConfigFile(file: string): Promise<TaskqOptions> {
  let value: unknown;
  try {
    if (file.endsWith('.json')) {
      value = JSON.parse(await readFile(file, 'utf8'));
    } else if (file.endsWith('.ts') || file.endsWith('.mts') || file.endsWith('.cts')) {
      // TypeScript configs load without a build step, through tsx's loader (scoped to this import).
      const { tsImport } = await import('tsx/esm/api');
      value = exportedConfig(await tsImport(pathToFileURL(file).href, import.meta.url));
    } else {
      value = exportedConfig(await import(pathToFileURL(file).href));
    }
    if (typeof value === 'function') value = await (value as () => unknown)();
  } catch (error) {
    throw new TaskqError(
      ErrorCodes.CONFIG,
      `Config file ${file} could not be loaded (${(error as Error).message}): fix the syntax or the error it throws.`,
      { cause: error },
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TaskqError(
      ErrorCodes.CONFIG,
      `Config file ${file} must export an object of taskq options (\`export default { broker: '…', tasks: [...] }\`).`,
    );
  }
  return value as TaskqOptions;
}

/** `export default {...}`, a default export wrapped by tsx's CJS interop, or `export const config`. */
function exportedConfig(module: Record<string, unknown>): unknown {
  let value = module['default'] ?? module['config'];
  if (typeof value === 'object' && value !== null && 'default' in value && Object.keys(value).length === 1) {
    value = (value as { default: unknown }).default;
  }
  return value;
}

/** TASKQ_* variables → options; a value that is not the right type is named with an example. */
export function parseEnv(env: Record<string, string | undefined>): TaskqOptions {
  checkEnvNames(env);
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(ENV_OPTIONS)) {
    const raw = env[name];
    if (raw === undefined) continue;
    const text = raw.trim();
    if (spec.nullable && (text === '' || text.toLowerCase() === 'none' || text.toLowerCase() === 'null')) {
      out[spec.option] = null;
      continue;
    }
    if (text === '') continue; // an empty variable means "not set" (common in container templates)
    out[spec.option] = parseValue(name, spec, text);
  }
  return out as TaskqOptions;
}

/** Every TASKQ_* variable taskq itself reads. */
const KNOWN_ENV = [...Object.keys(ENV_OPTIONS), CONFIG_PATH_ENV];

/**
 * A TASKQ_* variable that is a typo of an option variable (TASKQ_WORKER,
 * TASKQ_BROKER) would be ignored silently: fail naming the intended one.
 * Names nowhere near an option (TASKQ_REDIS_URL in tests) belong to others.
 */
function checkEnvNames(env: Record<string, string | undefined>): void {
  const typos: string[] = [];
  for (const name of Object.keys(env)) {
    if (!name.startsWith('TASKQ_') || KNOWN_ENV.includes(name)) continue;
    const match = closestName(name, KNOWN_ENV, 2) ?? KNOWN_ENV.find((known) => known.startsWith(`${name}_`));
    if (match !== undefined) typos.push(`${name} is not a taskq variable: did you mean ${match}? Rename or unset it.`);
  }
  if (typos.length > 0) {
    throw new TaskqError(ErrorCodes.CONFIG, `Invalid taskq configuration:\n  - ${typos.join('\n  - ')}`);
  }
}

function parseValue(name: string, spec: EnvOption, text: string): unknown {
  const bad = (expected: string) =>
    new TaskqError(
      ErrorCodes.CONFIG,
      `Invalid taskq configuration:\n  - ${name}="${text}" is not ${expected}` +
        `${spec.nullable ? ' (or "none")' : ''}: fix or unset the environment variable.`,
    );
  switch (spec.kind) {
    case 'string':
      return text;
    case 'list':
      return text
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    case 'argv':
      return text.split(/\s+/).filter(Boolean);
    case 'int': {
      if (!/^[+-]?\d+$/.test(text)) throw bad('a whole number, e.g. 4');
      return Number(text);
    }
    case 'number': {
      const value = Number(text);
      if (!Number.isFinite(value)) throw bad('a number, e.g. 30 or 0.5');
      return value;
    }
    case 'boolean':
      return parseBoolean(text) ?? throwError(bad('a boolean: true/false, 1/0, yes/no or on/off'));
    case 'cached': {
      const flag = parseBoolean(text);
      if (flag !== undefined) return flag;
      const value = Number(text);
      if (!Number.isFinite(value)) throw bad('true/false or a number of seconds');
      return value;
    }
    case 'json':
      try {
        return JSON.parse(text);
      } catch {
        throw bad(`JSON, e.g. ${spec.example ?? '{"backoff":"exponential","delayMs":1000}'}`);
      }
  }
}

function parseBoolean(text: string): boolean | undefined {
  const lower = text.toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(lower)) return true;
  if (['false', '0', 'no', 'off'].includes(lower)) return false;
  return undefined;
}

function throwError(error: Error): never {
  throw error;
}

/** Relative module paths in `tasks`/`serializer` resolve against where they were written. */
function resolvePaths(options: TaskqOptions, base: string): TaskqOptions {
  const out = { ...options };
  const fix = (path: string) => (isRelativePath(path) ? resolve(base, path) : path);
  if (Array.isArray(out.tasks)) out.tasks = out.tasks.map((t) => (typeof t === 'string' ? fix(t) : t));
  if (typeof out.serializer === 'string') out.serializer = fix(out.serializer);
  return out;
}

/** Same rule as task module specifiers: only "./" and "../" paths are files; the rest are packages. */
function isRelativePath(path: string): boolean {
  return path.startsWith('./') || path.startsWith('../');
}

function definedOnly(options: TaskqOptions): TaskqOptions {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as TaskqOptions;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

/** Adds "(from TASKQ_WORKERS)" to each problem line so the user knows what to edit. */
function withSources(error: unknown, sources: Record<string, string>, file: string | null): unknown {
  if (!(error instanceof TaskqError) || error.code !== ErrorCodes.CONFIG) return error;
  const lines = error.message.split('\n').map((line) => {
    const match = /^ {2}- `([^`.]+)/.exec(line);
    const source = match?.[1] ? sources[match[1]] : undefined;
    if (!source) return line;
    return `${line} (set by ${source === 'the config file' && file ? file : source})`;
  });
  return new TaskqError(ErrorCodes.CONFIG, lines.join('\n'), { cause: error.cause });
}
