import { MemoryBroker, MemoryScheduleStore, MemoryStore } from '@taskq/core';
import { runBrokerSuite, runResultStoreSuite, runScheduleStoreSuite } from '../src/index.js';

const capabilities = new MemoryBroker({ queue: 'probe', retrySeconds: 1 }).capabilities;

runBrokerSuite({
  name: 'MemoryBroker',
  capabilities,
  // One MemoryBroker per queue, so two consumers of a queue share it (as the memory: URL does).
  create: (() => {
    const byQueue = new Map<string, MemoryBroker>();
    return async (options) => {
      const existing = byQueue.get(options.queue);
      if (existing && !existing.closed) return existing;
      const broker = new MemoryBroker(options);
      byQueue.set(options.queue, broker);
      return broker;
    };
  })(),
});

runResultStoreSuite({
  name: 'MemoryStore',
  capabilities: new MemoryStore().capabilities,
  create: async () => new MemoryStore(),
});

runScheduleStoreSuite({ name: 'MemoryScheduleStore', create: async () => new MemoryScheduleStore() });
runScheduleStoreSuite({ name: 'MemoryStore (result store with schedules)', create: async () => new MemoryStore() });
