import { availableParallelism } from 'node:os';
import { z } from 'zod';
import type { Broker } from '../broker/broker.js';
import { ErrorCodes, TaskqError } from '../errors.js';
import { toLogger, type Logger, type LogLevel, type PinoCompatibleLogger } from '../logger.js';
import type { ErrorReporter } from '../reporter.js';
import type { ResultStore } from '../store/result-store.js';
import type { RetryPolicy } from '../task/task.js';
import { didYouMean } from '../util/closest.js';

/**
 * Every option taskq reads, validated in one place. Defaults follow Django Q's
 * Q_CLUSTER (the Django Q name is given where it differs).
 */
const seconds = z.number().positive();
const retryPolicy = z.object({
  backoff: z.enum(['fixed', 'exponential']),
  delayMs: z.number().nonnegative(),
  maxDelayMs: z.number().positive().optional(),
  jitter: z.number().min(0).max(1).optional(),
});

const isInstance = (method: string) => (value: unknown) =>
  typeof value === 'object' && value !== null && typeof (value as Record<string, unknown>)[method] === 'function';

export const configSchema = z
  .object({
    name: z
      .string()
      .min(1)
      .regex(/^[\w.-]+$/, 'use letters, digits, "_", "." or "-"')
      .default('default'),
    /** Queue this process works on and enqueues to by default (django-q2 `cluster_name`). Default: `name`. */
    cluster: z
      .string()
      .min(1)
      .regex(/^[\w.-]+$/)
      .optional(),
    secretKey: z.string().min(1).optional(),
    broker: z
      .union([z.string().min(1), z.custom<Broker>(isInstance('dequeue'), 'a Broker instance')])
      .default('sqlite:./taskq.sqlite'),
    store: z
      .union([z.string().min(1), z.custom<ResultStore>(isInstance('saveMany'), 'a ResultStore instance')])
      .optional(),
    tasks: z.array(z.string().min(1)).default([]),
    workers: z
      .number()
      .int()
      .min(1)
      .default(() => availableParallelism()),
    concurrency: z.number().int().min(1).default(1),
    recycle: z.number().int().min(0).default(500),
    maxHeapMb: z.number().positive().nullable().default(null),
    timeout: seconds.nullable().default(null),
    retry: seconds.default(60),
    /** Executions before a failing task is given up (0 = forever, Django Q's behaviour). See the README's "Retries". */
    maxAttempts: z.number().int().min(0).default(3),
    ackFailures: z.boolean().default(false),
    retryPolicy: retryPolicy.nullable().default(null),
    compress: z.boolean().default(false),
    maxAge: seconds.nullable().default(null),
    saveLimit: z.number().int().min(-1).default(250),
    saveLimitPer: z.enum(['group', 'name', 'func']).nullable().default(null),
    guardCycle: z.number().min(0.05).max(60).default(0.5),
    scheduler: z.boolean().default(true),
    catchUp: z.boolean().default(true),
    timezone: z.string().min(1).default('UTC'),
    sync: z.boolean().default(false),
    queueLimit: z.number().int().min(1).nullable().default(null),
    bulk: z.number().int().min(1).default(1),
    cached: z.union([z.boolean(), z.number().positive()]).default(false),
    stopTimeout: seconds.default(30),
    /** Longest wait for an unreachable broker or store on one call before TASKQ_BROKER_UNAVAILABLE / _STORE_. */
    brokerTimeout: seconds.default(10),
    leaseExtension: z.boolean().default(true),
    workerExecArgv: z.array(z.string()).default([]),
    logLevel: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
    logger: z
      .custom<Logger | PinoCompatibleLogger>(
        isInstance('info'),
        'a Logger ({debug, info, warn, error}) or a pino logger',
      )
      .transform(toLogger)
      .optional(),
    /** Module whose default export is a Serializer (loaded by every thread). Default: tagged JSON. */
    serializer: z.string().min(1).nullable().default(null),
    /** Reporter objects, or reporter names → options (`{ sentry: { dsn } }` loads @taskq/sentry; Django Q `error_reporter`). */
    errorReporters: z
      .union([
        z.array(z.custom<ErrorReporter>(isInstance('report'), 'an ErrorReporter')),
        z.record(
          z.string().regex(/^[a-z][a-z0-9-]*$/, 'a reporter name is a package suffix such as "sentry"'),
          z.record(z.string(), z.unknown()),
        ),
      ])
      .default([]),
    /** Serve Prometheus metrics from the cluster (needs @taskq/prometheus): a port, or `{ port, host, path }`. */
    metrics: z
      .union([
        z.number().int().min(0).max(65535),
        z
          .object({
            port: z.number().int().min(0).max(65535),
            host: z.string().min(1).default('127.0.0.1'),
            path: z.string().startsWith('/').default('/metrics'),
          })
          .strict(),
      ])
      .nullable()
      .default(null),
    label: z.string().default('taskq'),
    /**
     * Per-key concurrency and rate by task name (`'*'` for the whole queue) for tasks enqueued without their own
     * `limit` (brokers with the `keyedLimits` capability). Key: `func:<name>`, or `queue:<cluster>` for `'*'`.
     */
    limits: z
      .record(
        z.string().min(1),
        z
          .object({
            concurrency: z.number().int().min(1).optional(),
            rate: z
              .object({ max: z.number().int().min(1), perMs: z.number().int().min(1) })
              .strict()
              .optional(),
          })
          .strict()
          .refine((l) => l.concurrency !== undefined || l.rate !== undefined, 'give `concurrency`, `rate` or both'),
      )
      .default({}),
  })
  .strict();

