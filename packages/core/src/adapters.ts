import type { Broker, BrokerFactory, BrokerFactoryOptions } from './broker/broker.js';
import { memoryBrokerFactory } from './broker/memory-broker.js';
import { ErrorCodes, TaskqError } from './errors.js';
import { importOptional } from './util/import-optional.js';
import { memoryStoreFactory } from './store/memory-store.js';
import type { ResultStore, StoreFactory, StoreFactoryOptions } from './store/result-store.js';

/**
 * `broker: 'scheme://…'` resolves to the installed adapter package. Each
 * adapter package exports `brokerFactory` (and `storeFactory` when it can
 * also keep results), so swapping brokers is config only.
 */
const PACKAGES: Record<string, string> = {
  redis: '@taskq/redis',
  rediss: '@taskq/redis',
  'redis+cluster': '@taskq/redis',
  'rediss+cluster': '@taskq/redis',
  sqs: '@taskq/sqs',
  mongodb: '@taskq/mongo',
  'mongodb+srv': '@taskq/mongo',
  ironmq: '@taskq/ironmq',
  disque: '@taskq/disque',
  sqlite: '@taskq/orm',
  postgres: '@taskq/orm',
  postgresql: '@taskq/orm',
  mysql: '@taskq/orm',
  mariadb: '@taskq/orm',
};

interface AdapterModule {
  brokerFactory?: BrokerFactory;
  storeFactory?: StoreFactory;
}

export function schemeOf(url: string): string {
  const match = /^([a-z][a-z0-9+.-]*):/i.exec(url);
  if (!match?.[1]) {
    throw new TaskqError(
      ErrorCodes.CONFIG,
      `"${url}" is not a broker or store URL: use e.g. redis://127.0.0.1:6379, postgres://…, sqlite:./taskq.sqlite or memory:.`,
    );
  }
  return match[1].toLowerCase();
}

async function loadAdapter(url: string): Promise<AdapterModule> {
  const scheme = schemeOf(url);
  if (scheme === 'memory') return { brokerFactory: memoryBrokerFactory, storeFactory: memoryStoreFactory };
  const packageName = PACKAGES[scheme];
  if (packageName === undefined) {
    throw new TaskqError(
      ErrorCodes.CONFIG,
      `Unknown URL scheme "${scheme}:" — taskq knows ${['memory', ...Object.keys(PACKAGES)].join(', ')}.`,
    );
  }
  return importOptional<AdapterModule>(packageName, `The "${scheme}:" URL`);
}

export async function createBroker(url: string, options: BrokerFactoryOptions): Promise<Broker> {
  const adapter = await loadAdapter(url);
  if (!adapter.brokerFactory) {
    throw new TaskqError(ErrorCodes.CONFIG, `The package for "${schemeOf(url)}:" provides no broker.`);
  }
  return adapter.brokerFactory.create(url, options);
}

/** Resolves a store URL; `null` when the adapter keeps no results (the caller then falls back). */
export async function createStore(url: string, options: StoreFactoryOptions): Promise<ResultStore | null> {
  const adapter = await loadAdapter(url);
  return adapter.storeFactory ? adapter.storeFactory.create(url, options) : null;
}
