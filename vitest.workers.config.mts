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
  // CPU_MS: a paid plan's budget, so the cases shared with Node see whole generations; the free
  // plan's 10 ms (wrangler.toml) and its slices are tested against plain `wrangler dev` (test/e2e/wrangler.test.ts).
  plugins: [cloudflareTest({ main: './edge/worker.ts', wrangler: { configPath: './wrangler.toml' }, miniflare: { bindings: { CPU_MS: '30000' } } })],
  test: { include: ['test/workers/**/*.test.ts'], testTimeout: 60_000, provide: { nodeTexts: await nodeSampleTexts() } },
});
