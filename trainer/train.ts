/**
 * d2l's `train_ch8`, shaped like d2l's Trainer: `fit` runs `fitEpoch` until the epochs or the
 * time budget are spent, `evaluate` measures held-out perplexity. Around it: per-window time
 * budget and stop requests (Ctrl-C), exact resume from any window, divergence detection, the
 * learning-rate schedule, metrics, a plot, and the model artifact (the best epoch on validation).
 * One loop for every engine, and for every runtime: what a run writes goes to its `RunStore` (an
 * output folder in Node, trainer/train-files.ts; memory in a page), and the host hands in the
 * corpus, the engine and the kernel.
 */
import { DeeprnnError, OptionError } from '../shared/errors.ts';
import { combine, evaluateIds, EVAL_SEGMENT, type Evaluation } from '../shared/evaluate.ts';
import { predict } from '../shared/generate.ts';
import type { Kernel } from '../shared/kernel/kernel.ts';
import { KernelModel } from '../shared/kernel/stepper.ts';
import { initParams, type Architecture, type Model, type Params, type TrainingRecord } from '../shared/model.ts';
import { Rng } from '../shared/rng.ts';
import type { Vocab } from '../shared/vocab.ts';
import type { Checkpoint, EpochRecord, Position } from './checkpoint.ts';
import { architecture, engineSpec, learningRate, type TrainConfig } from './config.ts';
import { describeMargin } from './clean.ts';
import { readingSummary, samplePrefixOf, type Corpus, type Split } from './corpus.ts';
import { checkWindows, randomWindows, sequentialWindows, windowsPerEpoch } from './data.ts';
import { windowSeed } from './engines/dropout.ts';
import type { Engine, EngineSpec } from './engines/engine.ts';
import { measureShape, sizeRun, type SizedOption } from './sizing.ts';
/** A checkpoint is also written mid-epoch at least this often (long epochs on large corpora). */
const CHECKPOINT_EVERY_MS = 10 * 60 * 1000;
/** A first guess at validation's cost, before one has been timed (the float32 kernel, one row). */
const EVAL_SECONDS_PER_CHAR = 60e-6;
/**
 * Under a time budget, validating must not eat the budget: validate again only when the last
 * validation took at most 5% of the time since it (before any has run, its cost is estimated from
 * the held-out size).
 */
export function validationDue(o: { sinceSeconds: number; lastSeconds: number | null; heldOutChars: number }): boolean {
  return (o.lastSeconds ?? o.heldOutChars * EVAL_SECONDS_PER_CHAR) <= 0.05 * o.sinceSeconds;
}

/** Above this mean loss (nats per character), the perplexity is not a finite number any more. */
const MAX_FINITE_LOSS = Math.log(Number.MAX_VALUE);

export interface TrainHooks {
  /** Human-readable lines: predictions, the summary. */
  log(line: string): void;
  /** After each epoch; `sample()` is a greedy continuation of the sample prefix by this epoch's weights (computed only if called). */
  epoch?(record: EpochRecord, epochs: number, sample: () => string): void;
  /** After each window (progress display; tests use it to simulate a kill), with the epoch's running mean loss and the run's elapsed seconds (what the budget counts). */
  window?(epoch: number, index: number, count: number, running: { loss: number; tokens: number; lr: number; elapsedSeconds: number }): void;
}

/**
 * How often a run lets its host's event loop in while it computes: a stop request (Ctrl-C in
 * Node, a page's stop message) is only seen then, and an epoch of a large corpus lasts minutes.
 */
const YIELD_EVERY_MS = 50;
/** A macrotask (the default; a page's worker passes a MessageChannel, which browsers do not clamp). */
const macrotask = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** Why a run ended: all epochs done, the time budget spent, or asked to stop (Ctrl-C). */
export type StopReason = 'completed' | 'time-budget' | 'interrupted';

export interface TrainResult {
  model: Model;
  last: EpochRecord;
  stopped: StopReason;
}

/**
 * Where a run keeps what it writes, and where a resumed one finds it: an output folder in Node
 * (trainer/train-files.ts), memory in a page.
 */
export interface RunStore {
  /** The model's name (Node: the folder's). */
  readonly name: string;
  /** Where it is, for messages ("runs/alice"). */
  readonly where: string;
  /** The epochs recorded so far, up to `epoch` (a resumed run). */
  loadMetrics(epoch: number): Promise<EpochRecord[]>;
  saveMetrics(records: readonly EpochRecord[]): Promise<void>;
  saveCheckpoint(c: Checkpoint): Promise<void>;
  /** The records so far, as the store shows them (a folder: perplexity.svg, trainer/plot.ts). */
  savePlot(records: readonly EpochRecord[], title: string): Promise<void>;
  saveModel(model: Model): Promise<void>;
}

