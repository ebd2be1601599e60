import { afterAll, describe } from 'vitest';
import { runBrokerSuite, runResultStoreSuite, runScheduleStoreSuite } from '@taskq/conformance';
import { SQL_BROKER_CAPABILITIES, SQL_STORE_CAPABILITIES, SqlBroker, SqlStore, parseUrl } from '../src/index.js';
import { allDatabases, type TestDatabase } from './support/databases.js';
// @ts-expect-error -- a plain ESM module shared with the crash child
import { openHandle } from './support/tx-handles.mjs';

const databases = await allDatabases();

afterAll(async () => {
  for (const database of databases) await database.cleanup();
});

/** An empty store: one table prefix per file run, rows cleared before each test. */
async function emptyStore(url: string): Promise<SqlStore> {
  const store = await SqlStore.open({ connection: url });
  const { q, tables } = store.connection;
  for (const table of ['tasks', 'stats', 'schedules', 'control', 'control_sets', 'control_members'] as const)
    await q.deleteFrom(tables.name(table)).execute();
  return store;
}

/** The application's transaction for the broker suite: a different kind of handle on each dialect. */
function transactionFactory(database: TestDatabase) {
  const kind = { postgres: 'kysely-transaction', mariadb: 'mysql2-promise', sqlite: 'better-sqlite3' }[database.name];
  return async () => {
    const opened = (await (openHandle as (kind: string, target: string) => Promise<unknown>)(
      kind,
      parseUrl(database.url('broker_')).target,
    )) as { begin(): Promise<unknown>; commit(): Promise<void>; rollback(): Promise<void>; close(): Promise<void> };
    const handle = await opened.begin();
    return { handle, commit: opened.commit, rollback: opened.rollback, close: opened.close };
  };
}

for (const database of databases) {
  describe.skipIf(!database.enabled)(database.name, () => {
    runBrokerSuite({
      name: `SqlBroker on ${database.name}`,
      // PostgreSQL adds finished-task events (LISTEN/NOTIFY) and keyed limits; SQLite and MariaDB have neither.
      capabilities:
        database.name === 'postgres'
          ? { ...SQL_BROKER_CAPABILITIES, events: true, keyedLimits: true }
          : SQL_BROKER_CAPABILITIES,
      create: (options) => SqlBroker.open({ connection: database.url('broker_'), ...options }),
      transaction: transactionFactory(database),
    });

    runResultStoreSuite({
      name: `SqlStore on ${database.name}`,
      capabilities: SQL_STORE_CAPABILITIES,
      create: () => emptyStore(database.url('store_')),
    });

    runScheduleStoreSuite({
      name: `SqlStore on ${database.name}`,
      create: async () => {
        const store = await emptyStore(database.url('schedules_'));
        return { store, cleanup: () => store.close() };
      },
    });
  });
}
