import { defineConfig } from 'vitest/config';

// The suites `npm run test:mutation` runs against each mutant (StrykerJS, stryker.config.mjs): the
// unit suites of the mutated files, which run in seconds — not the servers, browsers, workerd or
// GPU, whose start-up per mutant would make a run take days.
export default defineConfig({
  test: {
    include: [
      'test/shared/sampling.test.ts',
      'test/shared/decoding.test.ts',
      'test/shared/generate.test.ts',
      'test/shared/continuation.test.ts',
      'test/shared/constraint.test.ts',
      'test/shared/constrained-generation.test.ts',
      'test/shared/text.test.ts',
      'test/shared/contract.test.ts',
      'test/shared/artifact.test.ts',
      'test/trainer/options.test.ts',
      // The training loop's own suites: in process (the Trainer on a real engine and an output
      // folder); their tests that run the CLI in a child process cover nothing in this one, so
      // StrykerJS, which runs per mutant only the tests that reach it, runs them once only.
      'test/trainer/trainer.test.ts',
      'test/trainer/train.test.ts',
      'test/trainer/library.test.ts',
      'test/trainer/authors.test.ts',
    ],
    exclude: ['node_modules/**'],
    testTimeout: 60_000,
  },
});
