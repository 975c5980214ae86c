import { defineConfig } from 'vitest/config';

// Node tests. The Workers tests (test/workers) run inside workerd: vitest.workers.config.mts.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/workers/**', 'node_modules/**'],
    testTimeout: 60_000,
  },
});
