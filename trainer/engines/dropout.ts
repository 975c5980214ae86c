/**
 * Dropout as PyTorch's nn.LSTM(dropout=p) applies it: on the outputs of every recurrent layer but
 * the last, in training only, kept values scaled by 1/(1 − p). The masks come from a seed the
 * training loop derives from (run seed, epoch, window), so they need no checkpoint state and every
 * engine draws the same ones.
 */
import { Rng } from '../../shared/rng.ts';

export interface Dropout {
  p: number;
  seed: number;
}

/** The mask for layer `layer`'s output sequence, n = steps · batch · hidden values (time-major). */
export function dropoutMask(d: Dropout, layer: number, n: number): Float32Array {
  const rng = new Rng((Math.imul(d.seed ^ 0x27d4eb2d, 0x9e3779b1) + layer * 0x85ebca6b) >>> 0);
  const keep = 1 / (1 - d.p);
  const mask = new Float32Array(n);
  for (let i = 0; i < n; i++) mask[i] = rng.uniform() < d.p ? 0 : keep;
  return mask;
}

/** The seed of one window's masks. */
export function windowSeed(runSeed: number, epoch: number, window: number): number {
  return (Math.imul(runSeed + 0x632be5ab, 0x2545f491) ^ Math.imul(epoch, 0x9e3779b1) ^ Math.imul(window + 1, 0x85ebca6b)) >>> 0;
}
