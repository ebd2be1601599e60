import { describe, expect, it } from 'vitest';
import { isScheduleStore, MemoryScheduleStore, runScheduleStoreSuite } from '../src/scheduler/index.js';
import { MemoryStore } from '../src/store/memory-store.js';

runScheduleStoreSuite('MemoryScheduleStore', async () => new MemoryScheduleStore(), { describe, it });
runScheduleStoreSuite('MemoryStore (result store with schedules)', async () => new MemoryStore(), { describe, it });

describe('isScheduleStore', () => {
  it('accepts a schedule store and rejects other objects', () => {
    expect(isScheduleStore(new MemoryScheduleStore())).toBe(true);
    expect(isScheduleStore(new MemoryStore())).toBe(true);
    expect(isScheduleStore({ createSchedule() {} })).toBe(false);
    expect(isScheduleStore(null)).toBe(false);
  });
});
