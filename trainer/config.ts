/**
 * `deeprnn train`'s options, declared once (trainer/options.ts derives parsing, help, checks and
 * defaults from this table), and the configuration of a run they make: recorded in checkpoints
 * and in the model's training record.
 */
import { OptionError } from '../shared/errors.ts';
import { CELLS, type Architecture, type Cell } from '../shared/model.ts';
import { PREPROCESSINGS, type Preprocessing } from '../shared/text.ts';
import type { ReadOptions } from './corpus.ts';
import { ITERATORS, type IteratorKind } from './data.ts';
import { ENGINE_CHOICES, type EngineChoice, type EngineSpec, type OptimizerName } from './engines/engine.ts';
import { opt, type OptionValues } from './options.ts';
import { SIZED_OPTIONS, type SizedOption, type SizingChoice } from './sizing.ts';

export type LrSchedule = 'constant' | 'cosine' | 'wsd';
export const LR_SCHEDULES: readonly LrSchedule[] = ['constant', 'cosine', 'wsd'];

/** d2l §9.3's run: `load_data_time_machine(32, 35)` (first 10,000 tokens), 2×256 LSTM, SGD lr 2, clip 1, 500 epochs. */
export const D2L_PRESET = {
  corpus: ['data/timemachine.txt'],
  preprocessing: 'd2l',
  'max-tokens': 10000,
  'val-fraction': 0,
  cell: 'lstm',
  layers: 2,
  hidden: 256,
  'batch-size': 32,
  'num-steps': 35,
  optimizer: 'sgd',
  lr: 2,
  clip: 1,
  dropout: 0,
  epochs: 500,
  iterator: 'sequential',
  seed: 0,
  'predict-prefix': 'time traveller',
} as const;

/** Without --preset: what a user bringing their own text would want (raw text, Adam, a held-out tenth). */
const d2l = (v: Record<string, unknown>) => v.preset === 'd2l';
const pick =
  <K extends keyof typeof D2L_PRESET, T>(key: K, otherwise: T) =>
  (v: Record<string, unknown>) =>
    d2l(v) ? D2L_PRESET[key] : otherwise;
/** Under `--size auto` an option left out is the sizing rule's to choose (trainer/sizing.ts): no default here. */
const sized =
  <T>(fixed: T | ((v: Record<string, unknown>) => T)) =>
  (v: Record<string, unknown>) =>
    v.size === 'auto' ? undefined : typeof fixed === 'function' ? (fixed as (v: Record<string, unknown>) => T)(v) : fixed;
const SIZED_HELP = '; with --size auto, chosen by the sizing rule';

/**
 * `deeprnn train`'s options — and, in camelCase, the library's `train()` options — declared once.
 * `cores` is the host's (Node: os.availableParallelism(); a page: navigator.hardwareConcurrency):
 * the threads' bound and default.
 */