/** The corpus read and split for a run (by the host: files in Node, texts in a page). */
export interface RunData {
  corpus: Corpus;
  split: Split;
}

/** What a Trainer is built from: the run's configuration, its engine (weights set), and what the host hands the run. */
export interface TrainerSpec extends Pick<RunHost, 'data' | 'store' | 'hooks' | 'evalKernel' | 'resume' | 'signal' | 'yieldNow' | 'now'> {
  config: TrainConfig;
  engine: Engine;
  /** Seconds the run spent before fitting that its budget counts (the sizing probes). */
  spentBefore?: number;
}

export class Trainer {
  private readonly name: string;
  private readonly arch: Architecture;
  private best: Checkpoint['best'];
  private records: EpochRecord[] = [];
  private elapsedBefore: number;
  private runStart = 0;
  private lastCheckpoint = 0;
  /** When the run last let its host's event loop in. */
  private lastYield = 0;
  private last: EpochRecord | null;
  private readonly samplePrefix: string;
  private lr: number;
  /** When the last validation ended (elapsed seconds), and how long it took. */
  private lastValidation: { at: number; seconds: number | null } = { at: 0, seconds: null };
  /** The best epoch's per-file evaluation (recomputed at the end after a resume). */
  private bestPerFile: Record<string, Evaluation> | null = null;

  private readonly config: TrainConfig;
  private readonly store: RunStore;
  private readonly hooks: TrainHooks;
  private readonly data: RunData;
  private readonly engine: Engine;
  private readonly evalKernel: Kernel;
  private readonly resume: Checkpoint | null;
  private readonly signal?: AbortSignal;
  private readonly yieldNow: () => Promise<void>;
  private readonly now: () => number;

  constructor(spec: TrainerSpec) {
    const { config, data, resume } = spec;
    this.config = config;
    this.store = spec.store;
    this.hooks = spec.hooks;
    this.data = data;
    this.engine = spec.engine;
    this.evalKernel = spec.evalKernel;
    this.resume = resume;
    this.signal = spec.signal;
    this.yieldNow = spec.yieldNow ?? macrotask;
    this.now = spec.now ?? (() => performance.now());
    this.name = spec.store.name;
    this.arch = architecture({ ...config, vocabSize: data.corpus.vocab.size });
    this.best = resume?.best ?? null;
    this.elapsedBefore = resume?.elapsedSeconds ?? spec.spentBefore ?? 0;
    this.last = resume?.last ?? null;
    this.samplePrefix = config.predictPrefix || samplePrefixOf(data.corpus.vocab, data.corpus.ids[0], config.preprocessing);
    this.lr = config.lr;
  }

  private get vocab(): Vocab {
    return this.data.corpus.vocab;
  }

  private model(params: Params, training: TrainingRecord | null = null): Model {
    return { name: this.name, arch: this.arch, vocab: this.vocab, preprocessing: this.config.preprocessing, params, training };
  }

  private elapsed(): number {
    return this.elapsedBefore + (this.now() - this.runStart) / 1000;
  }

  /** Whether the run has a time budget and has spent it (read once per decision: it moves). */
  private budgetSpent(): boolean {
    return this.config.timeBudgetMinutes > 0 && this.elapsed() >= this.config.timeBudgetMinutes * 60;
  }

  /** How far through the run (0…1): by the time budget when there is one, else by windows. */
  private progress(epoch: number, window: number, perEpoch: number): number {
    if (this.config.timeBudgetMinutes > 0) return this.elapsed() / (this.config.timeBudgetMinutes * 60);
    return (epoch - 1 + window / Math.max(1, perEpoch)) / this.config.epochs;
  }

  /**
   * Held-out perplexity, per file and overall, by shared/evaluate.ts's `evaluateIds` — the same
   * function as `deeprnn evaluate` — on the portable kernel, the weights as trained (float32).
   */
  evaluate(params: Params): { overall: Evaluation; perFile: Record<string, Evaluation> } | null {
    const held = this.data.split.validation;
    if (held.length === 0) return null;
    const km = new KernelModel(this.evalKernel, this.model(params));
    const segments = Math.max(...held.map((v) => Math.ceil(v.ids.length / EVAL_SEGMENT)));
    const rows = km.acquire(Math.min(64, segments));
    try {
      const perFile: Record<string, Evaluation> = {};
      for (const v of held) perFile[v.file] = evaluateIds(rows, v.ids, this.vocab);
      return { overall: combine(Object.values(perFile)), perFile };
    } finally {
      km.release(rows);
      km.dispose();
    }
  }

