/**
 * Dropout as PyTorch's nn.LSTM(dropout=p) applies it — on the outputs of every recurrent layer but
 * the last — and, with `output`, on the last layer's outputs before the output layer (Zaremba et
 * al.'s dropout on every non-recurrent connection); and, with `recurrent`, on the recurrent
 * connections as AWD-LSTM's weight drop (DropConnect): each window drops entries of every layer's
 * W_hh, one mask for all its steps and rows — dropping activations on the recurrent path would
 * change the state every step and wash out the memory the cell keeps. In training only, kept
 * values scaled by 1/(1 − p). The masks come from a seed the training loop derives from (run
 * seed, epoch, window), so they need no checkpoint state and every engine draws the same ones.
 */
import { Rng } from '../../shared/rng.ts';

export interface Dropout {
  /** Between recurrent layers. */
  p: number;
  /** On the last layer's outputs (0 = none, as nn.LSTM). */
  output: number;
  /** On the entries of every layer's W_hh, one mask per window (0 = none). */
  recurrent: number;
  seed: number;
}

/** The probability layer `layer` of `layers` drops its outputs with. */
export function dropoutAt(d: Dropout, layer: number, layers: number): number {
  return layer < layers - 1 ? d.p : d.output;
}

/** Whether a window with these settings drops anything in a network of `layers` layers. */
export function drops(d: Dropout | undefined, layers: number): d is Dropout {
  return d !== undefined && ((layers > 1 && d.p > 0) || d.output > 0);
}

/** Whether a window with these settings drops recurrent weights. */
export function dropsWeights(d: Dropout | undefined): d is Dropout {
  return d !== undefined && d.recurrent > 0;
}

/** The mask of layer `layer`'s W_hh for one window: n = gates·H · H values, W_hh's own layout. */
export function weightDropMask(d: Dropout, layer: number, n: number): Float32Array {
  return bernoulliMask(new Rng((Math.imul(d.seed ^ 0x165667b1, 0xc2b2ae35) + layer * 0x27d4eb2f) >>> 0), d.recurrent, n);
}

function bernoulliMask(rng: Rng, p: number, n: number): Float32Array {
  const keep = 1 / (1 - p);
  const mask = new Float32Array(n);
  for (let i = 0; i < n; i++) mask[i] = rng.uniform() < p ? 0 : keep;
  return mask;
}

/** The mask for layer `layer`'s output sequence, n = steps · batch · hidden values (time-major). */
export function dropoutMask(d: Dropout, layer: number, layers: number, n: number): Float32Array {
  return bernoulliMask(new Rng((Math.imul(d.seed ^ 0x27d4eb2d, 0x9e3779b1) + layer * 0x85ebca6b) >>> 0), dropoutAt(d, layer, layers), n);
}

/** The seed of one window's masks. */
export function windowSeed(runSeed: number, epoch: number, window: number): number {
  return (Math.imul(runSeed + 0x632be5ab, 0x2545f491) ^ Math.imul(epoch, 0x9e3779b1) ^ Math.imul(window + 1, 0x85ebca6b)) >>> 0;
}
