import { defineConfig } from 'vitest/config';

export default defineConfig({
  // files share the database servers with other helpers' runs: keep ours one at a time
  test: { testTimeout: 60_000, hookTimeout: 60_000, fileParallelism: false },
});