  private async checkpoint(position: Position, carry: Float32Array | null): Promise<void> {
    await this.store.saveCheckpoint({
      config: this.config,
      position,
      elapsedSeconds: +this.elapsed().toFixed(2),
      last: this.last,
      best: this.best,
      params: await this.engine.getParams(),
      optimizer: await this.engine.getOptimizerState(),
      carry,
    });
    this.lastCheckpoint = this.now();
  }

  private async writeMetrics(): Promise<void> {
    await this.store.saveMetrics(this.records);
  }

  /**
   * Validate, record an epoch (or the part of one a stop left), keep the best weights. Under a
   * time budget an epoch is validated when `validationDue` says so, and always at the end.
   */
  private async endEpoch(epoch: number, sum: number, tokens: number, trainSeconds: number, fraction: number, final: boolean): Promise<Params> {
    const params = await this.engine.getParams(); // one copy per epoch, read-only from here on
    const due =
      final ||
      this.config.timeBudgetMinutes === 0 ||
      validationDue({
        sinceSeconds: this.elapsed() - this.lastValidation.at,
        lastSeconds: this.lastValidation.seconds,
        heldOutChars: this.data.split.validation.reduce((n, v) => n + v.ids.length, 0),
      });
    const t0 = this.now();
    const v = due ? this.evaluate(params) : null;
    if (v) this.lastValidation = { at: this.elapsed(), seconds: (this.now() - t0) / 1000 };
    const record: EpochRecord = {
      epoch: fraction < 1 ? +(epoch - 1 + fraction).toFixed(3) : epoch,
      perplexity: Math.exp(sum / Math.max(1, tokens)),
      validationPerplexity: v ? v.overall.perplexity : null,
      tokensPerSecond: Math.round(tokens / Math.max(1e-9, trainSeconds)),
      elapsedSeconds: +this.elapsed().toFixed(2),
      lr: +this.lr.toPrecision(6),
    };
    if (v && Object.keys(v.perFile).length > 1)
      record.validation = Object.fromEntries(Object.entries(v.perFile).map(([f, e]) => [f, +e.perplexity.toFixed(4)]));
    this.records.push(record);
    this.last = record;
    if (v && (!this.best || v.overall.perplexity < this.best.validationPerplexity)) {
      this.best = { epoch: record.epoch, validationPerplexity: v.overall.perplexity, params };
      this.bestPerFile = v.perFile;
    }
    return params;
  }