export const trainOptions = (cores: number) => ({
  preset: opt.choice({
    choices: ['d2l'] as const,
    help: 'd2l §9.3 exactly: first 10,000 tokens of data/timemachine.txt, d2l preprocessing, 2×256 LSTM, batch 32 × 35, SGD lr 2, clip 1, 500 epochs, no validation',
  }),
  corpus: opt.list({
    arg: '[NAME=]FILE',
    help: 'corpus text file, UTF-8 (default data/timemachine.txt); NAME is its author for --author-tags (default: the file name up to - _ or .)',
    default: (v) => (d2l(v) || !v['init-from'] ? [...D2L_PRESET.corpus] : undefined),
  }),
  preprocessing: opt.choice({
    choices: PREPROCESSINGS,
    help: 'raw: the text as written (case, punctuation, line breaks); d2l: letters only, lower-case (default raw; d2l with --preset d2l)',
    default: pick('preprocessing', 'raw' as Preprocessing),
  }),
  'keep-boilerplate': opt.boolean({ help: 'keep Project Gutenberg licence blocks and YAML front matter (removed by default)' }),
  'keep-mojibake': opt.boolean({ help: 'raw text: keep mojibake as written ("Ã©" for "é": UTF-8 once read as Windows-1252; repaired by default)' }),
  'keep-margins': opt.boolean({
    help: "raw text: keep a file's margin, the indentation at least 95% of its lines begin with (a hard-wrapped book's; removed by default)",
  }),
  'author-tags': opt.boolean({
    help: "give each corpus file's author a reserved vocabulary entry, read at the start of every paragraph; generation then takes an author",
  }),
  'max-tokens': opt.int({
    min: 0,
    max: Number.MAX_SAFE_INTEGER,
    help: 'keep the first N tokens, 0 = all (default 0; 10000 with --preset d2l)',
    default: pick('max-tokens', 0),
  }),
  'val-fraction': opt.number({
    min: 0,
    max: 0.5,
    help: 'hold out the last F of each corpus file for validation, 0 ≤ F ≤ 0.5 (default 0.1; 0 with --preset d2l)',
    default: pick('val-fraction', 0.1),
  }),
  cell: opt.choice({ choices: CELLS, help: 'recurrent cell', default: 'lstm' as Cell }),
  size: opt.choice({
    choices: ['auto', 'fixed'] as const,
    help: 'auto: measure this machine and choose the network, batch, learning rate and regularisation for the text and the budget (trainer/sizing.ts; options you give are kept); fixed: the defaults below. Default: auto with --time-budget (not with --preset or --init-from), else fixed',
    default: (v) => (v['time-budget'] && !d2l(v) && !v['init-from'] ? 'auto' : 'fixed') as 'auto' | 'fixed',
  }),
  layers: opt.int({ min: 1, max: 16, help: `stacked recurrent layers (default 2${SIZED_HELP})`, default: sized(2) }),
  hidden: opt.int({ min: 1, max: 4096, help: `hidden units per layer (default 256${SIZED_HELP})`, default: sized(256) }),
  'batch-size': opt.int({
    min: 1,
    max: 4096,
    help: `rows of each minibatch (default 32${SIZED_HELP})`,
    default: sized((v) => (d2l(v) ? D2L_PRESET['batch-size'] : 32)),
  }),
  'num-steps': opt.int({ min: 1, max: 10000, help: 'time steps per window', default: 35 }),
  optimizer: opt.choice({
    choices: ['sgd', 'adam'] as const,
    help: 'sgd or adam (default adam; sgd with --preset d2l)',
    default: pick('optimizer', 'adam' as OptimizerName),
  }),
  lr: opt.number({
    min: 0,
    max: 100,
    exclusiveMin: true,
    help: `learning rate: the peak of the schedule (default for adam 0.002, and 0.008 when the schedule anneals it; 2 for sgd; with --size auto and an annealing schedule, chosen by the sizing rule)`,
    default: (v) => (v.optimizer === 'sgd' ? 2 : v['time-budget'] && v['lr-schedule'] !== 'constant' ? (v.size === 'auto' ? undefined : 0.008) : 0.002),
  }),
  'lr-schedule': opt.choice({
    choices: LR_SCHEDULES,
    help: 'constant; cosine (decay to 2% of --lr over the run: the time budget when there is one, else the epochs); or wsd (warm up over the first 2%, hold --lr, then decay to 2% over the last 40%). Default: wsd with --time-budget, else constant',
    default: (v) => (v['time-budget'] ? 'wsd' : 'constant') as LrSchedule,
  }),
  clip: opt.number({ min: 0, exclusiveMin: true, help: 'gradient clipping threshold θ on the global norm', default: 1 }),
  dropout: opt.number({ min: 0, max: 0.95, help: `dropout between recurrent layers, as nn.LSTM(dropout=P) (default 0${SIZED_HELP})`, default: sized(0) }),
  'output-dropout': opt.number({
    min: 0,
    max: 0.95,
    help: `dropout on the last recurrent layer's outputs, before the output layer (default 0${SIZED_HELP})`,
    default: sized(0),
  }),
  'weight-drop': opt.number({
    min: 0,
    max: 0.95,
    help: `drop this share of every layer's hidden-to-hidden weights W_hh, one mask per window (AWD-LSTM's weight drop) (default 0${SIZED_HELP})`,
    default: sized(0),
  }),
  'weight-decay': opt.number({
    min: 0,
    max: 10,
    help: `decoupled weight decay λ (AdamW; with sgd, the same shrink by lr·λ per step) (default 0${SIZED_HELP})`,
    default: sized(0),
  }),
  epochs: opt.int({
    min: 1,
    max: 1_000_000,
    help: 'epochs to train to (default 50; 500 with --preset d2l; unlimited with --time-budget)',
    default: (v) => (d2l(v) ? D2L_PRESET.epochs : v['time-budget'] ? 1_000_000 : 50),
  }),
  iterator: opt.choice({
    choices: ITERATORS,
    help: 'sequential (state carried between windows) or random (state reset every window)',
    default: 'sequential' as IteratorKind,
  }),
  seed: opt.int({ min: 0, max: 0xffffffff, help: 'seed: same seed, same engine and threads, same result', default: 0 }),
  engine: opt.choice({
    choices: ENGINE_CHOICES,
    help: 'auto (webgpu on a GPU adapter, else tfjs-node-gpu if it loads on an NVIDIA GPU, else native), native, webgpu (Vulkan, Metal or D3D12 through Dawn: npm install webgpu), tfjs (best tfjs backend present), tfjs-gpu, tfjs-node, tfjs-wasm, tfjs-cpu',
    default: 'auto' as EngineChoice,
  }),
  threads: opt.int({ min: 1, max: cores, help: `native engine: threads sharing each window, 1 to the number of cores (default all ${cores})`, default: cores }),
  'time-budget': opt.number({
    min: 0,
    exclusiveMin: true,
    arg: 'MIN',
    help: 'stop after this many minutes (checked after every window), validate and write the model',
  }),
  'predict-prefix': opt.string({
    arg: 'TEXT',
    help: 'the model\'s sample prefix: printed predictions, the demo page\'s default (default: two words of the corpus; "time traveller" with --preset d2l)',
    default: pick('predict-prefix', undefined),
  }),
  'init-from': opt.string({ arg: 'DIR', help: "start from a trained model's weights, architecture, preprocessing and vocabulary (fine-tuning)" }),
  'unknown-chars': opt.choice({
    choices: ['refuse', 'unk'] as const,
    help: "with --init-from: characters the model's vocabulary lacks are refused (listed), or read as <unk>",
    default: 'refuse' as const,
  }),
  out: opt.string({
    arg: 'DIR',
    help: 'output folder (created; refused if it holds a model or a checkpoint, unless --force, and while another run writes it)',
  }),
  force: opt.boolean({ help: 'write into an --out folder that already holds a model or a checkpoint' }),
  resume: opt.string({ arg: 'DIR', help: 'continue a run from DIR/checkpoint.bin; takes only --epochs, --time-budget and --json' }),
  json: opt.boolean({ help: 'one JSON object per epoch on stdout (progress and predictions on stderr)' }),
  quiet: opt.boolean({ help: 'no progress: only the first line, the summary and errors' }),
  'progress-every': opt.number({
    min: 0.1,
    max: 3600,
    help: 'into a pipe or a file: a progress line every SEC seconds (default 15; on a terminal, a bar)',
    default: 15,
  }),
});
export type TrainOptionTable = ReturnType<typeof trainOptions>;
export type TrainValues = OptionValues<TrainOptionTable>;

