export * from './schedule-store.js';
export * from './memory-schedule-store.js';
export * from './schedule-store-suite.js';
export * from './zoned-time.js';
export * from './next-run.js';
export * from './validate.js';
