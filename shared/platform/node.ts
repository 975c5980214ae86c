/**
 * The Node adapter of `shared/`: model artifacts on disk. The only file in `shared/` that touches
 * Node built-ins; Workers and browsers bring the same bytes by import or `fetch` instead.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import v8 from 'node:v8';
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { decodeArtifact, encodeArtifact, MODEL_JSON, WEIGHTS_BIN, type WeightsDtype } from '../artifact.ts';
import { DEFAULT_MODEL } from '../contract.ts';
import { ArtifactError } from '../errors.ts';
import type { Model, StateBits } from '../model.ts';
import { generationKernel, hasRelaxedSimd, instantiateKernel, type Kernel, type KernelFlavor } from '../kernel/kernel.ts';

async function readOrFail(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ArtifactError('missing_file', `${path} does not exist`);
    if (code === 'EISDIR') throw new ArtifactError('missing_file', `${path} is a directory, not a file`);
    throw new ArtifactError('unreadable_file', `cannot read ${path}: ${(e as Error).message}`);
  }
}

/**
 * Load and fully validate the artifact in `dir`, keeping the two files as read (a server hands
 * them on to browsers that generate in the page).
 */
export async function readArtifactDir(dir: string): Promise<{ model: Model; files: { modelJson: string; weights: Uint8Array } }> {
  const modelJson = new TextDecoder().decode(await readOrFail(join(dir, MODEL_JSON)));
  const weights = await readOrFail(join(dir, WEIGHTS_BIN));
  try {
    return { model: await decodeArtifact({ modelJson, weights }), files: { modelJson, weights } };
  } catch (e) {
    if (e instanceof ArtifactError) throw new ArtifactError(e.code, `${resolve(dir)}: ${e.message}`);
    throw e;
  }
}

/** Load and fully validate the artifact in `dir`. */
export async function readModelDir(dir: string): Promise<Model> {
  return (await readArtifactDir(dir)).model;
}

/** Write then rename, so a reader sees the old file or the new one, never half of one. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/**
 * Write `model` as an artifact in `dir`. weights.bin goes first and model.json last: a crash in
 * between leaves a model.json whose SHA-256 no longer matches, which loading refuses.
 */
export async function writeModelDir(dir: string, model: Model, dtype: WeightsDtype = 'float32', stateBits: StateBits = 16): Promise<void> {
  await mkdir(dir, { recursive: true });
  const files = await encodeArtifact({ ...model, name: model.name || basename(resolve(dir)) }, dtype, stateBits);
  await writeFileAtomic(join(dir, WEIGHTS_BIN), files.weights);
  await writeFileAtomic(join(dir, MODEL_JSON), files.modelJson);
}

/**
 * The model `npm start` and `deeprnn generate` use unless told otherwise: the best model shipped
 * that writes real text (raw characters, sized by the rule on the four public-domain books), in
 * its int8 rendition, as Workers and browsers use, so one seed gives one text in every runtime.
 * d2l's 28-character model is one MODEL_DIR away: models/timemachine-deep-lstm-int8.
 */
export const DEFAULT_MODEL_DIR = process.env.MODEL_DIR || resolve(new URL(`../../${DEFAULT_MODEL}`, import.meta.url).pathname);

/** Where `npm run build:kernel` writes the kernel's builds. */
const KERNEL_BUILDS = new URL('../kernel/build/', import.meta.url);

/** The generation build this process chose (`loadKernelNode('simd')`), compiled. */
let generationModule: WebAssembly.Module | undefined;

/**
 * The kernel for Node. `simd` (the default) is the generation build that Workers and browsers run
 * too, so generated text is bit-identical everywhere: kernel-dotadd.wasm or kernel-dot.wasm where
 * the engine has relaxed SIMD (their floats are the portable build's; only the 7-bit integer
 * products use the relaxed dot product, exact; `generationKernel` picks between them), else the
 * portable kernel.wasm — `portable` asks for that one alone.
 * `relaxed-simd` fuses multiply-adds and shares its memory with worker threads: the training
 * build. Node 20's V8 has relaxed SIMD behind a flag, switched on here before compiling;
 * `fastest` takes it when that works. `dir`: the folder of builds (a URL ending in /).
 */
export async function loadKernelNode(flavor: KernelFlavor | 'fastest' | 'portable' = 'simd', dir = KERNEL_BUILDS): Promise<Kernel> {
  const read = async (name: string): Promise<Uint8Array<ArrayBuffer>> => {
    try {
      return new Uint8Array(await readFile(new URL(name, dir)));
    } catch {
      throw new ArtifactError('missing_kernel', `the WebAssembly kernel ${name} is not built: run "npm run build:kernel" (npm install does it)`);
    }
  };
  const relaxed = () => {
    if (!hasRelaxedSimd()) v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
    return hasRelaxedSimd();
  };
  /** A build this engine can run, compiled; one that does not compile is damaged, never skipped. */
  const compile = async (name: string): Promise<WebAssembly.Module> => {
    try {
      return await WebAssembly.compile(await read(name));
    } catch (e) {
      if (e instanceof ArtifactError) throw e;
      throw new ArtifactError('missing_kernel', `the WebAssembly kernel ${name} is damaged (${(e as Error).message}): run "npm run build:kernel"`);
    }
  };
  if (flavor === 'simd') {
    // The choice (three compilations and their self-tests) is made once per process; later kernels instantiate its module.
    if (generationModule) return instantiateKernel(generationModule);
    const dot = await read('kernel-dot.wasm');
    relaxed(); // switches Node 20's flag on before any relaxed build compiles
    const kernel = await generationKernel({ portable: await read('kernel.wasm'), dot, dotAdd: await read('kernel-dotadd.wasm') });
    generationModule = kernel.module;
    return kernel;
  } else if (flavor !== 'portable') {
    if (relaxed()) return instantiateKernel(await compile('kernel-relaxed.wasm'));
    if (flavor === 'relaxed-simd') throw new ArtifactError('missing_kernel', 'this Node.js cannot run relaxed SIMD');
  }
  return instantiateKernel(await compile('kernel.wasm'));
}

/**
 * A worker thread running a TypeScript module: a small JavaScript bootstrap registers tsx in
 * the thread, then imports the module (worker threads do not inherit the main thread's loader).
 */
export function tsWorker(module: URL, options: WorkerOptions = {}): Worker {
  return new Worker(new URL('./ts-worker.mjs', import.meta.url), { ...options, argv: [module.href] });
}
