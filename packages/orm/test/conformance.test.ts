import { afterAll, describe } from 'vitest';
import { runBrokerSuite, runResultStoreSuite, runScheduleStoreSuite } from '@taskq/conformance';
import { SQL_BROKER_CAPABILITIES, SQL_STORE_CAPABILITIES, SqlBroker, SqlStore } from '../src/index.js';
import { allDatabases } from './support/databases.js';

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

for (const database of databases) {
  describe.skipIf(!database.enabled)(database.name, () => {
    runBrokerSuite({
      name: `SqlBroker on ${database.name}`,
      // PostgreSQL adds finished-task events (LISTEN/NOTIFY); SQLite and MariaDB have none.
      capabilities:
        database.name === 'postgres' ? { ...SQL_BROKER_CAPABILITIES, events: true } : SQL_BROKER_CAPABILITIES,
      create: (options) => SqlBroker.open({ connection: database.url('broker_'), ...options }),
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
