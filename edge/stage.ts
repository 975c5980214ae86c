/**
 * Workers serve the models of MODEL_DIR without any source edit: before `wrangler dev` or
 * `wrangler deploy`, the folders are checked as `npm start` checks them (edge/node.ts) and copied
 * into the static assets (build/web/models/), outside the Worker's code bundle — assets allow
 * 25 MiB per file, where the bundle allows 3 MiB (free) or 10 MiB (paid) compressed. The Worker
 * fetches them from its ASSETS binding once per isolate and checks them again (SHA-256, finite
 * values, shapes) before serving (edge/worker.ts). Node only: this runs on the deploying machine.
 *
 * Run as a program (`node --import tsx edge/stage.ts`) it is wrangler.toml's [build] command, so
 * a plain `npx wrangler dev`, `npx wrangler deploy` (`--dry-run` too) and Cloudflare's
 * git-connected builds stage MODEL_DIR (unset: the shipped model) and say what goes out.
 */
import { copyFile, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_MODEL_DIR } from '../shared/platform/node.ts';
import { loadModelFolders } from './node.ts';
import { parseModelDirs } from './registry.ts';
import { MODELS_INDEX, type ModelsIndex } from './worker-models.ts';

/** Where wrangler.toml's [assets] directory is, and the models' folder inside it. */
export const ASSETS_DIR = fileURLToPath(new URL('../build/web/', import.meta.url));
/** Cloudflare's limit on one static asset file. */
export const MAX_ASSET_BYTES = 25 * 1024 * 1024;

/**
 * Check the folders of `modelDir` (MODEL_DIR's syntax) and copy them into `assetsDir`/models,
 * replacing what an earlier run put there. Returns the index written.
 */
export async function stageModels(modelDir: string, assetsDir = ASSETS_DIR, maxFileBytes = MAX_ASSET_BYTES): Promise<ModelsIndex> {
  const dirs = parseModelDirs(modelDir);
  const artifacts = await loadModelFolders(dirs);
  const out = join(assetsDir, 'models');
  // Built beside the assets folder (never uploaded with it, even if this run dies), then swapped
  // in: a Worker already serving from `out` (another wrangler dev) never sees it half-written.
  const next = join(dirname(assetsDir), `.models-next-${process.pid}`);
  await rm(next, { recursive: true, force: true });
  const index: ModelsIndex = { models: [] };
  for (const [i, a] of artifacts.entries()) {
    const files = ['model.json', 'weights.bin', ...(a.files.plotSvg !== undefined ? ['perplexity.svg'] : [])];
    for (const f of files) {
      const size = (await stat(join(dirs[i], f))).size;
      if (size > maxFileBytes) {
        throw new Error(
          `MODEL_DIR: ${join(dirs[i], f)} is ${(size / 2 ** 20).toFixed(1)} MiB; a Workers static asset may be at most ${(maxFileBytes / 2 ** 20).toFixed(0)} MiB (export an int8 rendition: deeprnn export --model ${dirs[i]} --dtype int8 --out DIR)`,
        );
      }
    }
    const folder = String(i);
    await mkdir(join(next, folder), { recursive: true });
    for (const f of files) await copyFile(join(dirs[i], f), join(next, folder, f));
    index.models.push({ name: a.model.name, folder, plot: a.files.plotSvg !== undefined });
  }
  await writeFile(join(next, MODELS_INDEX), JSON.stringify(index, null, 2));
  const old = join(dirname(assetsDir), `.models-old-${process.pid}`);
  await mkdir(assetsDir, { recursive: true });
  await rename(out, old).catch(() => {}); // none yet
  await rename(next, out);
  await rm(old, { recursive: true, force: true });
  return index;
}

/** wrangler's [build] command: stage $MODEL_DIR (else the shipped model) and say so; one line and exit 1 on a bad model. */
async function main(): Promise<void> {
  const modelDir = DEFAULT_MODEL_DIR;
  try {
    const index = await stageModels(modelDir);
    console.log(
      `deeprnn: the Worker will serve ${index.models.map((m) => m.name).join(', ')} (from ${modelDir}, copied into ${join(ASSETS_DIR, 'models')}; set MODEL_DIR to serve others)`,
    );
  } catch (e) {
    console.error(`deeprnn: cannot stage the models for the Worker: ${(e as Error).message}`);
    process.exit(1);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
