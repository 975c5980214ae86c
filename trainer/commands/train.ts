/** `deeprnn train`: option parsing and progress display around trainer/train.ts. */
import { availableParallelism } from 'node:os';
import { mkdir } from 'node:fs/promises';
import { OptionError } from '../../shared/errors.ts';
import { CELLS, type Cell } from '../../shared/model.ts';
import { PREPROCESSINGS, type Preprocessing } from '../../shared/text.ts';
import { readCheckpoint, type EpochRecord } from '../checkpoint.ts';
import { D2L_PRESET, ENGINE_CHOICES, type EngineChoice, type TrainConfig } from '../config.ts';
import { ITERATORS, type IteratorKind } from '../data.ts';
import type { OptimizerName } from '../engines/engine.ts';
import { choiceOption, intOption, numberOption, parseCommand, stringOption, type OptionSpec } from '../options.ts';
import { train } from '../train.ts';

export const trainHelp = `Usage: deeprnn train --out DIR [options]
       deeprnn train --resume DIR

Trains a deep recurrent language model (d2l's train_ch8) and writes DIR/model.json +
weights.bin, DIR/metrics.jsonl, DIR/perplexity.svg and DIR/checkpoint.bin (every epoch).

  --preset d2l            d2l §9.3 exactly: first 10,000 tokens of data/timemachine.txt, 2×256 LSTM,
                          batch 32 × 35 steps, SGD lr 2, clip 1, 500 epochs, sequential iterator
  --corpus FILE           corpus text file, UTF-8; repeat for several (default data/timemachine.txt)
  --preprocessing P       d2l (letters only, lower-case; default) or raw (text as written)
  --max-tokens N          keep the first N tokens, 0 = all (default 0; 10000 under --preset d2l)
  --val-fraction F        hold out the last F of the tokens for validation, 0 ≤ F ≤ 0.5 (default 0)
  --cell C                lstm, gru or rnn (default lstm)
  --layers L              stacked recurrent layers, 1 to 16 (default 2)
  --hidden H              hidden units per layer, 1 to 4096 (default 256)
  --batch-size B          default 32
  --num-steps T           time steps per window (default 35)
  --optimizer O           sgd or adam (default sgd)
  --lr X                  learning rate (default 2 for sgd, 0.002 for adam)
  --clip X                gradient clipping threshold θ on the global norm (default 1)
  --dropout P             dropout between recurrent layers, 0 ≤ P < 1, as nn.LSTM(dropout=P) (default 0)
  --epochs N              default 500
  --iterator I            sequential (default, state carried) or random (state reset every window)
  --seed S                integer seed in [0, 4294967295] (default 0): same seed, same result
  --engine E              auto (tfjs-node-gpu if it loads and a GPU is present, else native),
                          native, tfjs (best tfjs backend present: GPU, tfjs-node, then wasm),
                          tfjs-gpu, tfjs-node, tfjs-wasm, tfjs-cpu (default auto)
  --threads N             native engine: 1 or 2 threads (default: 2 when the machine has 2 cores)
  --time-budget MIN       stop after the epoch that passes MIN minutes (default: no limit)
  --predict-prefix TEXT   prefix of the predictions printed every 10 epochs (default "time traveller")
  --out DIR               output folder (created)
  --resume DIR            continue a killed run from DIR/checkpoint.bin; takes no other option
  --json                  one JSON object per epoch on stdout (progress and predictions on stderr)`;

const OPTIONS: OptionSpec = {
  preset: { type: 'string' },
  corpus: { type: 'string', multiple: true },
  preprocessing: { type: 'string' },
  'max-tokens': { type: 'string' },
  'val-fraction': { type: 'string' },
  cell: { type: 'string' },
  layers: { type: 'string' },
  hidden: { type: 'string' },
  'batch-size': { type: 'string' },
  'num-steps': { type: 'string' },
  optimizer: { type: 'string' },
  lr: { type: 'string' },
  clip: { type: 'string' },
  dropout: { type: 'string' },
  epochs: { type: 'string' },
  iterator: { type: 'string' },
  seed: { type: 'string' },
  engine: { type: 'string' },
  threads: { type: 'string' },
  'time-budget': { type: 'string' },
  'predict-prefix': { type: 'string' },
  out: { type: 'string' },
  resume: { type: 'string' },
  json: { type: 'boolean' },
};

type Values = ReturnType<typeof parseCommand>['values'];