/** Options --resume accepts: how far to go, and how to report. */
export const RESUME_OPTIONS: readonly (keyof TrainOptionTable)[] = ['resume', 'epochs', 'time-budget', 'json', 'quiet', 'progress-every'];

export interface TrainConfig {
  /** `--corpus` arguments as given ([NAME=]FILE). */
  corpus: string[];
  preprocessing: Preprocessing;
  keepBoilerplate: boolean;
  /** Raw text: keep mojibake as written (trainer/clean.ts repairs it). */
  keepMojibake: boolean;
  /** Raw text: keep each file's margin (trainer/clean.ts removes it). */
  keepMargins: boolean;
  authorTags: boolean;
  /** d2l's max_tokens: keep the first N tokens (0 = all). */
  maxTokens: number;
  valFraction: number;
  cell: Cell;
  numLayers: number;
  hiddenSize: number;
  /** Fixed by the corpus; stored so a checkpoint knows its tensor shapes. */
  vocabSize: number;
  batchSize: number;
  numSteps: number;
  optimizer: OptimizerName;
  lr: number;
  lrSchedule: LrSchedule;
  clip: number;
  /** Dropout between recurrent layers, as nn.LSTM(dropout=p); 0 = none (d2l). */
  dropout: number;
  /** Dropout on the last layer's outputs, before the output layer; 0 = none. */
  outputDropout: number;
  /** Weight drop on W_hh (DropConnect, one mask per window); 0 = none. */
  weightDrop: number;
  /** Decoupled weight decay λ (AdamW); 0 = none. */
  weightDecay: number;
  /** `--size auto`: the options the sizing rule is to choose (not given); empty once it has, or with `--size fixed`. */
  toSize: SizedOption[];
  /** What the sizing rule chose, and why (null: not sized). */
  sizing: SizingChoice | null;
  epochs: number;
  iterator: IteratorKind;
  seed: number;
  engine: EngineChoice;
  threads: number;
  /** Stop after this many minutes (0 = no limit). */
  timeBudgetMinutes: number;
  /** The sample prefix; empty: taken from the corpus. */
  predictPrefix: string;
  /** Fine-tuning: the model folder the run started from. */
  initFrom: string | null;
  unknownChars: 'refuse' | 'unk';
}

/** What an option the sizing rule chooses holds until it has (its `--size fixed` default). */
const UNSIZED = {
  layers: 2,
  hidden: 256,
  'batch-size': 32,
  lr: 0.008,
  dropout: 0,
  'output-dropout': 0,
  'weight-drop': 0,
  'weight-decay': 0,
} as const satisfies Record<SizedOption, number>;

