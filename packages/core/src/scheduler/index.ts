export { isValidTimeZone } from './zoned-time.js';
export { slotAfter, slotAtOrAfter, nextRunAfter, upcomingSlots, type SlotRule } from './next-run.js';
export * from './validate.js';
export * from './scheduler.js';
export * from './schedules.js';
export { applyIntendedDate } from './task-args.js';
export * from './cluster-part.js';
export * from './schedule-api.js';
