// The Workers tests run inside workerd, against the real entry point (edge/worker.ts) with the
// bundled model and kernel, configured by wrangler.toml. The texts Node generates for the same
// requests are computed here, in Node, and handed to the tests to compare.
import { cloudflareTest } from '@cloudflare/vitest-pool-workers';
import { defineConfig } from 'vitest/config';
import { nodeSampleTexts } from './test/edge/samples.ts';

export default defineConfig({
  plugins: [cloudflareTest({ main: './edge/worker.ts', wrangler: { configPath: './wrangler.toml' } })],
  test: { include: ['test/workers/**/*.test.ts'], testTimeout: 60_000, provide: { nodeTexts: await nodeSampleTexts() } },
});
