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
 * One object, rewritten by every `filtered` call: sampling runs once per character on every
 * request, and a choice is read out before the next one is made (choose never yields).
 */
interface Filtered {
  /** [V] candidate ids; [0, k) hold the survivors of top-k. */
  ids: Int32Array;
  /** [V] weights of ids[0..k), float64 as Math.exp gives them. */
  weights: Float64Array;
  /** ids[0..n) are the candidates. */
  n: number;
  /** Σ weights[0..n). */
  mass: number;
}
const scratch: Filtered = { ids: new Int32Array(0), weights: new Float64Array(0), n: 0, mass: 0 };

function filtered(logits: ArrayLike<number>, V: number, o: SamplingOptions, excluded: Excluded): Filtered {
  if (scratch.ids.length < V) scratch.ids = new Int32Array(V);
  if (scratch.weights.length < V) scratch.weights = new Float64Array(V);
  const { ids, weights } = scratch;
  let count = 0;
  for (let i = 0; i < V; i++) if (!excluded(i)) ids[count++] = i;
  byLogit(ids, count, logits);
  const k = Math.min(o.topK ?? count, count);
  const max = logits[ids[0]];
  for (let j = 0; j < k; j++) weights[j] = Math.exp((logits[ids[j]] - max) / o.temperature);
  let n = k;
  if (o.topP !== undefined && o.topP < 1) {
    let total = 0;
    for (let j = 0; j < k; j++) total += weights[j];
    let cum = 0;
    for (n = 0; n < k; ) {
      cum += weights[n++] / total;
      if (cum >= o.topP) break;
    }
  }
  let mass = 0;
  for (let j = 0; j < n; j++) mass += weights[j];
  scratch.n = n;
  scratch.mass = mass;
  return scratch;
}

/**
 * Sort ids[0..count) by decreasing logit, ties by increasing id. The order is total, so every
 * way of sorting gives the same permutation — and so every sampled text is the same whichever
 * runs: insertion sort for a small vocabulary (the 28 characters of d2l's), else one native
 * numeric sort of keys that pack (logit, id) into a double when the logits are float32 (the
 * kernel's), else a comparator sort. A 115-character vocabulary sampled 6.6 µs per character by
 * insertion sort, a quarter of a step (measured).
 */
function byLogit(ids: Int32Array, count: number, logits: ArrayLike<number>): void {
  if (count <= 32) {
    for (let i = 1; i < count; i++) {
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
  } else if (logits instanceof Float32Array && count <= ID_LIMIT) {
    sortByPackedKeys(ids, count, logits);
  } else {
    ids.subarray(0, count).sort((a, b) => logits[b] - logits[a] || a - b);
  }
}

const ID_BITS = 21;
const ID_LIMIT = 1 << ID_BITS;
let keys = new Float64Array(0);

/**
 * key = rank · 2^21 + id, an exact integer below 2^53, where rank grows as the logit falls: the
 * float32 bits made to order like the numbers (negatives' bits flipped, positives' sign bit set),
 * then turned around. −0 is read as +0, as the comparison sees them.
 */
function sortByPackedKeys(ids: Int32Array, count: number, logits: Float32Array): void {
  if (keys.length < count) keys = new Float64Array(count);
  const bits = new Uint32Array(logits.buffer, logits.byteOffset, logits.length);
  for (let i = 0; i < count; i++) {
    const id = ids[i];
    const b = bits[id] === 0x80000000 ? 0 : bits[id];
    const ordered = b & 0x80000000 ? ~b >>> 0 : (b | 0x80000000) >>> 0;
    keys[i] = (0xffffffff - ordered) * ID_LIMIT + id;
  }
  const sorted = keys.subarray(0, count).sort();
  // The id is the key's low bits; a float % is slow, a power-of-two division exact.
  for (let i = 0; i < count; i++) ids[i] = sorted[i] - Math.floor(sorted[i] / ID_LIMIT) * ID_LIMIT;
}

const NO_ALTERNATIVES: readonly [number, number][] = Object.freeze([]);

/** A choice, with its log-probability and the `top` likeliest alternatives when asked for. */
export interface Choice {
  id: number;
  logprob: number;
  /** [id, logprob] of the likeliest ids, most likely first (only when `top` > 0). */
  top: readonly [number, number][];
}

/**
 * The next token. Greedy (temperature 0) takes the argmax and reports the model's own softmax;
 * sampling draws one uniform number and reports the filtered, renormalised distribution it drew
 * from. Excluded ids are never chosen. `top` < 0: no log-probabilities wanted (`logprob` is NaN;
 * greedy skips the softmax).
 */
export function choose(logits: ArrayLike<number>, V: number, o: SamplingOptions, rng: Rng, excluded: Excluded, top = 0): Choice {
  if (o.temperature === 0) {
    const id = argmax(logits, V, excluded);
    if (top < 0) return { id, logprob: NaN, top: NO_ALTERNATIVES };
    return { id, logprob: logits[id] - logSumExp(logits, V), top: top > 0 ? modelTop(logits, V, top, excluded) : NO_ALTERNATIVES };
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
  if (top < 0) return { id: f.ids[j], logprob: NaN, top: NO_ALTERNATIVES };
  const alternatives: [number, number][] = [];
  for (let c = 0; c < Math.min(top, f.n); c++) if (f.weights[c] > 0) alternatives.push([f.ids[c], Math.log(f.weights[c] / f.mass)]);
  return { id: f.ids[j], logprob: Math.log(f.weights[j] / f.mass), top: alternatives };
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
export function asTokenLogprobs(pairs: readonly [number, number][], tokens: readonly string[]): TokenLogprob[] {
  return pairs.map(([id, logprob]) => ({ text: tokens[id], logprob }));
}
