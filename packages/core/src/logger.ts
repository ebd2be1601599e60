/**
 * A pluggable logger. Fields are structured data for log shippers; the default prints them as key=value.
 * `logger` in the config also takes a pino-compatible logger (see {@link toLogger}).
 */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };

function formatFields(fields?: Record<string, unknown>): string {
  if (!fields) return '';
  return Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}=${typeof v === 'string' ? (/\s/.test(v) ? JSON.stringify(v) : v) : JSON.stringify(v)}`)
    .join('');
}

/** Human-readable lines on stderr: `12:00:01 [taskq] INFO message key=value`. */
export function consoleLogger(level: LogLevel = 'info', prefix = 'taskq'): Logger {
  const write = (lvl: Exclude<LogLevel, 'silent'>) => (message: string, fields?: Record<string, unknown>) => {
    if (RANK[lvl] < RANK[level]) return;
    const time = new Date().toISOString().slice(11, 19);
    process.stderr.write(`${time} [${prefix}] ${lvl.toUpperCase()} ${message}${formatFields(fields)}\n`);
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}

type PinoLogFn = (fields: Record<string, unknown>, message?: string) => void;

/**
 * A pino-compatible logger: pino, or anything with pino's call shape
 * `logger.warn(fields, message)` (fields first) and `child()`/`level`/`levels`.
 */
export interface PinoCompatibleLogger {
  debug: PinoLogFn;
  info: PinoLogFn;
  warn: PinoLogFn;
  error: PinoLogFn;
  child(bindings: Record<string, unknown>): unknown;
  level: string;
}

/**
 * True for pino and loggers shaped like it. Their `warn(message, fields)` would type-check as a taskq Logger but
 * log `fields` as a printf argument (dropped), so they are told apart by what pino has and a taskq Logger needs not.
 */
export function isPinoCompatible(value: unknown): value is PinoCompatibleLogger {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Record<string, unknown>;
  return (
    typeof candidate['child'] === 'function' &&
    typeof candidate['level'] === 'string' &&
    typeof candidate['levels'] === 'object' &&
    ['debug', 'info', 'warn', 'error'].every((level) => typeof candidate[level] === 'function')
  );
}

/** Calls a pino-compatible logger in its own order: `warn(fields, message)`, or `warn(message)` without fields. */
export function fromPino(pino: PinoCompatibleLogger): Logger {
  const write = (level: 'debug' | 'info' | 'warn' | 'error') => (message: string, fields?: Record<string, unknown>) => {
    if (fields === undefined) (pino[level] as unknown as (message: string) => void).call(pino, message);
    else pino[level].call(pino, fields, message);
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}

/** The config's `logger` as a taskq Logger: a pino-compatible logger is adapted, any other is used as is. */
export function toLogger(value: Logger | PinoCompatibleLogger): Logger {
  return isPinoCompatible(value) ? fromPino(value) : (value as Logger);
}
