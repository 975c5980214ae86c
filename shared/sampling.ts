/**
 * Picking the next character from the logits: greedy argmax (d2l's `predict_ch8`), or sampling
 * with temperature, then top-k, then top-p (nucleus) filtering.
 */
import { OptionError } from './errors.ts';
import type { Rng } from './rng.ts';

export interface SamplingOptions {
  /** 0 = greedy (argmax). Otherwise logits are divided by it before the softmax. */
  temperature: number;
  /** Keep only the k most likely tokens (unset = all). */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p (unset = 1). */
  topP?: number;
}

export const MAX_TEMPERATURE = 100;

export function validateSampling(o: SamplingOptions): void {
  const t = o.temperature;
  if (typeof t !== 'number' || !Number.isFinite(t) || t < 0 || t > MAX_TEMPERATURE) throw new OptionError(`temperature must be a finite number in [0, ${MAX_TEMPERATURE}], got ${String(t)}`);
  if (o.topK !== undefined && (typeof o.topK !== 'number' || !Number.isInteger(o.topK) || o.topK < 1)) throw new OptionError(`topK must be a whole number ≥ 1, got ${String(o.topK)}`);
  if (o.topP !== undefined && (typeof o.topP !== 'number' || !Number.isFinite(o.topP) || o.topP <= 0 || o.topP > 1)) throw new OptionError(`topP must be a number in (0, 1], got ${String(o.topP)}`);
}

/** Index of the largest logit, the first on ties (as `torch.argmax`), skipping `exclude`. */
export function argmax(logits: ArrayLike<number>, exclude = -1): number {
  let best = -1;
  for (let i = 0; i < logits.length; i++) {
    if (i === exclude) continue;
    if (best < 0 || logits[i] > logits[best]) best = i;
  }
  return best;
}

/**
 * The next token. `exclude` (the `<unk>` index) is never produced: it stands for "a character
 * the model never saw", which is not a character anyone can print.
 */
export function sampleToken(logits: ArrayLike<number>, o: SamplingOptions, rng: Rng, exclude = -1): number {
  if (o.temperature === 0) return argmax(logits, exclude);
  const ids: number[] = [];
  for (let i = 0; i < logits.length; i++) if (i !== exclude) ids.push(i);
  ids.sort((a, b) => logits[b] - logits[a] || a - b);
  const k = Math.min(o.topK ?? ids.length, ids.length);
  const kept = ids.slice(0, k);
  const max = logits[kept[0]];
  const weights = kept.map((i) => Math.exp((logits[i] - max) / o.temperature));
  const total = weights.reduce((a, b) => a + b, 0);
  let n = kept.length;
  if (o.topP !== undefined && o.topP < 1) {
    let cum = 0;
    for (n = 0; n < kept.length; ) {
      cum += weights[n++] / total;
      if (cum >= o.topP) break;
    }
  }
  const mass = weights.slice(0, n).reduce((a, b) => a + b, 0);
  let u = rng.uniform() * mass;
  for (let j = 0; j < n; j++) {
    u -= weights[j];
    if (u < 0) return kept[j];
  }
  return kept[n - 1];
}
