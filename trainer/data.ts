/**
 * d2l's `load_data_time_machine`: corpus files → character ids → minibatch windows, with the
 * book's two iterators (`seq_data_iter_random`, `seq_data_iter_sequential`), plus a validation
 * split held out from the end of the corpus (d2l has none).
 */
import { OptionError } from '../shared/errors.ts';
import type { Rng } from '../shared/rng.ts';
import { tokenizeChars, type Preprocessing } from '../shared/text.ts';
import { Vocab } from '../shared/vocab.ts';

export type IteratorKind = 'sequential' | 'random';
export const ITERATORS: readonly IteratorKind[] = ['sequential', 'random'];

/** One minibatch: X and Y = X shifted by one, each [batchSize, numSteps], batch-major. */
export interface Window {
  x: Int32Array;
  y: Int32Array;
}

export interface Corpus {
  vocab: Vocab;
  /** The ids the model trains on (after `maxTokens` and the validation split). */
  train: Int32Array;
  /** The held-out tail, empty without a validation split. */
  validation: Int32Array;
}

/**
 * Corpus texts → vocabulary and ids. The vocabulary is built from every token of every file (as
 * d2l builds it before truncating to max_tokens), then the ids are cut to `maxTokens` (0 = all)
 * and the last `valFraction` of them are held out.
 */
export function loadCorpus(texts: string[], opts: { preprocessing: Preprocessing; maxTokens: number; valFraction: number }): Corpus {
  const tokens = texts.flatMap((t) => tokenizeChars(t, opts.preprocessing));
  if (tokens.length === 0) throw new OptionError('the corpus is empty after preprocessing');
  const vocab = Vocab.build(tokens);
  let ids = Int32Array.from(vocab.encode(tokens));
  if (opts.maxTokens > 0) ids = ids.subarray(0, opts.maxTokens);
  const cut = Math.round(ids.length * (1 - opts.valFraction));
  return { vocab, train: ids.subarray(0, cut), validation: ids.subarray(cut) };
}

/** Windows per epoch for a corpus of `n` ids (the same for any offset d2l may draw, up to one). */
export function checkWindows(n: number, batchSize: number, numSteps: number, what: string): void {
  if (Math.floor((n - numSteps - 1) / batchSize / numSteps) < 1) {
    throw new OptionError(`the ${what} set has ${n} tokens: too few for one window of batch ${batchSize} × ${numSteps} steps (needs more than ${batchSize * numSteps + numSteps + 1})`);
  }
}

/** d2l's `seq_data_iter_sequential`: neighbouring windows continue each other row by row. */
export function* sequentialWindows(corpus: Int32Array, batchSize: number, numSteps: number, rng: Rng | null): Generator<Window> {
  const offset = rng ? rng.randint(0, numSteps) : 0;
  const numTokens = Math.floor((corpus.length - offset - 1) / batchSize) * batchSize;
  const perRow = numTokens / batchSize;
  const numBatches = Math.floor(perRow / numSteps);
  for (let i = 0; i < numBatches * numSteps; i += numSteps) {
    const x = new Int32Array(batchSize * numSteps);
    const y = new Int32Array(batchSize * numSteps);
    for (let b = 0; b < batchSize; b++) {
      const start = offset + b * perRow + i; // Xs.reshape(batch_size, -1)[b, i : i + num_steps]
      x.set(corpus.subarray(start, start + numSteps), b * numSteps);
      y.set(corpus.subarray(start + 1, start + 1 + numSteps), b * numSteps);
    }
    yield { x, y };
  }
}

/** d2l's `seq_data_iter_random`: random non-overlapping subsequences, shuffled. */
export function* randomWindows(corpus: Int32Array, batchSize: number, numSteps: number, rng: Rng): Generator<Window> {
  const data = corpus.subarray(rng.randint(0, numSteps - 1));
  const numSubseqs = Math.floor((data.length - 1) / numSteps);
  const starts = Array.from({ length: numSubseqs }, (_, i) => i * numSteps);
  for (let i = starts.length - 1; i > 0; i--) {
    const j = rng.randint(0, i); // Fisher–Yates, as random.shuffle
    [starts[i], starts[j]] = [starts[j], starts[i]];
  }
  const numBatches = Math.floor(numSubseqs / batchSize);
  for (let n = 0; n < numBatches; n++) {
    const x = new Int32Array(batchSize * numSteps);
    const y = new Int32Array(batchSize * numSteps);
    for (let b = 0; b < batchSize; b++) {
      const s = starts[n * batchSize + b];
      x.set(data.subarray(s, s + numSteps), b * numSteps);
      y.set(data.subarray(s + 1, s + 1 + numSteps), b * numSteps);
    }
    yield { x, y };
  }
}