/** Options → a full configuration: preset first, then each option given. */
export function trainConfig(values: Values): TrainConfig {
  const s = (name: string) => stringOption(name, values[name]);
  const preset = choiceOption('preset', s('preset'), ['d2l'] as const);
  const base = { ...D2L_PRESET, maxTokens: preset ? D2L_PRESET.maxTokens : 0 };
  const optimizer = choiceOption<OptimizerName>('optimizer', s('optimizer'), ['sgd', 'adam']) ?? base.optimizer;
  const corpus = values.corpus as string[] | undefined;
  const defaultThreads = Math.min(2, availableParallelism());
  return {
    corpus: corpus && corpus.length > 0 ? corpus : base.corpus,
    preprocessing: choiceOption<Preprocessing>('preprocessing', s('preprocessing'), PREPROCESSINGS) ?? base.preprocessing,
    maxTokens: intOption('max-tokens', s('max-tokens'), 0, Number.MAX_SAFE_INTEGER) ?? base.maxTokens,
    valFraction: numberOption('val-fraction', s('val-fraction'), (v) => v >= 0 && v <= 0.5, 'a number in [0, 0.5]') ?? base.valFraction,
    cell: choiceOption<Cell>('cell', s('cell'), CELLS) ?? base.cell,
    numLayers: intOption('layers', s('layers'), 1, 16) ?? base.numLayers,
    hiddenSize: intOption('hidden', s('hidden'), 1, 4096) ?? base.hiddenSize,
    vocabSize: 0,
    batchSize: intOption('batch-size', s('batch-size'), 1, 4096) ?? base.batchSize,
    numSteps: intOption('num-steps', s('num-steps'), 1, 10000) ?? base.numSteps,
    optimizer,
    lr: numberOption('lr', s('lr'), (v) => v > 0 && v <= 100, 'a number in (0, 100]') ?? (optimizer === 'adam' ? 0.002 : base.lr),
    clip: numberOption('clip', s('clip'), (v) => v > 0, 'a positive number') ?? base.clip,
    dropout: numberOption('dropout', s('dropout'), (v) => v >= 0 && v < 1, 'a number in [0, 1)') ?? base.dropout,
    epochs: intOption('epochs', s('epochs'), 1, 1_000_000) ?? base.epochs,
    iterator: choiceOption<IteratorKind>('iterator', s('iterator'), ITERATORS) ?? base.iterator,
    seed: intOption('seed', s('seed'), 0, 0xffffffff) ?? base.seed,
    engine: choiceOption<EngineChoice>('engine', s('engine'), ENGINE_CHOICES) ?? 'auto',
    threads: intOption('threads', s('threads'), 1, 2) ?? defaultThreads,
    timeBudgetMinutes: numberOption('time-budget', s('time-budget'), (v) => v > 0, 'a positive number of minutes') ?? 0,
    predictPrefix: s('predict-prefix') ?? base.predictPrefix,
  };
}

/** A one-line progress bar on a terminal; nothing otherwise. */
function progressBar(stream: NodeJS.WriteStream): ((epoch: number, epochs: number, i: number, n: number) => void) | undefined {
  if (!stream.isTTY) return undefined;
  return (epoch, epochs, i, n) => {
    const width = 24;
    const done = Math.round(((i + 1) / n) * width);
    stream.write(`\r  epoch ${epoch}/${epochs} [${'#'.repeat(done)}${'.'.repeat(width - done)}] window ${i + 1}/${n}\x1b[K`);
  };
}

export async function trainCommand(argv: string[], out: (s: string) => void): Promise<void> {
  const { values, positionals } = parseCommand(argv, OPTIONS);
  if (positionals.length > 0) throw new OptionError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const json = values.json === true;
  const resumeDir = stringOption('resume', values.resume);
  let config: TrainConfig;
  let outDir: string;
  let checkpoint = null;
  if (resumeDir !== undefined) {
    const others = Object.keys(values).filter((k) => k !== 'resume' && k !== 'json');
    if (others.length > 0) throw new OptionError(`--resume takes the run's own options from its checkpoint; drop --${others[0]}`);
    checkpoint = await readCheckpoint(resumeDir);
    config = checkpoint.config;
    outDir = resumeDir;
  } else {
    const dir = stringOption('out', values.out);
    if (dir === undefined) throw new OptionError('--out DIR is required (or --resume DIR)');
    config = trainConfig(values);
    outDir = dir;
    await mkdir(outDir, { recursive: true });
  }
  const err = (s: string) => process.stderr.write(s + '\n');
  const log = json ? err : out;
  const bar = json ? undefined : progressBar(process.stdout);
  const epochLine = (r: EpochRecord, epochs: number) =>
    `epoch ${r.epoch}/${epochs} perplexity ${r.perplexity.toFixed(2)}${r.validationPerplexity === null ? '' : ` validation ${r.validationPerplexity.toFixed(2)}`} ${r.tokensPerSecond} tokens/s ${r.elapsedSeconds.toFixed(0)} s`;
  if (checkpoint) log(`resuming ${outDir} after epoch ${checkpoint.epoch}`);
  await train(config, outDir, {
    log: (line) => {
      if (bar) process.stdout.write('\r\x1b[K');
      log(line);
    },
    window: bar && ((epoch, i, n) => bar(epoch, config.epochs, i, n)),
    epoch: (r, epochs) => {
      if (json) out(JSON.stringify(r));
      else if (bar) process.stdout.write(`\r\x1b[K${epochLine(r, epochs)}\n`);
      else if (r.epoch % 10 === 0 || r.epoch === epochs) out(epochLine(r, epochs));
    },
  }, checkpoint);
}
