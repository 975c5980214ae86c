/**
 * A training run in an output folder (Node): the corpus read from files, the engine chosen by
 * --engine (threads, tfjs), and a `RunStore` that writes DIR/model.json + weights.bin,
 * metrics.jsonl, perplexity.svg and checkpoint.bin, each whole (write, then rename).
 */
import { mkdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { OptionError } from '../shared/errors.ts';
import type { Model } from '../shared/model.ts';
import { loadKernelNode, readModelDir, writeFileAtomic, writeModelDir } from '../shared/platform/node.ts';
import { CHECKPOINT_FILE, encodeCheckpoint, type Checkpoint, type EpochRecord } from './checkpoint.ts';
import { readingOf, type TrainConfig } from './config.ts';
import { corpusFile, splitCorpus } from './corpus.ts';
import { readCorpus } from './corpus-files.ts';
import { createEngine } from './engines/index.ts';
import { perplexityPlot } from './plot.ts';
import { runTraining, withBase, type RunData, type RunStore, type TrainHooks, type TrainResult } from './train.ts';

export const METRICS_FILE = 'metrics.jsonl';
export const PLOT_FILE = 'perplexity.svg';

export interface TrainOptions {
  /** Aborted to stop after the current window (SIGINT, SIGTERM). */
  signal?: AbortSignal;
  /** For tests, which wrap the real engine to inject faults. */
  makeEngine?: typeof createEngine;
}

/** An output folder as a run's store. */
export function folderStore(outDir: string): RunStore {
  // Made on the first write, once the run's checks have passed (a refused run leaves no folder).
  let made: Promise<unknown> | null = null;
  const write = async (name: string, data: string | Uint8Array) => {
    await (made ??= mkdir(outDir, { recursive: true }));
    await writeFileAtomic(join(outDir, name), data);
  };
  return {
    name: basename(outDir),
    where: outDir,
    // The metrics written so far, cut back to the checkpoint's epoch (a kill may leave one more).
    async loadMetrics(epoch) {
      const text = await readFile(join(outDir, METRICS_FILE), 'utf8').catch(() => '');
      return text
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l) as EpochRecord)
        .filter((r) => r.epoch <= epoch && r.epoch === Math.floor(r.epoch));
    },
    saveMetrics: (records) => write(METRICS_FILE, records.map((r) => JSON.stringify(r) + '\n').join('')),
    saveCheckpoint: async (c: Checkpoint) => write(CHECKPOINT_FILE, await encodeCheckpoint(c)),
    savePlot: async (records, title) => write(PLOT_FILE, await perplexityPlot([...records], title)),
    saveModel: async (model: Model) => {
      await (made ??= mkdir(outDir, { recursive: true }));
      await writeModelDir(outDir, model, 'float32');
    },
  };
}

/** The corpus files a configuration names, read (with a fine-tuned model's vocabulary). */
async function loadData(config: TrainConfig, base: Model | null): Promise<RunData> {
  if (config.corpus.length === 0) throw new OptionError('give the text to train on with --corpus FILE');
  const corpus = await readCorpus(config.corpus.map(corpusFile), {
    ...readingOf(config),
    vocab: base?.vocab,
    unknownChars: config.unknownChars,
  });
  return { corpus, split: splitCorpus(corpus, config) };
}

/** Train (or continue `resume`) into `outDir`. */
export async function train(
  config: TrainConfig,
  outDir: string,
  hooks: TrainHooks,
  resume: Checkpoint | null = null,
  o: TrainOptions = {},
): Promise<TrainResult> {
  const base = config.initFrom ? await readModelDir(config.initFrom) : null;
  config = withBase(config, base);
  const data = await loadData(config, base);
  return runTraining(config, {
    data,
    store: folderStore(outDir),
    base,
    makeEngine: o.makeEngine ?? createEngine,
    evalKernel: await loadKernelNode('simd'),
    hooks,
    resume,
    signal: o.signal,
  });
}
