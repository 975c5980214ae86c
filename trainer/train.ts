/**
 * d2l's `train_ch8`: epochs of minibatch windows — forward, backward through time, global-norm
 * clipping, optimizer step — reporting perplexity and tokens/s, with a held-out validation
 * perplexity, atomic checkpoints every epoch, a metrics file, a plot, and the model artifact at
 * the end. One loop for every engine.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { sha256Hex } from '../shared/artifact.ts';
import { DeeprnnError } from '../shared/errors.ts';
import { predict } from '../shared/generate.ts';
import { initParams, type Architecture, type Model, type Params, type TrainingRecord } from '../shared/model.ts';
import { writeFileAtomic, writeModelDir } from '../shared/platform/node.ts';
import { Rng } from '../shared/rng.ts';
import type { Vocab } from '../shared/vocab.ts';
import { writeCheckpoint, type Checkpoint, type EpochRecord } from './checkpoint.ts';
import type { TrainConfig } from './config.ts';
import { checkWindows, loadCorpus, randomWindows, sequentialWindows } from './data.ts';
import type { Engine } from './engines/engine.ts';
import { windowSeed } from './engines/dropout.ts';
import { createEngine } from './engines/index.ts';
import { perplexityPlot } from './plot.ts';

export const METRICS_FILE = 'metrics.jsonl';
export const PLOT_FILE = 'perplexity.svg';

export interface TrainHooks {
  /** Human-readable lines: predictions, the summary. */
  log(line: string): void;
  epoch?(record: EpochRecord, epochs: number): void;
  /** After each window (progress display; tests use it to simulate a kill). */
  window?(epoch: number, index: number, count: number): void;
}

export interface TrainResult {
  model: Model;
  last: EpochRecord;
  stoppedEarly: boolean;
}

async function readCorpus(files: string[]): Promise<{ texts: string[]; sha256: string }> {
  const buffers = await Promise.all(
    files.map((f) =>
      readFile(f).catch(() => {
        throw new DeeprnnError('missing_corpus', `corpus file ${f} cannot be read`);
      }),
    ),
  );
  const all = new Uint8Array(buffers.reduce((n, b) => n + b.length, 0));
  buffers.reduce((o, b) => (all.set(b, o), o + b.length), 0);
  return { texts: buffers.map((b) => new TextDecoder('utf-8', { fatal: false }).decode(b)), sha256: await sha256Hex(all) };
}

function modelOf(name: string, config: TrainConfig, vocab: Vocab, params: Params, training: TrainingRecord | null): Model {
  const arch: Architecture = { cell: config.cell, numLayers: config.numLayers, hiddenSize: config.hiddenSize, vocabSize: vocab.size, input: 'one-hot' };
  return { name, arch, vocab, preprocessing: config.preprocessing, params, training };
}

/** The metrics written so far, cut back to the checkpoint's epoch (a kill may leave one more). */
async function resumeMetrics(outDir: string, epoch: number): Promise<EpochRecord[]> {
  const text = await readFile(join(outDir, METRICS_FILE), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as EpochRecord)
    .filter((r) => r.epoch <= epoch);
}

