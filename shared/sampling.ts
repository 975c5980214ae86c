/**
 * Picking the next character from the logits: greedy argmax (d2l's `predict_ch8`), or sampling
 * with temperature, then top-k, then top-p (nucleus) filtering — and the log-probabilities
 * reported with each choice, taken from the very distribution the choice was made from.
 */
import type { TokenLogprob } from './contract.ts';
import type { Rng } from './rng.ts';

export interface SamplingOptions {
  /** 0 = greedy (argmax). Otherwise logits are divided by it before the softmax. */
  temperature: number;
  /** Keep only the k most likely tokens (unset = all). */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p (unset = 1). */
  topP?: number;
}

/** Ids that are never produced: `<unk>` (a character the model never saw) and author tags. */
export type Excluded = (id: number) => boolean;

/** Index of the largest logit, the first on ties (as `torch.argmax`), skipping excluded ids. */
export function argmax(logits: ArrayLike<number>, n: number, excluded: Excluded): number {
  let best = -1;
  for (let i = 0; i < n; i++) {
    if (excluded(i)) continue;
    if (best < 0 || logits[i] > logits[best]) best = i;
  }
  return best;
}

/** ln softmax(logits)[i] over all n ids: the model's own distribution. */
export function logSoftmaxAt(logits: ArrayLike<number>, n: number, i: number): number {
  return logits[i] - logSumExp(logits, n);
}

export function logSumExp(logits: ArrayLike<number>, n: number): number {
  let max = -Infinity;
  for (let j = 0; j < n; j++) if (logits[j] > max) max = logits[j];
  let s = 0;
  for (let j = 0; j < n; j++) s += Math.exp(logits[j] - max);
  return max + Math.log(s);
}

/**
 * The distribution sampling draws from: candidate ids by decreasing logit (ties: lower id
 * first), their unnormalised weights exp((l − max) / T) after top-k, and how many survive top-p.
 */
interface Filtered {
  ids: number[];
  weights: number[];
  /** ids[0..n) are the candidates. */
  n: number;
  /** Σ weights[0..n). */
  mass: number;
}

function filtered(logits: ArrayLike<number>, V: number, o: SamplingOptions, excluded: Excluded): Filtered {
  const ids: number[] = [];
  for (let i = 0; i < V; i++) if (!excluded(i)) ids.push(i);
  byLogit(ids, logits);
  const k = Math.min(o.topK ?? ids.length, ids.length);
  ids.length = k;
  const max = logits[ids[0]];
  const weights = ids.map((i) => Math.exp((logits[i] - max) / o.temperature));
  let n = k;
  if (o.topP !== undefined && o.topP < 1) {
    const total = weights.reduce((a, b) => a + b, 0);
    let cum = 0;
    for (n = 0; n < k; ) {
      cum += weights[n++] / total;
      if (cum >= o.topP) break;
    }
  }
  let mass = 0;
  for (let j = 0; j < n; j++) mass += weights[j];
  return { ids, weights, n, mass };
}

/**
 * Sort ids by decreasing logit, ties by increasing id. Insertion sort for a character
 * vocabulary (it is sampled once per character: a comparator sort's calls cost more there); the
 * order — and so every sampled text — is the same either way.
 */
function byLogit(ids: number[], logits: ArrayLike<number>): void {
  if (ids.length > 128) {
    ids.sort((a, b) => logits[b] - logits[a] || a - b);
    return;
  }
  for (let i = 1; i < ids.length; i++) {
    const id = ids[i];
    const l = logits[id];
    let j = i - 1;
    // ids enter in increasing order, so an equal logit already ahead keeps its place (lower id first).
    while (j >= 0 && logits[ids[j]] < l) {
      ids[j + 1] = ids[j];
      j--;
    }
    ids[j + 1] = id;
  }
}

/** A choice, with its log-probability and the `top` likeliest alternatives when asked for. */
export interface Choice {
  id: number;
  logprob: number;
  /** [id, logprob] of the likeliest ids, most likely first (only when `top` > 0). */
  top: [number, number][];
}

/**
 * The next token. Greedy (temperature 0) takes the argmax and reports the model's own softmax;
 * sampling draws one uniform number and reports the filtered, renormalised distribution it drew
 * from. Excluded ids are never chosen. `top` < 0: no log-probabilities wanted (greedy then skips
 * the softmax; `logprob` is NaN).
 */
export function choose(logits: ArrayLike<number>, V: number, o: SamplingOptions, rng: Rng, excluded: Excluded, top = 0): Choice {
  if (o.temperature === 0) {
    const id = argmax(logits, V, excluded);
    if (top < 0) return { id, logprob: NaN, top: [] };
    return { id, logprob: logits[id] - logSumExp(logits, V), top: top > 0 ? modelTop(logits, V, top, excluded) : [] };
  }
  const f = filtered(logits, V, o, excluded);
  let u = rng.uniform() * f.mass;
  let j = f.n - 1;
  for (let c = 0; c < f.n; c++) {
    u -= f.weights[c];
    if (u < 0) {
      j = c;
      break;
    }
  }
  const lp = (c: number) => Math.log(f.weights[c] / f.mass);
  const alternatives: [number, number][] = [];
  for (let c = 0; c < Math.min(top, f.n); c++) if (f.weights[c] > 0) alternatives.push([f.ids[c], lp(c)]);
  return { id: f.ids[j], logprob: lp(j), top: alternatives };
}

/** The `k` likeliest ids under the model's own softmax, skipping excluded ids. */
export function modelTop(logits: ArrayLike<number>, V: number, k: number, excluded: Excluded): [number, number][] {
  const lse = logSumExp(logits, V);
  const ids: number[] = [];
  for (let i = 0; i < V; i++) if (!excluded(i)) ids.push(i);
  ids.sort((a, b) => logits[b] - logits[a] || a - b);
  return ids.slice(0, k).map((i) => [i, logits[i] - lse]);
}

/** [id, logprob] pairs → the contract's shape. */
export function asTokenLogprobs(pairs: [number, number][], tokens: readonly string[]): TokenLogprob[] {
  return pairs.map(([id, logprob]) => ({ text: tokens[id], logprob }));
}
