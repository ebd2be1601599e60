import { Option, type Command } from 'commander';
import {
  loadConfig,
  ErrorCodes,
  TaskqError,
  isTaskqError,
  TaskqEmitter,
  type Runtime,
  type ResolvedConfig,
  type TaskqOptions,
  type LoadedConfig,
  createRuntime,
  Taskq,
} from '../index.js';

/** Options every command takes: where the config is, and the few settings worth a flag. */
export interface CommonFlags {
  /** A path on every command except `info`, where `--config` prints the resolved config. */
  config?: string | boolean;
  configFile?: string;
  broker?: string;
  store?: string;
  name?: string;
  logLevel?: string;
}

export function addCommonOptions(command: Command, options: { configFlag?: boolean } = {}): Command {
  if (options.configFlag ?? true) {
    command.option('-c, --config <path>', 'config file to use instead of searching for taskq.config.{ts,mjs,js,json}');
  }
  return command
    .option('--config-file <path>', 'same as --config (the spelling that also works with `taskq info`)')
    .option('--broker <url>', 'broker URL (overrides TASKQ_BROKER_URL and the config file)')
    .option('--store <url>', 'result store URL (overrides TASKQ_STORE_URL)')
    .option('-n, --name <name>', 'cluster name: signing salt and default queue (overrides TASKQ_NAME)')
    .addOption(
      new Option('--log-level <level>', 'log level (overrides TASKQ_LOG_LEVEL)').choices([
        'debug',
        'info',
        'warn',
        'error',
        'silent',
      ]),
    );
}

/** Loads the config: file < TASKQ_* env < flags (`overrides` are the command's own flags). */
export function loadCliConfig(flags: CommonFlags, overrides: TaskqOptions = {}): Promise<LoadedConfig> {
  const configPath = flags.configFile ?? (typeof flags.config === 'string' ? flags.config : undefined);
  const fromFlags: TaskqOptions = { ...overrides };
  if (flags.broker !== undefined) fromFlags.broker = flags.broker;
  if (flags.store !== undefined) fromFlags.store = flags.store;
  if (flags.name !== undefined) fromFlags.name = flags.name;
  if (flags.logLevel !== undefined) fromFlags.logLevel = flags.logLevel as ResolvedConfig['logLevel'];
  return loadConfig({ ...(configPath === undefined ? {} : { configPath }), overrides: fromFlags });
}

/** Read-only commands never sign or verify a package, so they need no secret key. */
const UNUSED_KEY = 'taskq-cli-read-only-commands-do-not-sign';

/**
 * Connects the broker and store and checks the broker answers. `signing`
 * commands (cluster, schedule run) need the real secret key.
 */
export async function openRuntime(config: ResolvedConfig, options: { signing: boolean }): Promise<Runtime> {
  const effective = options.signing || config.secretKey ? config : { ...config, secretKey: UNUSED_KEY };
  let runtime: Runtime;
  try {
    runtime = await createRuntime(effective, new TaskqEmitter());
  } catch (error) {
    throw asUnavailable(error, config);
  }
  try {
    await runtime.broker.ping();
  } catch (error) {
    await runtime.close().catch(() => undefined);
    throw asUnavailable(error, config);
  }
  return runtime;
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'EHOSTUNREACH', 'ECONNRESET', 'EAI_AGAIN']);

/** Connection failures become TASKQ_BROKER_UNAVAILABLE with the URL (password masked) and the fix. */
export function asUnavailable(error: unknown, config: ResolvedConfig): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  const isNetwork = typeof code === 'string' && NETWORK_CODES.has(code);
  if (!isNetwork && !isTaskqError(error, ErrorCodes.BROKER_UNAVAILABLE)) return error;
  const url = typeof config.broker === 'string' ? config.broker.replace(/(\/\/[^:/]*:)[^@/]*@/, '$1********@') : '';
  const detail = (error as Error).message;
  if (isTaskqError(error) && detail.includes('check that it runs')) return error;
  return new TaskqError(
    ErrorCodes.BROKER_UNAVAILABLE,
    `Cannot reach the broker ${url} (${detail}): check that the server runs and that TASKQ_BROKER_URL / \`broker\` points at it.`,
    { cause: error },
  );
}

/** Parses a whole-number flag, naming the flag when it is not one. */
export function intFlag(flag: string) {
  return (value: string): number => {
    if (!/^[+-]?\d+$/.test(value.trim())) {
      throw new TaskqError(
        ErrorCodes.CONFIG,
        `Invalid taskq configuration:\n  - ${flag} "${value}" is not a whole number, e.g. ${flag} 4.`,
      );
    }
    return Number(value);
  };
}

/**
 * A client for the commands that use the client API (cancel, pause, dead letters…), its runtime connected and the
 * broker checked. Only `signing` commands (those that enqueue) need the real secret key. Close it with `q.close()`.
 */
export async function openClient(
  flags: CommonFlags,
  options: { signing: boolean },
): Promise<{ q: Taskq; runtime: Runtime; config: ResolvedConfig }> {
  const { options: loaded, config } = await loadCliConfig(flags);
  const secretKey = options.signing || config.secretKey ? {} : { secretKey: UNUSED_KEY };
  const q = new Taskq({ ...loaded, ...secretKey, logLevel: 'silent' });
  try {
    const runtime = await q.runtime();
    await runtime.broker.ping();
    return { q, runtime, config };
  } catch (error) {
    await q.close().catch(() => undefined);
    throw asUnavailable(error, config);
  }
}

/**
 * Bad arguments (conflicting flags, an unknown id, a bad --since or cursor) are usage errors: commander prints
 * the message and the binary exits with 2, without a stack trace.
 */
export function usageErrors<A extends unknown[]>(command: Command, action: (...args: A) => Promise<void>) {
  return async (...args: A): Promise<void> => {
    try {
      await action(...args);
    } catch (error) {
      if (isTaskqError(error, ErrorCodes.INVALID_ARGUMENT)) command.error(`taskq: ${error.message}`);
      throw error;
    }
  };
}

/** An INVALID_ARGUMENT error: `usageErrors` turns it into exit code 2. */
export function usage(message: string): TaskqError {
  return new TaskqError(ErrorCodes.INVALID_ARGUMENT, message);
}