  /**
   * One epoch (or what is left of it), window by window. Returns how it ended: the epoch done,
   * or stopped after window `window` (time budget, or a stop request).
   */
  async fitEpoch(
    epoch: number,
    start: Position | null,
  ): Promise<{ stopped: StopReason | null; sum: number; tokens: number; seconds: number; fraction: number }> {
    const { config, engine } = this;
    const B = config.batchSize;
    const T = config.numSteps;
    const train = this.data.split.train;
    // A resumed epoch redraws its windows from the state the epoch began with, then carries on.
    const epochRng = start ? Rng.fromState(start.rngState) : this.iterRng;
    this.iterRng = epochRng;
    const rngAtStart = epochRng.getState();
    const windows = config.iterator === 'sequential' ? sequentialWindows(train, B, T, epochRng) : randomWindows(train, B, T, epochRng);
    const perEpoch = windowsPerEpoch(train.length, B, T, config.iterator);
    const skip = start?.window ?? 0;
    let sum = start?.partial.loss ?? 0;
    let tokens = start?.partial.tokens ?? 0;
    if (!start?.window)
      engine.resetState(); // state = None at each epoch's first window
    else if (this.resume?.carry) engine.setCarry(this.resume.carry);
    const t0 = this.now();
    let i = 0;
    for (const w of windows) {
      if (i++ < skip) continue;
      const index = i - 1;
      if (config.iterator === 'random') engine.resetState(); // random windows do not continue each other
      const dropout = { p: config.dropout, output: config.outputDropout, recurrent: config.weightDrop, seed: windowSeed(config.seed, epoch, index) }; // the engines' `drops` says whether it drops anything
      const loss = await engine.forwardBackward(w.x, w.y, dropout);
      const norm = engine.clipGradients(config.clip);
      if (!Number.isFinite(loss) || !Number.isFinite(norm) || loss / (B * T) > MAX_FINITE_LOSS) {
        const what = !Number.isFinite(loss)
          ? `the loss became ${loss}`
          : !Number.isFinite(norm)
            ? `the gradient norm became ${norm}`
            : `the perplexity became infinite (mean loss ${(loss / (B * T)).toExponential(2)} nats)`;
        throw new DeeprnnError(
          'diverged',
          `${what} at epoch ${epoch}, window ${index + 1}: training diverged (try a lower --lr or --clip). ` +
            (this.resume || epoch > 1 ? `The last good checkpoint is kept in ${this.store.where}.` : 'No epoch completed, so there is no checkpoint.'),
        );
      }
      this.lr = learningRate(config, this.progress(epoch, index, perEpoch));
      engine.step(this.lr);
      sum += loss;
      tokens += B * T;
      this.hooks.window?.(epoch, index, perEpoch, { loss: sum / Math.max(1, tokens), tokens, lr: this.lr, elapsedSeconds: this.elapsed() });
      if (this.now() - this.lastYield >= YIELD_EVERY_MS) {
        await this.yieldNow();
        this.lastYield = this.now();
      }
      const stopped: StopReason | null = this.signal?.aborted ? 'interrupted' : this.budgetSpent() ? 'time-budget' : null;
      const due = this.now() - this.lastCheckpoint > CHECKPOINT_EVERY_MS;
      if (stopped || due) {
        const position: Position = { epoch: epoch - 1, window: index + 1, rngState: rngAtStart, partial: { loss: sum, tokens } };
        await this.checkpoint(position, config.iterator === 'sequential' ? await engine.getCarry() : null);
        if (stopped) return { stopped, sum, tokens, seconds: (this.now() - t0) / 1000, fraction: (index + 1) / Math.max(1, perEpoch) };
      }
    }
    return { stopped: null, sum, tokens, seconds: (this.now() - t0) / 1000, fraction: 1 };
  }

  /** The iterator RNG between epochs (its state is saved at each epoch's end). */
  private iterRng!: Rng;

  async fit(): Promise<TrainResult> {
    const { config, resume } = this;
    this.runStart = this.now();
    this.lastCheckpoint = this.runStart;
    this.lastYield = this.runStart;
    this.records = resume ? await this.store.loadMetrics(resume.position.epoch) : [];
    await this.writeMetrics();
    let position: Position | null = resume?.position ?? null;
    this.iterRng = position ? Rng.fromState(position.rngState) : new Rng((config.seed ^ 0x5bd1e995) >>> 0);
    let stopped: StopReason = 'completed';
    const first = (position?.epoch ?? 0) + 1;
    if (first > config.epochs && !(position && position.window > 0))
      throw new DeeprnnError('nothing_to_do', `the run already completed its ${config.epochs} epochs (give --epochs N to extend it)`);
    for (let epoch = first; epoch <= config.epochs; epoch++) {
      const mid = position && position.window > 0 ? position : null;
      const r = await this.fitEpoch(epoch, mid);
      position = null;
      // Decide once whether the run ends here: the last record must be validated, so the clock
      // may not be read again between choosing to validate and choosing to stop.
      const ending: StopReason | null =
        r.stopped ?? (this.signal?.aborted ? 'interrupted' : this.budgetSpent() && epoch < config.epochs ? 'time-budget' : null);
      const params = await this.endEpoch(epoch, r.sum, r.tokens, r.seconds, r.fraction, ending !== null || epoch === config.epochs);
      if (epoch % 10 === 0 && !r.stopped) this.hooks.log(`epoch ${epoch}: ${this.predict(params)}`);
      await this.writeMetrics();
      if (!r.stopped) await this.checkpoint({ epoch, window: 0, rngState: this.iterRng.getState(), partial: { loss: 0, tokens: 0 } }, null);
      if (epoch % 10 === 0 || r.stopped) await this.store.savePlot(this.records, this.name);
      this.hooks.epoch?.(this.last!, config.epochs, () => this.predict(params));
      if (ending) {
        stopped = ending;
        break;
      }
    }
    return this.finish(stopped);
  }

  private predict(params: Params, model = this.model(params)): string {
    const km = new KernelModel(this.evalKernel, model);
    try {
      return predict(model, { prefix: this.samplePrefix, numChars: 50, temperature: 0 }, km).text; // greedy, as d2l's predict_ch8: the same line every run
    } finally {
      km.dispose();
    }
  }

