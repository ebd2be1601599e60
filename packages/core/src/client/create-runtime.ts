import { randomBytes } from 'node:crypto';
import { createBroker, createStore, schemeOf } from '../adapters.js';
import { BaseBroker, limitFor, type Broker, type EnqueueOptions } from '../broker/broker.js';
import type { ResolvedConfig } from '../config/config.js';
import { ErrorCodes, TaskqError } from '../errors.js';
import type { TaskqEmitter } from '../events.js';
import { consoleLogger } from '../logger.js';
import { loadSerializer } from '../serialize/load.js';
import { codecFromRecipe } from '../signing/package-codec.js';
import { MemoryStore } from '../store/memory-store.js';
import { BaseResultStore, type ResultStore } from '../store/result-store.js';
import type { TaskMessage } from '../task/task.js';
import type { Runtime } from '../cluster/runtime.js';

/** A per-process key for the memory broker, whose packages never leave the process. */
const ephemeralKey = randomBytes(32).toString('hex');

/** Builds the runtime from config: connects the broker and store, prepares signing. */
export async function createRuntime(config: ResolvedConfig, events: TaskqEmitter): Promise<Runtime> {
  const logger = config.logger ?? consoleLogger(config.logLevel);
  const serializer = await loadSerializer(config.serializer);
  const brokerUrl = typeof config.broker === 'string' ? config.broker : null;
  const inProcess = brokerUrl !== null && schemeOf(brokerUrl) === 'memory';
  const secretKey = config.secretKey ?? (inProcess || config.sync ? ephemeralKey : undefined);
  if (secretKey === undefined) {
    throw new TaskqError(
      ErrorCodes.NO_SECRET_KEY,
      'No secret key: set `secretKey` in the config (or TASKQ_SECRET_KEY) to a long random string shared by every ' +
        'process that enqueues or runs tasks, e.g. `node -e "console.log(crypto.randomBytes(32).toString(\'hex\'))"`.',
    );
  }
  const codec = codecFromRecipe(
    { secretKey, salt: config.name, compress: config.compress, maxAgeSeconds: config.maxAge },
    serializer,
  );
  const callTimeoutMs = config.brokerTimeout * 1000;
  const brokers = new Map<string, Broker>();
  const brokerFor = async (queue: string): Promise<Broker> => {
    const existing = brokers.get(queue);
    if (existing && !existing.closed) return existing;
    if (brokerUrl === null) {
      if (queue === config.cluster) return config.broker as Broker;
      throw new TaskqError(
        ErrorCodes.CONFIG,
        `Routing to queue "${queue}" needs \`broker\` as a URL (a broker instance serves one queue).`,
      );
    }
    const broker = await createBroker(brokerUrl, { queue, retrySeconds: config.retry, callTimeoutMs });
    if (broker instanceof BaseBroker) broker.callTimeoutMs = callTimeoutMs;
    brokers.set(queue, broker);
    return broker;
  };
  const broker = await brokerFor(config.cluster);
  const store = await resolveStore(config, brokerUrl);
  // Instances the caller built keep their own bound; the ones built from URLs take `brokerTimeout`.
  if (store instanceof BaseResultStore && typeof config.store !== 'object') store.callTimeoutMs = callTimeoutMs;
  const statsSink = broker.capabilities.stats ? broker : store.capabilities.stats ? store : null;
  return {
    config,
    broker,
    store,
    serializer,
    codec,
    events,
    logger,
    brokerFor,
    stats: statsSink,
    async close() {
      // Close only what this runtime created from URLs; instances belong to the caller.
      if (brokerUrl !== null) await Promise.all([...brokers.values()].map((b) => b.close()));
      if (typeof config.store !== 'object' && !store.closed) await store.close();
    },
    async send(message: TaskMessage, options: { delayMs?: number } = {}) {
      const queue = message.cluster ?? config.cluster;
      const target = await brokerFor(queue);
      const enqueueOptions: EnqueueOptions = {};
      if (options.delayMs) enqueueOptions.delayMs = options.delayMs;
      if (message.priority !== undefined) enqueueOptions.priority = message.priority;
      const limit = limitFor(config.limits, message, queue);
      if (limit !== undefined) enqueueOptions.limit = limit;
      await target.enqueue(codec.pack(message), enqueueOptions);
    },
  };
}

/** The store: as configured, else the broker's own package when it keeps results, else memory. */
async function resolveStore(config: ResolvedConfig, brokerUrl: string | null): Promise<ResultStore> {
  if (config.store !== undefined && typeof config.store !== 'string') return config.store;
  const url = config.store ?? brokerUrl;
  if (url !== null) {
    const store = await createStore(url, { namespace: config.name });
    if (store) return store;
    if (config.store !== undefined) {
      throw new TaskqError(ErrorCodes.CONFIG, `\`store\` "${config.store}" names a package that keeps no results.`);
    }
  }
  return new MemoryStore();
}
