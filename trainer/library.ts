/**
 * Training as a library call, on any runtime: `startTraining({ corpus, ...options })` — the corpus
 * a string, or several `{ name, text }` (or `{ name, bytes }`, a dropped file) for author tags;
 * the options `deeprnn train`'s, in camelCase, with its defaults and bounds (one table serves
 * both: trainer/config.ts). The run reports progress as it goes, can be stopped (a stop still
 * gives the best model so far), and resolves to the artifact `deeprnn train` writes: model.json
 * + weights.bin, which every runtime reads as they are. The host brings the kernels and, where
 * it has shared memory, the helper threads (a page: edge/web/train-worker.ts).
 */
import { encodeArtifact } from '../shared/artifact.ts';
import { OptionError } from '../shared/errors.ts';
import type { Kernel } from '../shared/kernel/kernel.ts';
import { MODEL_NAME, type Model } from '../shared/model.ts';
import { AUTHOR_NAME } from '../shared/vocab.ts';
import type { EpochRecord } from './checkpoint.ts';
import { readingOf, trainConfig, trainOptions, type TrainConfig } from './config.ts';
import { LIBRARY_TRAIN_OPTIONS } from './library-options.ts';
import { buildCorpus, splitCorpus, type CorpusSource, type Sha256 } from './corpus.ts';
import type { Engine, EngineSpec } from './engines/engine.ts';
import { NativeEngine, type HelperSpawner } from './engines/native.ts';
import { WebGpuEngine } from './engines/webgpu/engine.ts';
import { hasHardwareAdapter, openGpu } from './engines/webgpu/gpu.ts';
import { optionsFromObject } from './options.ts';
import { runTraining, type RunStore, type StopReason } from './train.ts';

/** One text of a corpus: its name is its author for `authorTags`. */
export type CorpusPart = { name: string; text: string } | { name: string; bytes: Uint8Array };

export interface TrainInput {
  corpus: string | readonly CorpusPart[];
  /** The model's name (default "my-model"). */
  name?: string;
  /** Any of LIBRARY_TRAIN_OPTIONS in camelCase: hidden, layers, epochs, maxTokens, timeBudget, seed, threads, … */
  [option: string]: unknown;
}

/** What a run reports: after every window, and at the end of every epoch (with validation). */
export interface TrainProgress {
  kind: 'window' | 'epoch';
  epoch: number;
  /** Windows done in this epoch, of `windows`. */
  window: number;
  windows: number;
  /** exp(mean loss) over the epoch so far (window) or the whole epoch (epoch). */
  perplexity: number;
  /** Held-out perplexity, on the epochs that were validated. */
  validationPerplexity: number | null;
  tokensPerSecond: number;
  elapsedSeconds: number;
  /** Of the time budget, when there is one. */
  secondsLeft: number | null;
  lr: number;
  /** On validated epochs: the sample prefix and the 50 characters the model writes after it (greedy). */
  sample?: string;
  /** What trains: "native: wasm-relaxed-simd", "webgpu: nvidia ampere (…)". */
  engine: string;
}

/** A finished (or stopped) run: the artifact's two files, and its record. */
export interface TrainedModel {
  modelJson: string;
  weights: Uint8Array;
  model: Model;
  stoppedBy: StopReason;
  records: EpochRecord[];
  /** The engine that trained, and where it ran (the model's training record says the same). */
  engine: Engine['name'];
  backend: string;
}

export interface TrainHost {
  /** The kernel that trains (where it has relaxed SIMD and shared memory, the one `deeprnn train` uses). */
  kernel: Kernel;
  /** The portable kernel: validation, as every runtime generates. */
  evalKernel: Kernel;
  /** Threads available (the option's bound and default). */
  cores: number;
  /** Helper threads; without them (or without shared memory) one thread trains. */
  spawn?: HelperSpawner;
  sha256: () => Sha256;
  /**
   * WebGPU (a page's `navigator.gpu`): `engine` auto trains there when it offers an adapter that is
   * not a CPU emulation. Typed by its one method here, so the package's types need no WebGPU types.
   */
  gpu?: { requestAdapter(options?: object): Promise<unknown> };
  /** A macrotask: how the run lets the host's messages in (default setTimeout; a page's worker: a MessageChannel, which browsers do not clamp to 4 ms as they do nested timers). */
  yieldNow?: () => Promise<void>;
}

export interface TrainRun {
  /** Stop after the current window: the result is the best model so far. */
  stop(): void;
  readonly result: Promise<TrainedModel>;
}

/** The corpus parts as sources, checked: names are author names. */
function sources(corpus: TrainInput['corpus']): CorpusSource[] {
  const parts: readonly CorpusPart[] = typeof corpus === 'string' ? [{ name: 'text', text: corpus }] : corpus;
  if (!Array.isArray(parts) || parts.length === 0) throw new OptionError('corpus must be a text, or a non-empty list of { name, text }');
  return parts.map((p, i) => {
    if (typeof p !== 'object' || p === null || typeof p.name !== 'string' || !AUTHOR_NAME.test(p.name)) {
      throw new OptionError(`corpus[${i}].name must be letters, digits, - _ or . (at most 64), starting with a letter or digit`);
    }
    const bytes = 'bytes' in p && p.bytes instanceof Uint8Array ? p.bytes : 'text' in p && typeof p.text === 'string' ? new TextEncoder().encode(p.text) : null;
    if (!bytes) throw new OptionError(`corpus[${i}] needs a text (a string) or bytes (a Uint8Array)`);
    return { path: p.name, author: p.name, bytes: async () => bytes };
  });
}

