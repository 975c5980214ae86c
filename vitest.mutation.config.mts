import { defineConfig } from 'vitest/config';

// The suites `npm run test:mutation` runs against each mutant (StrykerJS, stryker.config.mjs): the
// ones that exercise the mutated files in this process — not the browser, workerd or GPU suites,
// which test other rooms and take minutes each.
export default defineConfig({
  test: {
    include: ['test/shared/**/*.test.ts', 'test/edge/app.test.ts', 'test/trainer/train.test.ts', 'test/trainer/options.test.ts'],
    exclude: ['node_modules/**'],
    testTimeout: 60_000,
  },
});