export type TaskqOptions = z.input<typeof configSchema>;
export type ResolvedConfig = Omit<z.output<typeof configSchema>, 'queueLimit' | 'cluster' | 'metrics'> & {
  cluster: string;
  metrics: { port: number; host: string; path: string } | null;
  queueLimit: number;
  retryPolicy: RetryPolicy | null;
  logLevel: LogLevel;
};

const FIXES: Record<string, string> = {
  limits: "set `limits` to { taskName: { concurrency?: n, rate?: { max, perMs } } } ('*' for the whole queue)",
  name: 'set `name` to a short identifier such as "default" or "billing"',
  secretKey: 'set `secretKey` (or TASKQ_SECRET_KEY) to a long random string shared by every process of the cluster',
  workers: 'set `workers` to a whole number of threads, at least 1',
  timeout: 'set `timeout` to a number of seconds, or null for none',
  retry: 'set `retry` to the number of seconds before an unacknowledged task is delivered again',
  saveLimit: 'set `saveLimit` to N successes to keep, 0 for all, or -1 for none',
  errorReporters:
    'set `errorReporters` to reporter names with their options, e.g. { sentry: { dsn: "…" } }, ' +
    'or to an array of objects with report(error, task)',
  metrics: 'set `metrics` to a port number, or { port, host, path }, or null for none',
};

/** Validate and fill defaults. Throws TaskqError TASKQ_CONFIG_INVALID naming each bad option and its fix. */
export function resolveConfig(options: TaskqOptions = {}): ResolvedConfig {
  const parsed = configSchema.safeParse(options);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const option = issue.path.join('.') || '(options)';
      const fix = FIXES[String(issue.path[0])];
      if (issue.code === 'unrecognized_keys') {
        const prefix = issue.path.length > 0 ? `${issue.path.join('.')}.` : '';
        const known = issue.path.length === 0 ? Object.keys(configSchema.shape) : [];
        const named = issue.keys.map((k) => `\`${prefix}${k}\`${didYouMean(k, known, '`')}`);
        return `unknown option(s) ${named.join(', ')}: check the spelling against the @taskq/core README`;
      }
      return `\`${option}\`: ${issue.message}${fix ? ` — ${fix}` : ''}`;
    });
    throw new TaskqError(ErrorCodes.CONFIG, `Invalid taskq configuration:\n  - ${problems.join('\n  - ')}`);
  }
  const config = parsed.data;
  const queueLimit =
    config.queueLimit ?? Math.max(config.workers ** 2, config.workers * config.concurrency * 2, config.bulk);
  const metrics =
    typeof config.metrics === 'number' ? { port: config.metrics, host: '127.0.0.1', path: '/metrics' } : config.metrics;
  return { ...config, cluster: config.cluster ?? config.name, queueLimit, metrics };
}

/**
 * Where a broker cannot extend leases, a task running past `retry` would be
 * delivered twice; demand that `retry` exceeds `timeout` there (Django Q only warns).
 */
export function assertLeaseCoversTimeout(config: ResolvedConfig, canExtend: boolean): void {
  if (canExtend && config.leaseExtension) return;
  if (config.timeout === null || config.timeout >= config.retry) {
    const why = canExtend ? '`leaseExtension` is off' : 'this broker cannot extend leases';
    throw new TaskqError(
      ErrorCodes.CONFIG,
      `\`retry\` (${config.retry} s) must exceed \`timeout\` (${config.timeout ?? 'none'}) because ${why}: ` +
        'set `timeout` to less than `retry`, or raise `retry`.',
    );
  }
}

/** Config for printing: secrets masked. */
export function maskConfig(config: ResolvedConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    if (key === 'secretKey') out[key] = value ? '********' : undefined;
    else if (typeof value === 'string' && /^[a-z+]+:\/\/[^/]*:[^@/]*@/.test(value)) {
      out[key] = value.replace(/(\/\/[^:/]*:)[^@/]*@/, '$1********@');
    } else if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      out[key] = `[${(value as object).constructor.name}]`;
    } else out[key] = value;
  }
  return out;
}