  /** The artifact: the best epoch's weights on validation (else the last), its record, the plot. */
  private async finish(stopped: StopReason): Promise<TrainResult> {
    const { config, engine } = this;
    const last = this.last!;
    const best = this.best;
    const params = best ? best.params : await engine.getParams();
    const v = best ? { perFile: this.bestPerFile ?? this.evaluate(params)!.perFile } : null;
    const c = this.data.corpus;
    const heldOut = new Map(this.data.split.validation.map((h) => [h.file, h.ids.length]));
    const training: TrainingRecord = {
      corpus: {
        files: c.files.map((f) => f.path),
        sha256: c.sha256,
        tokens: c.ids.reduce((n, a) => n + a.length, 0),
        details: c.files.map((f) => ({
          path: f.path,
          author: f.author,
          sha256: f.sha256,
          bytes: f.bytes,
          characters: f.characters,
          boilerplateRemoved: f.removed,
          ...(config.preprocessing === 'raw'
            ? { mojibakeRepaired: f.repaired, margin: { removed: f.margin.width > 0 ? describeMargin(f.margin) : null, lines: f.margin.lines } }
            : {}),
          ...(heldOut.has(f.path)
            ? { validationCharacters: heldOut.get(f.path), validationPerplexity: v ? +v.perFile[f.path].perplexity.toFixed(4) : null }
            : {}),
        })),
      },
      hyperparameters: {
        preprocessing: config.preprocessing,
        keepBoilerplate: config.keepBoilerplate,
        keepMojibake: config.keepMojibake,
        keepMargins: config.keepMargins,
        authorTags: config.authorTags,
        maxTokens: config.maxTokens,
        valFraction: config.valFraction,
        batchSize: config.batchSize,
        numSteps: config.numSteps,
        optimizer: config.optimizer,
        lr: config.lr,
        lrSchedule: config.lrSchedule,
        clip: config.clip,
        dropout: config.dropout,
        outputDropout: config.outputDropout,
        weightDrop: config.weightDrop,
        weightDecay: config.weightDecay,
        iterator: config.iterator,
        seed: config.seed,
        threads: config.threads,
        timeBudgetMinutes: config.timeBudgetMinutes,
        initFrom: config.initFrom,
      },
      ...(config.sizing ? { sizing: config.sizing } : {}),
      samplePrefix: this.samplePrefix,
      epochs: last.epoch,
      selectedEpoch: best ? best.epoch : last.epoch,
      stoppedBy: stopped,
      trainPerplexity: +last.perplexity.toFixed(4),
      validationPerplexity: best ? +best.validationPerplexity.toFixed(4) : null,
      tokensPerSecond: last.tokensPerSecond,
      trainingSeconds: last.elapsedSeconds,
      engine: engine.name,
      backend: engine.backend,
      date: new Date().toISOString(),
    };
    const model = this.model(params, training);
    await this.store.saveModel(model);
    await this.store.savePlot(this.records, this.name);
    const perFile =
      v && Object.keys(v.perFile).length > 1
        ? ` (${Object.entries(v.perFile)
            .map(([f, e]) => `${f.split(/[/\\]/).pop()} ${e.perplexity.toFixed(2)}`)
            .join(', ')})`
        : '';
    this.hooks.log(
      `perplexity ${last.perplexity.toFixed(2)}${best ? `, validation perplexity ${best.validationPerplexity.toFixed(2)} (epoch ${best.epoch})${perFile}` : ''}, ${last.tokensPerSecond} tokens/s on ${engine.name} (${engine.backend})`,
    );
    this.hooks.log(this.predict(params, model));
    return { model, last, stopped };
  }
}

/** What a host hands a run: the data, where it writes, how to build the engine, the evaluation kernel. */
export interface RunHost {
  data: RunData;
  store: RunStore;
  /** A fine-tuned model's weights and architecture (--init-from), or null. */
  base: Model | null;
  makeEngine(spec: EngineSpec): Promise<Engine>;
  /** The portable kernel: validation and predictions, the same as every runtime generates with. */
  evalKernel: Kernel;
  hooks: TrainHooks;
  resume: Checkpoint | null;
  /** Aborted to stop after the current window (Ctrl-C, a page's stop button). */
  signal?: AbortSignal;
  /** How the run lets the host's event loop in (default: setTimeout 0). */
  yieldNow?: () => Promise<void>;
  /** The run's clock in milliseconds — its budget, checkpoints, validation pace and speeds (default: performance.now; tests drive one). */
  now?: () => number;
}