/** `makeEngine` is for tests, which wrap the real engine to inject faults. */
export async function train(config: TrainConfig, outDir: string, hooks: TrainHooks, resume: Checkpoint | null = null, makeEngine = createEngine): Promise<TrainResult> {
  const { texts, sha256 } = await readCorpus(config.corpus);
  await mkdir(outDir, { recursive: true });
  const corpus = loadCorpus(texts, config);
  if (resume && corpus.vocab.size !== config.vocabSize) throw new DeeprnnError('bad_checkpoint', `the corpus now gives ${corpus.vocab.size} tokens, the checkpoint was trained on ${config.vocabSize}: the corpus files changed`);
  config = { ...config, dropout: config.dropout ?? 0, vocabSize: corpus.vocab.size };
  const B = config.batchSize;
  const T = config.numSteps;
  checkWindows(corpus.train.length, B, T, 'training');
  if (corpus.validation.length > 0) checkWindows(corpus.validation.length, B, T, 'validation');
  const name = basename(outDir);
  const arch = modelOf(name, config, corpus.vocab, {}, null).arch;
  const engine: Engine = await makeEngine(config.engine, arch, B, T, config.threads);
  try {
    let iterRng: Rng;
    let best = resume?.best ?? null;
    let elapsedBefore = 0;
    let first = 1;
    if (resume) {
      engine.setParams(resume.params);
      engine.setOptimizerState(resume.optimizer);
      iterRng = Rng.fromState(resume.rngState);
      elapsedBefore = resume.elapsedSeconds;
      first = resume.epoch + 1;
    } else {
      const paramRng = new Rng(config.seed);
      engine.setParams(initParams(arch, () => paramRng.uniform()));
      iterRng = new Rng((config.seed ^ 0x5bd1e995) >>> 0);
    }
    const records = resume ? await resumeMetrics(outDir, resume.epoch) : [];
    await writeFileAtomic(join(outDir, METRICS_FILE), records.map((r) => JSON.stringify(r) + '\n').join(''));
    let last: EpochRecord | null = resume?.last ?? null;
    const runStart = performance.now();
    const optimizer = { name: config.optimizer, lr: config.lr };
    let stoppedEarly = false;
    const snapshot = (params: Params) => modelOf(name, config, corpus.vocab, params, null);

    for (let epoch = first; epoch <= config.epochs; epoch++) {
      const t0 = performance.now();
      const windows = [...(config.iterator === 'sequential' ? sequentialWindows(corpus.train, B, T, iterRng) : randomWindows(corpus.train, B, T, iterRng))];
      engine.resetState(); // state = None at each epoch's first window
      let sum = 0;
      let n = 0;
      for (const [i, w] of windows.entries()) {
        if (config.iterator === 'random') engine.resetState(); // random windows do not continue each other
        const dropout = config.dropout > 0 ? { p: config.dropout, seed: windowSeed(config.seed, epoch, i) } : undefined;
        const loss = await engine.forwardBackward(w.x, w.y, dropout);
        const norm = engine.clipGradients(config.clip);
        if (!Number.isFinite(loss) || !Number.isFinite(norm)) {
          throw new DeeprnnError(
            'diverged',
            `the loss became ${Number.isFinite(loss) ? 'finite but the gradient ' + norm : loss} at epoch ${epoch}, window ${i + 1}: training diverged (try a lower --lr or --clip). ` +
              (epoch > 1 ? `The last good checkpoint (epoch ${epoch - 1}) is kept in ${outDir}.` : 'No epoch completed, so there is no checkpoint.'),
          );
        }
        engine.update(optimizer);
        sum += loss;
        n += B * T;
        hooks.window?.(epoch, i, windows.length);
      }
      const trainSeconds = (performance.now() - t0) / 1000;
      let validationPerplexity: number | null = null;
      if (corpus.validation.length > 0) {
        engine.resetState();
        let vs = 0;
        let vn = 0;
        for (const w of sequentialWindows(corpus.validation, B, T, null)) {
          vs += await engine.evaluate(w.x, w.y);
          vn += B * T;
        }
        validationPerplexity = Math.exp(vs / vn);
      }
      last = {
        epoch,
        perplexity: Math.exp(sum / n),
        validationPerplexity,
        tokensPerSecond: Math.round(n / trainSeconds),
        elapsedSeconds: +(elapsedBefore + (performance.now() - runStart) / 1000).toFixed(2),
      };
      records.push(last);
      const params = engine.getParams(); // one copy per epoch, read-only from here on
      if (validationPerplexity !== null && (!best || validationPerplexity < best.validationPerplexity)) best = { epoch, validationPerplexity, params };
      if (epoch % 10 === 0) hooks.log(`epoch ${epoch}: ${predict(snapshot(params), { prefix: config.predictPrefix, numChars: 50 }).text}`);
      // Metrics first, checkpoint second: a kill in between leaves one metrics line that resume drops.
      await writeFileAtomic(join(outDir, METRICS_FILE), records.map((r) => JSON.stringify(r) + '\n').join(''));
      await writeCheckpoint(outDir, { config, epoch, rngState: iterRng.getState(), elapsedSeconds: last.elapsedSeconds, last, best, params, optimizer: engine.getOptimizerState() });
      if (epoch % 10 === 0) await writeFileAtomic(join(outDir, PLOT_FILE), await perplexityPlot(records, name));
      hooks.epoch?.(last, config.epochs);
      if (config.timeBudgetMinutes > 0 && last.elapsedSeconds >= config.timeBudgetMinutes * 60 && epoch < config.epochs) {
        stoppedEarly = true;
        hooks.log(`time budget of ${config.timeBudgetMinutes} min reached after epoch ${epoch}`);
        break;
      }
    }
    if (!last) throw new DeeprnnError('nothing_to_do', `the run already completed its ${config.epochs} epochs`);

    // With a validation split the artifact keeps the epoch with the lowest validation perplexity.
    const params = best ? best.params : engine.getParams();
    const training: TrainingRecord = {
      corpus: { files: config.corpus, sha256, tokens: corpus.train.length + corpus.validation.length },
      hyperparameters: {
        preprocessing: config.preprocessing, maxTokens: config.maxTokens, valFraction: config.valFraction, batchSize: B, numSteps: T,
        optimizer: config.optimizer, lr: config.lr, clip: config.clip, dropout: config.dropout, iterator: config.iterator, seed: config.seed, threads: config.threads,
      },
      epochs: last.epoch,
      selectedEpoch: best ? best.epoch : last.epoch,
      trainPerplexity: +last.perplexity.toFixed(4),
      validationPerplexity: best ? +best.validationPerplexity.toFixed(4) : null,
      tokensPerSecond: last.tokensPerSecond,
      trainingSeconds: last.elapsedSeconds,
      engine: engine.name,
      backend: engine.backend,
      date: new Date().toISOString(),
    };
    const model = modelOf(name, config, corpus.vocab, params, training);
    await writeModelDir(outDir, model, 'float32');
    await writeFileAtomic(join(outDir, PLOT_FILE), await perplexityPlot(records, name));
    hooks.log(`perplexity ${last.perplexity.toFixed(1)}${best ? `, validation perplexity ${best.validationPerplexity.toFixed(2)} (epoch ${best.epoch})` : ''}, ${last.tokensPerSecond} tokens/sec on ${engine.name} (${engine.backend})`);
    for (const prefix of [config.predictPrefix, 'traveller']) hooks.log(predict(model, { prefix, numChars: 50 }).text);
    return { model, last, stoppedEarly };
  } finally {
    engine.dispose();
  }
}