/** Parsed options → a run's configuration. */
export function trainConfig(v: TrainValues): TrainConfig {
  if (v.size === 'auto' && !v['time-budget']) throw new OptionError('--size auto sizes the network to a time budget: give --time-budget MIN too');
  if (v.size === 'auto' && v['init-from']) throw new OptionError("--size auto chooses a new network; --init-from keeps the model's: drop one of them");
  if (v.size === 'auto' && d2l(v)) throw new OptionError("--preset d2l is the book's fixed network: drop --size auto");
  const toSize = SIZED_OPTIONS.filter((k) => v[k] === undefined);
  v = { ...v, ...Object.fromEntries(toSize.map((k) => [k, UNSIZED[k]])) };
  return {
    corpus: v.corpus ?? [],
    preprocessing: v.preprocessing!,
    keepBoilerplate: v['keep-boilerplate'] ?? false,
    keepMojibake: v['keep-mojibake'] ?? false,
    keepMargins: v['keep-margins'] ?? false,
    authorTags: v['author-tags'] ?? false,
    maxTokens: v['max-tokens']!,
    valFraction: v['val-fraction']!,
    cell: v.cell!,
    numLayers: v.layers!,
    hiddenSize: v.hidden!,
    vocabSize: 0,
    batchSize: v['batch-size']!,
    numSteps: v['num-steps']!,
    optimizer: v.optimizer!,
    lr: v.lr!,
    lrSchedule: v['lr-schedule']!,
    clip: v.clip!,
    dropout: v.dropout!,
    outputDropout: v['output-dropout']!,
    weightDrop: v['weight-drop']!,
    weightDecay: v['weight-decay']!,
    toSize,
    sizing: null,
    epochs: v.epochs!,
    iterator: v.iterator!,
    seed: v.seed!,
    engine: v.engine!,
    threads: v.threads!,
    timeBudgetMinutes: v['time-budget'] ?? 0,
    predictPrefix: v['predict-prefix'] ?? '',
    initFrom: v['init-from'] ?? null,
    unknownChars: v['unknown-chars']!,
  };
}

/** Where `wsd` stops warming up, and starts decaying (fractions of the run). */
export const WSD = { warmup: 0.02, decay: 0.6 } as const;
const FLOOR = 0.02;

/**
 * The learning rate after `progress` (0…1) of the run. `cosine` decays from --lr to 2% of it;
 * `wsd` (warmup–stable–decay) warms up, holds --lr — so a short run learns as fast as a constant
 * one — and anneals in its last 40%, where most of what annealing gives is gained.
 */
export function learningRate(c: Pick<TrainConfig, 'lr' | 'lrSchedule'>, progress: number): number {
  const p = Math.min(1, Math.max(0, progress));
  const cosine = (x: number) => FLOOR + (1 - FLOOR) * 0.5 * (1 + Math.cos(Math.PI * x));
  if (c.lrSchedule === 'cosine') return c.lr * cosine(p);
  if (c.lrSchedule === 'wsd') {
    if (p < WSD.warmup) return c.lr * (0.1 + 0.9 * (p / WSD.warmup));
    return c.lr * (p < WSD.decay ? 1 : cosine((p - WSD.decay) / (1 - WSD.decay)));
  }
  return c.lr;
}

/** How a run reads its corpus files: the reader's options its configuration sets (CLI, library and page alike). */
export function readingOf(c: TrainConfig): Pick<ReadOptions, 'preprocessing' | 'keepBoilerplate' | 'keepMojibake' | 'keepMargins' | 'authorTags'> {
  return {
    preprocessing: c.preprocessing,
    keepBoilerplate: c.keepBoilerplate,
    keepMojibake: c.keepMojibake,
    keepMargins: c.keepMargins,
    authorTags: c.authorTags,
  };
}

/** The network a configuration trains. */
export function architecture(c: Pick<TrainConfig, 'cell' | 'numLayers' | 'hiddenSize' | 'vocabSize'>): Architecture {
  return { cell: c.cell, numLayers: c.numLayers, hiddenSize: c.hiddenSize, vocabSize: c.vocabSize, input: 'one-hot' };
}

/** The engine a configuration trains on. */
export function engineSpec(config: TrainConfig): EngineSpec {
  return {
    choice: config.engine,
    arch: architecture(config),
    batchSize: config.batchSize,
    numSteps: config.numSteps,
    optimizer: { name: config.optimizer, weightDecay: config.weightDecay },
    threads: config.threads,
    weightDrop: config.weightDrop > 0,
  };
}