/**
 * Fine-tuning keeps the model's architecture, preprocessing and vocabulary (with its authors):
 * the configuration a run with `base` trains with. Applied before the data is read.
 */
export function withBase(config: TrainConfig, base: Model | null): TrainConfig {
  if (!base) return config;
  return {
    ...config,
    cell: base.arch.cell,
    numLayers: base.arch.numLayers,
    hiddenSize: base.arch.hiddenSize,
    preprocessing: base.preprocessing,
    authorTags: base.vocab.authors.size > 0,
  };
}

/**
 * Train (or continue `resume`), anywhere: check the data against the configuration, build the
 * engine with its optimizer, start from fresh weights, a checkpoint or a model (--init-from),
 * and fit. `config` is already `withBase`'s.
 */
export async function runTraining(config: TrainConfig, runHost: RunHost): Promise<TrainResult> {
  let host = runHost;
  const { data, resume, base } = host;
  if (resume && data.corpus.vocab.size !== config.vocabSize)
    throw new DeeprnnError(
      'bad_checkpoint',
      `the corpus now gives ${data.corpus.vocab.size} tokens, the checkpoint was trained on ${config.vocabSize}: the corpus files changed`,
    );
  config = { ...config, vocabSize: data.corpus.vocab.size };
  // The run's first line names the engine and where it runs (the first engine built: a sizing probe's, or the run's).
  let announced = false;
  host = {
    ...host,
    makeEngine: async (spec) => {
      const engine = await runHost.makeEngine(spec);
      if (!announced) host.hooks.log(`training on ${engine.name}: ${engine.backend}`);
      announced = true;
      return engine;
    },
  };
  for (const line of readingSummary(data.corpus.files)) host.hooks.log(line);
  const sizing = config.toSize.length > 0 && !resume;
  checkWindows(data.split.train.length, sizing && config.toSize.includes('batch-size') ? 1 : config.batchSize, config.numSteps, 'training');
  for (const v of data.split.validation)
    if (v.ids.length < 2)
      throw new OptionError(`the held-out part of ${v.file} has ${v.ids.length} characters: too few to validate (raise --val-fraction or use a longer file)`);
  if (sizing) {
    config = await sized(config, host);
    host.hooks.log(config.sizing!.reason);
  }
  checkWindows(data.split.train.length, config.batchSize, config.numSteps, 'training');
  const spec = engineSpec(config);
  const { arch } = spec;
  const engine = await host.makeEngine(spec);
  try {
    if (resume) {
      engine.setParams(resume.params);
      engine.setOptimizerState(resume.optimizer);
    } else if (base) engine.setParams(base.params);
    else {
      const paramRng = new Rng(config.seed);
      engine.setParams(initParams(arch, () => paramRng.uniform()));
    }
    const trainer = new Trainer({ ...host, config, engine, spentBefore: resume ? 0 : (config.sizing?.probeSeconds ?? 0) });
    return await trainer.fit();
  } finally {
    await engine.dispose();
  }
}

/** `--size auto`: the sizing rule's choice (trainer/sizing.ts) applied to the configuration. */
async function sized(config: TrainConfig, host: RunHost): Promise<TrainConfig> {
  const given: Record<SizedOption, number> = {
    layers: config.numLayers,
    hidden: config.hiddenSize,
    'batch-size': config.batchSize,
    lr: config.lr,
    dropout: config.dropout,
    'output-dropout': config.outputDropout,
    'weight-drop': config.weightDrop,
    'weight-decay': config.weightDecay,
  };
  const fixed = Object.fromEntries(Object.entries(given).filter(([k]) => !config.toSize.includes(k as SizedOption)));
  const choice = await sizeRun({
    cell: config.cell,
    vocabSize: config.vocabSize,
    trainChars: host.data.split.train.length,
    budgetSeconds: config.timeBudgetMinutes * 60,
    fixed,
    measure: (shape) => measureShape({ spec: engineSpec(config), makeEngine: host.makeEngine, seed: config.seed, clip: config.clip }, shape),
    now: () => (host.now?.() ?? performance.now()) / 1000,
  });
  return {
    ...config,
    toSize: [],
    sizing: choice,
    numLayers: choice.numLayers,
    hiddenSize: choice.hiddenSize,
    batchSize: choice.batchSize,
    lr: choice.lr,
    dropout: choice.dropout,
    outputDropout: choice.outputDropout,
    weightDrop: choice.weightDrop,
    weightDecay: choice.weightDecay,
  };
}
