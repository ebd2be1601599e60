export * from './schedule-store.js';
export * from './memory-schedule-store.js';
export * from './schedule-store-suite.js';
