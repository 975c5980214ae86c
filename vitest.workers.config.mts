// The Workers tests run inside workerd, against the real entry point (edge/worker.ts) with the
// bundled kernel, configured by wrangler.toml, serving two models staged into the static assets
// as `npm run dev:edge` stages them (edge/stage.ts). The texts Node generates for the same
// requests are computed here, in Node, and handed to the tests to compare.
import { cloudflareTest } from '@cloudflare/vitest-pool-workers';
import { defineConfig } from 'vitest/config';
import { stageModels } from './edge/stage.ts';
import { EDGE_MODEL_DIRS, nodeSampleTexts } from './test/edge/samples.ts';

await stageModels(EDGE_MODEL_DIRS);

export default defineConfig({
  plugins: [cloudflareTest({ main: './edge/worker.ts', wrangler: { configPath: './wrangler.toml' } })],
  test: { include: ['test/workers/**/*.test.ts'], testTimeout: 60_000, provide: { nodeTexts: await nodeSampleTexts() } },
});
