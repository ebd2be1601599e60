import type { BrokerFactory, StoreFactory } from '@taskq/core';
import { SQL_SCHEMES } from './options.js';
import { SqlBroker } from './sql-broker.js';
import { SqlStore } from './sql-store.js';

export { SqlBroker, SQL_BROKER_CAPABILITIES, type SqlBrokerOptions } from './sql-broker.js';
export { SqlStore, SQL_STORE_CAPABILITIES, type SqlStoreOptions } from './sql-store.js';
export { migrate, type MigrateResult } from './migrator.js';
export type { Migration, MigrationContext } from './migrations/migration.js';
export { MIGRATIONS } from './migrations/index.js';
export { connect, SqlConnection, type SqlConnectionSource, type SqlConnectOptions } from './connection.js';
export { parseUrl, SQL_SCHEMES, type SqlDialectName, type SqlOptions } from './options.js';

/** `broker: 'sqlite:./taskq.sqlite' | 'postgres://…' | 'mysql://…' | 'mariadb://…'` resolves here. */
export const brokerFactory: BrokerFactory = {
  schemes: SQL_SCHEMES,
  create: (url, options) => SqlBroker.open({ connection: url, ...options }),
};

/** Results (and cluster stats) in the same database; a broker and store on one URL share one pool. */
export const storeFactory: StoreFactory = {
  schemes: SQL_SCHEMES,
  create: (url) => SqlStore.open({ connection: url }),
};