/** The options object → `deeprnn train`'s configuration, by the same table; `corpus` names the texts. */
export function libraryConfig(input: TrainInput, cores: number, corpus: string[]): TrainConfig {
  const { corpus: _texts, name, ...options } = input;
  if (name !== undefined && (typeof name !== 'string' || !MODEL_NAME.test(name)))
    throw new OptionError('name must be 1 to 128 letters, digits, ".", "_" or "-"');
  const values = optionsFromObject(trainOptions(cores), options, LIBRARY_TRAIN_OPTIONS);
  const engine = values.engine ?? 'auto';
  if (engine !== 'auto' && engine !== 'native' && engine !== 'webgpu')
    throw new OptionError(`engine must be auto, native (WebAssembly) or webgpu here, got ${JSON.stringify(engine)}: tfjs engines train in Node`);
  return { ...trainConfig({ ...values, engine }), corpus };
}

export function startTraining(input: TrainInput, host: TrainHost, onProgress: (p: TrainProgress) => void = () => {}): TrainRun {
  const abort = new AbortController();
  const result = (async (): Promise<TrainedModel> => {
    const src = sources(input.corpus);
    const config = libraryConfig(
      input,
      host.cores,
      src.map((s) => s.path),
    );
    const corpus = await buildCorpus(src, { ...readingOf(config), sha256: host.sha256 });
    const split = splitCorpus(corpus, config);
    let files: { modelJson: string; weights: Uint8Array } | null = null;
    let records: EpochRecord[] = [];
    const store: RunStore = {
      name: typeof input.name === 'string' ? input.name : 'my-model',
      where: 'this page',
      loadMetrics: async () => [],
      saveMetrics: async (r) => void (records = [...r]),
      saveCheckpoint: async () => {}, // a closed tab loses the run: nothing to resume from
      savePlot: async () => {},
      saveModel: async (model) => void (files = await encodeArtifact(model, 'float32')),
    };
    // The Trainer's clock, the one its time budget counts.
    const budget = config.timeBudgetMinutes * 60;
    const timing = (elapsedSeconds: number) => ({ elapsedSeconds, secondsLeft: budget > 0 ? Math.max(0, budget - elapsedSeconds) : null });
    let epochStart = performance.now();
    let label = '';
    const r = await runTraining(config, {
      data: { corpus, split },
      store,
      base: null,
      makeEngine: async (s) => {
        const engine = await pageEngine(s, host);
        label = `${engine.name}: ${engine.backend}`;
        return engine;
      },
      evalKernel: host.evalKernel,
      resume: null,
      signal: abort.signal,
      yieldNow: host.yieldNow,
      hooks: {
        log: () => {},
        window: (epoch, index, count, running) => {
          if (index === 0) epochStart = performance.now();
          const seconds = (performance.now() - epochStart) / 1000;
          onProgress({
            kind: 'window',
            epoch,
            window: index + 1,
            windows: count,
            perplexity: Math.exp(running.loss),
            validationPerplexity: null,
            tokensPerSecond: seconds > 0 ? Math.round(running.tokens / seconds) : 0,
            lr: running.lr,
            ...timing(running.elapsedSeconds),
            engine: label,
          });
        },
        epoch: (rec, _epochs, sample) => {
          const p: TrainProgress = {
            kind: 'epoch',
            epoch: rec.epoch,
            window: 0,
            windows: 0,
            perplexity: rec.perplexity,
            validationPerplexity: rec.validationPerplexity,
            tokensPerSecond: rec.tokensPerSecond,
            lr: rec.lr ?? 0,
            ...timing(rec.elapsedSeconds),
            engine: label,
          };
          if (rec.validationPerplexity !== null) p.sample = sample();
          onProgress(p);
        },
      },
    });
    if (!files) throw new Error('unreachable: the run ended without a model');
    const f: { modelJson: string; weights: Uint8Array } = files;
    const t = r.model.training!;
    return {
      modelJson: f.modelJson,
      weights: f.weights,
      model: r.model,
      stoppedBy: r.stopped,
      records,
      engine: t.engine as Engine['name'],
      backend: String(t.backend),
    };
  })();
  return { stop: () => abort.abort(), result };
}

/** What a page without a WebGPU adapter is told. */
const NO_BROWSER_GPU =
  'this browser offers none (Chrome and Edge 113+ on Windows, macOS and ChromeOS, Safari 26, Firefox 141+ on Windows; others behind a flag)';

/** The engine a page trains on: WebGPU when asked, or for `auto` on a real GPU; else the native engine on the kernel the host brought. */
async function pageEngine(s: EngineSpec, host: TrainHost): Promise<Engine> {
  const gpu = host.gpu as GPU | undefined;
  if (s.choice === 'webgpu' || (s.choice === 'auto' && (await hasHardwareAdapter(gpu)))) return new WebGpuEngine(await openGpu(gpu, NO_BROWSER_GPU), s);
  const engine = new NativeEngine(host.kernel, s, host.spawn);
  await engine.ready();
  return engine;
}
