/** `deeprnn train`'s options that a library call (and <deeprnn-train>) takes: the others are about files and the command line. */
import type { TrainOptionTable } from './config.ts';

export const LIBRARY_TRAIN_OPTIONS = [
  'preprocessing', 'keep-boilerplate', 'author-tags', 'max-tokens', 'val-fraction', 'cell', 'layers', 'hidden', 'batch-size', 'num-steps', 'optimizer', 'lr',
  'lr-schedule', 'clip', 'size', 'dropout', 'output-dropout', 'weight-drop', 'weight-decay', 'epochs', 'iterator', 'seed', 'threads', 'time-budget', 'predict-prefix',
] as const satisfies readonly (keyof TrainOptionTable)[];
