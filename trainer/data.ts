/**
 * d2l's minibatch windows over a corpus's ids, with the book's two iterators
 * (`seq_data_iter_random`, `seq_data_iter_sequential`). Reading the files is trainer/corpus.ts.
 */
import { OptionError } from '../shared/errors.ts';
import type { Rng } from '../shared/rng.ts';
import type { IdArray } from './corpus.ts';

export type IteratorKind = 'sequential' | 'random';
export const ITERATORS: readonly IteratorKind[] = ['sequential', 'random'];

/** One minibatch: X and Y = X shifted by one, each [batchSize, numSteps], batch-major. */
export interface Window {
  x: Int32Array;
  y: Int32Array;
}

/** Windows per epoch for a corpus of `n` ids (the same for any offset d2l may draw, up to one). */
export function checkWindows(n: number, batchSize: number, numSteps: number, what: string): void {
  if (Math.floor((n - numSteps - 1) / batchSize / numSteps) < 1) {
    throw new OptionError(
      `the ${what} set has ${n} tokens: too few for one window of batch ${batchSize} × ${numSteps} steps (needs more than ${batchSize * numSteps + numSteps + 1})`,
    );
  }
}

/** d2l's `seq_data_iter_sequential`: neighbouring windows continue each other row by row. */
export function* sequentialWindows(corpus: IdArray, batchSize: number, numSteps: number, rng: Rng | null): Generator<Window> {
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
export function* randomWindows(corpus: IdArray, batchSize: number, numSteps: number, rng: Rng): Generator<Window> {
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

/** About how many windows an epoch has (exact up to the offset d2l draws): for progress and schedules. */
export function windowsPerEpoch(n: number, batchSize: number, numSteps: number, iterator: IteratorKind): number {
  return iterator === 'sequential' ? Math.floor(Math.floor((n - 1) / batchSize) / numSteps) : Math.floor(Math.floor((n - 1) / numSteps) / batchSize);
}
