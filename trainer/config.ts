/** Everything that defines a training run: recorded in checkpoints and in the model's training record. */
import type { Cell } from '../shared/model.ts';
import type { Preprocessing } from '../shared/text.ts';
import type { IteratorKind } from './data.ts';
import type { OptimizerName } from './engines/engine.ts';

export type EngineChoice = 'auto' | 'native' | 'tfjs' | 'tfjs-gpu' | 'tfjs-node' | 'tfjs-wasm' | 'tfjs-cpu';
export const ENGINE_CHOICES: readonly EngineChoice[] = ['auto', 'native', 'tfjs', 'tfjs-gpu', 'tfjs-node', 'tfjs-wasm', 'tfjs-cpu'];

export interface TrainConfig {
  corpus: string[];
  preprocessing: Preprocessing;
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
  clip: number;
  /** Dropout between recurrent layers, as nn.LSTM(dropout=p); 0 = none (d2l). */
  dropout: number;
  epochs: number;
  iterator: IteratorKind;
  seed: number;
  engine: EngineChoice;
  threads: number;
  /** Stop at the end of the first epoch past this many minutes (0 = no limit). */
  timeBudgetMinutes: number;
  predictPrefix: string;
}

/** d2l §9.3's run: `load_data_time_machine(32, 35)` (first 10,000 tokens), 2×256 LSTM, SGD lr 2, clip 1, 500 epochs. */
export const D2L_PRESET: Omit<TrainConfig, 'vocabSize' | 'engine' | 'threads'> = {
  corpus: ['data/timemachine.txt'],
  preprocessing: 'd2l',
  maxTokens: 10000,
  valFraction: 0,
  cell: 'lstm',
  numLayers: 2,
  hiddenSize: 256,
  batchSize: 32,
  numSteps: 35,
  optimizer: 'sgd',
  lr: 2,
  clip: 1,
  dropout: 0,
  epochs: 500,
  iterator: 'sequential',
  seed: 0,
  timeBudgetMinutes: 0,
  predictPrefix: 'time traveller',
};
