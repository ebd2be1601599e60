import { describe, expect, it } from 'vitest';
import { MemoryScheduleStore } from '../src/store/memory-schedule-store.js';
import { isScheduleStore } from '../src/store/schedule-store.js';
import { MemoryStore } from '../src/store/memory-store.js';

// The schedule-store conformance suite runs against the memory stores in @taskq/conformance's own tests.
describe('isScheduleStore', () => {
  it('accepts a schedule store and rejects other objects', () => {
    expect(isScheduleStore(new MemoryScheduleStore())).toBe(true);
    expect(isScheduleStore(new MemoryStore())).toBe(true);
    expect(isScheduleStore({ createSchedule() {} })).toBe(false);
    expect(isScheduleStore(null)).toBe(false);
  });
});
