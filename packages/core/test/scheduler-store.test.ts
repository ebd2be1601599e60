import { describe, expect, it } from 'vitest';
import { isScheduleStore, MemoryScheduleStore, runScheduleStoreSuite } from '../src/scheduler/index.js';

runScheduleStoreSuite('MemoryScheduleStore', async () => new MemoryScheduleStore(), { describe, it });

describe('isScheduleStore', () => {
  it('accepts a schedule store and rejects other objects', () => {
    expect(isScheduleStore(new MemoryScheduleStore())).toBe(true);
    expect(isScheduleStore({ createSchedule() {} })).toBe(false);
    expect(isScheduleStore(null)).toBe(false);
  });
});
