import type { Migration } from './migration.js';
import { initial } from './001-initial.js';
import { taskExpiry } from './002-task-expiry.js';
import { taskSearch } from './003-task-search.js';
import { failureIndexes } from './004-failure-indexes.js';
import { jobControl } from './005-job-control.js';
import { keyedLimits } from './006-keyed-limits.js';

/** Numbered, forward-only. Append new migrations; never edit an applied one. */
export const MIGRATIONS: readonly Migration[] = [
  initial,
  taskExpiry,
  taskSearch,
  failureIndexes,
  jobControl,
  keyedLimits,
];
