import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Cluster tests run real worker threads; one file at a time keeps 2-core machines honest.
    fileParallelism: false,
  },
});
