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
import { copyFile, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
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

/** What a staging copied, by path, size and time: the same stamp, nothing to copy again. */
async function stampOf(modelDir: string): Promise<string> {
  const parts: [string, number, number][] = [];
  for (const dir of parseModelDirs(modelDir)) {
    for (const f of ['model.json', 'weights.bin', 'perplexity.svg']) {
      const s = await stat(join(dir, f)).catch(() => null);
      if (s) parts.push([resolve(dir, f), s.size, s.mtimeMs]);
    }
  }
  return JSON.stringify(parts);
}
const STAMP = '.models-staged';

/** `stageModels`, unless the folders are unchanged since the last staging into `assetsDir` (then nothing is copied). */
export async function stageIfChanged(modelDir: string, assetsDir = ASSETS_DIR): Promise<{ index: ModelsIndex; copied: boolean }> {
  const stamp = await stampOf(modelDir);
  // Beside the assets folder, never uploaded with it (it names the deploying machine's paths).
  const stampFile = join(dirname(assetsDir), STAMP);
  if (stamp !== '[]' && (await readFile(stampFile, 'utf8').catch(() => null)) === stamp) {
    const index = await readFile(join(assetsDir, 'models', MODELS_INDEX), 'utf8')
      .then((t) => JSON.parse(t) as ModelsIndex)
      .catch(() => null);
    if (index) return { index, copied: false };
  }
  await rm(stampFile, { force: true });
  const index = await stageModels(modelDir, assetsDir);
  await writeFile(stampFile, stamp);
  return { index, copied: true };
}

/** A process's parent (Linux: /proc/PID/stat's fourth field; 0 where it cannot be read). */
async function parentOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return Number(/\) \S (\d+)/.exec(stat)?.[1] ?? 0);
}

/**
 * The wrangler processes this runs under as their [build] command, nearest first (Linux: /proc):
 * wrangler's own, its launcher (bin/wrangler.js, which exits 0 when its child is killed), and
 * `npm exec wrangler` where npx started it.
 */
async function wranglerAncestors(): Promise<number[]> {
  const found: number[] = [];
  let pid = process.ppid;
  for (let depth = 0; depth < 6 && pid > 1; depth++) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (/wrangler/.test(cmdline)) found.push(pid);
    pid = await parentOf(pid);
  }
  return found;
}

/** Does process `pid` have children besides the chain that leads to `self`? (Linux: /proc.) */
async function hasChildren(pid: number, self: number): Promise<boolean> {
  const chain = new Set<number>();
  for (let p = self; p > 1 && p !== pid; ) {
    chain.add(p);
    p = await parentOf(p);
  }
  const children = (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '')).split(/\s+/).filter(Boolean).map(Number);
  return children.some((c) => !chain.has(c));
}

/**
 * wrangler's [build] command: stage $MODEL_DIR (else the shipped model) and say so; one line and
 * exit 1 on a bad model. wrangler dev runs it twice at every start (once before, and once more
 * when its file watcher is ready): the second finds the stamp of the first and copies nothing.
 */
async function main(): Promise<void> {
  const modelDir = DEFAULT_MODEL_DIR;
  try {
    const { index, copied } = await stageIfChanged(modelDir);
    const staged = join(ASSETS_DIR, 'models');
    console.log(
      copied
        ? `deeprnn: the Worker will serve ${index.models.map((m) => m.name).join(', ')} (from ${modelDir}, copied into ${staged}; set MODEL_DIR to serve others)`
        : `deeprnn: the Worker's models are as staged in ${staged} (${index.models.map((m) => m.name).join(', ')}, from ${modelDir})`,
    );
  } catch (e) {
    console.error(`deeprnn: cannot stage the models for the Worker: ${(e as Error).message}`);
    // So that our line is all the user reads (wrangler would print the failed command's error
    // object, stack and all), wrangler is stopped here — before it has started anything of its own
    // (its first build): SIGKILL, outermost first, as SIGINT and SIGTERM make it exit 0, which
    // would read as a success. Later (wrangler dev's workerd running) it reports the failure itself.
    const chain = await wranglerAncestors();
    if (chain.length > 0 && !(await hasChildren(chain[0], process.pid))) for (const pid of chain.reverse()) process.kill(pid, 'SIGKILL');
    process.exit(1);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
