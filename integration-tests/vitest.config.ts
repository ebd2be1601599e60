import { defineConfig } from 'vitest/config';

// Whole clusters as child processes against real servers: long timeouts, one file at a time (2 cores).
export default defineConfig({
  test: { testTimeout: 180_000, hookTimeout: 60_000, fileParallelism: false },
});
