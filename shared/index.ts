/**
 * deeprnn as a library (`import { loadModel, generate } from 'deeprnn'`): load a model artifact
 * from a URL, a folder (Node) or its bytes, generate, stream and score — on the portable WebAssembly
 * kernel, the same arithmetic as the server, the CLI and the element, so the same seed gives the
 * same text. Runs in browsers, Workers and Node; nothing here imports a Node built-in (a folder
 * on disk is read through one imported on demand: model-source.ts).
 *
 *   const model = await loadModel('https://your-host/models/timemachine-deep-lstm');
 *   const { text } = generate(model, { prefix: 'time traveller', numChars: 100, temperature: 0.8 });
 */
import { decodeArtifact, type ArtifactFiles } from './artifact.ts';
import { readModelSource } from './model-source.ts';
import { BatchExecutor, runJob } from './batch.ts';
import type { GeneratedToken, GenerateRequest, GenerateResult, ScoreRequest, ScoreResult } from './contract.ts';
import { ScoreJob, validateScore } from './evaluate.ts';
import { outcomeOf, sealOutcome } from './decode/job.ts';
import { validateGeneration, type GenerationOptions } from './decode/validate.ts';
import { createJob, predict } from './generate.ts';
export type { GenerationOptions } from './decode/validate.ts';
export { decodeContinuation, type Continuation } from './continuation.ts';
export { generateFromServer, type RemoteOptions } from './remote.ts';
import { base64Bytes, generationKernel, instantiateKernel, type GenerationBuilds, type Kernel } from './kernel/kernel.ts';
export type { GenerationBuilds, KernelBuild } from './kernel/kernel.ts';
import { KernelModel } from './kernel/stepper.ts';
import type { Model } from './model.ts';

export * from './contract.ts';
export { decodeArtifact, encodeArtifact, parseModelJson, type ArtifactFiles, type ModelJson, type WeightsDtype } from './artifact.ts';
export { ArtifactError, DeeprnnError, OptionError } from './errors.ts';
export type { Architecture, Cell, Model, TrainingRecord } from './model.ts';
export { Vocab } from './vocab.ts';

declare const __DEEPRNN_KERNEL_BASE64__: string | undefined;
declare const __DEEPRNN_KERNEL_DOT_BASE64__: string | undefined;
declare const __DEEPRNN_KERNEL_DOTADD_BASE64__: string | undefined;

let bundled: Promise<Kernel> | undefined;
/** The portable kernel bundled into the package build (compiled from bytes: browsers and Node). */
function bundledKernel(): Promise<Kernel> {
  if (typeof __DEEPRNN_KERNEL_BASE64__ !== 'string') {
    return Promise.reject(new Error('this build of deeprnn has no bundled kernel: pass { kernel } (a compiled kernel.wasm module) to loadModel'));
  }
  bundled ??= generationKernel({
    portable: base64Bytes(__DEEPRNN_KERNEL_BASE64__),
    dot: typeof __DEEPRNN_KERNEL_DOT_BASE64__ === 'string' ? base64Bytes(__DEEPRNN_KERNEL_DOT_BASE64__) : undefined,
    dotAdd: typeof __DEEPRNN_KERNEL_DOTADD_BASE64__ === 'string' ? base64Bytes(__DEEPRNN_KERNEL_DOTADD_BASE64__) : undefined,
  });
  return bundled;
}

/** A model ready to generate: its weights in the kernel once, steppers pooled. */
export interface LoadedModel {
  readonly model: Model;
  readonly kernelModel: KernelModel;
  /** Give the kernel memory back. */
  dispose(): void;
}

export interface LoadOptions {
  /**
   * The kernel, where the bundled one cannot be compiled (Workers compile no WebAssembly from
   * bytes: import 'deeprnn/kernel.wasm' as a module): one build, or the set — `{ portable, dot,
   * dotAdd }` from 'deeprnn/kernel.wasm', 'deeprnn/kernel-dot.wasm', 'deeprnn/kernel-dotadd.wasm'
   * — of which the fastest this engine runs right is taken, as deeprnn's own Worker does.
   */
  kernel?: WebAssembly.Module | GenerationBuilds;
  fetch?: typeof fetch;
}

/**
 * A model artifact folder (model.json and weights.bin inside) — its URL; in Node, its path or
 * `file:` URL — or the two files' contents. Everything is checked (format, shapes, SHA-256,
 * finite weights) before a model is returned.
 */
export async function loadModel(source: string | URL | ArtifactFiles, o: LoadOptions = {}): Promise<LoadedModel> {
  const files = typeof source === 'string' || source instanceof URL ? await readModelSource(source, o.fetch) : source;
  const model = await decodeArtifact(files);
  const kernel =
    o.kernel instanceof WebAssembly.Module ? await instantiateKernel(o.kernel) : o.kernel ? await generationKernel(o.kernel) : await bundledKernel();
  const kernelModel = new KernelModel(kernel, model);
  return { model, kernelModel, dispose: () => kernelModel.dispose() };
}

/**
 * Generate (d2l's predict_ch8 and more: sampling, beam search, stop sequences, log-probabilities).
 * A result that ends before a stop sequence carries `continuation`: pass it back as
 * `{ continuation }` — here, to a server, or to another runtime — to go on exactly there.
 * `options.secret` signs the tokens (and then only signed ones are taken).
 */
export function generate(m: LoadedModel, request: Partial<GenerateRequest>, options: GenerationOptions = {}): GenerateResult {
  return predict(m.model, request, m.kernelModel, undefined, options);
}

/** The same generation, character by character, yielding to the event loop between batches. */
export async function* stream(
  m: Pick<LoadedModel, 'model' | 'kernelModel'>,
  request: Partial<GenerateRequest>,
  options: GenerationOptions = {},
): AsyncGenerator<GeneratedToken, GenerateResult> {
  const g = validateGeneration(m.model, request, undefined, 'library', options);
  const job = createJob(m.model, g);
  const rows = m.kernelModel.acquire(job.rows);
  const t0 = Date.now();
  try {
    const ex = new BatchExecutor(rows);
    ex.add(job);
    while (ex.has(job)) {
      for (let i = 0; i < 16 && ex.has(job); i++) ex.tick();
      yield* job.take();
      await new Promise((r) => setTimeout(r, 0));
    }
    yield* job.take();
    return sealOutcome(outcomeOf(job, { totalMs: Date.now() - t0 }), options.secret, g.returnContinuation);
  } finally {
    m.kernelModel.release(rows);
  }
}

/** Each character's log-probability under the model, and the text's perplexity. */
export function score(m: LoadedModel, request: ScoreRequest): ScoreResult {
  const job = new ScoreJob(m.model, validateScore(m.model, request));
  const rows = m.kernelModel.acquire(1);
  try {
    runJob(job, rows);
  } finally {
    m.kernelModel.release(rows);
  }
  return job.result();
}
