// npm run test:mutation — StrykerJS over the files whose mistakes a user would read as wrong text:
// sampling, beam search, the decode jobs and their validation, continuations, constraints, the contract, text
// and vocabulary, and the training loop. Not part of npm test (it takes tens of minutes); its
// scores per file are recorded in docs/testing.md. `MUTATE=shared/sampling.ts npm run
// test:mutation` runs one file.
const FILES = [
  'shared/sampling.ts',
  'shared/decode/beam-job.ts',
  'shared/decode/sampling-job.ts',
  'shared/decode/validate.ts',
  'shared/generate.ts',
  'shared/continuation.ts',
  'shared/constraint/automaton.ts',
  'shared/constraint/grammar.ts',
  'shared/constraint/regex.ts',
  'shared/decode/choice-job.ts',
  'shared/contract.ts',
  'shared/text.ts',
  'shared/vocab.ts',
  'trainer/train.ts',
];

export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutation.config.mts' },
  plugins: ['@stryker-mutator/vitest-runner'],
  mutate: process.env.MUTATE ? process.env.MUTATE.split(',') : FILES,
  coverageAnalysis: 'perTest',
  concurrency: 2,
  timeoutMS: 60_000,
  reporters: ['clear-text', 'progress', 'json'],
  jsonReporter: { fileName: 'test-output/mutation/report.json' },
  tempDirName: 'test-output/stryker-tmp',
  cleanTempDir: 'always',
  thresholds: { high: 90, low: 80, break: null },
  ignoreStatic: true,
};
