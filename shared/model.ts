import type { Preprocessing } from './text.ts';
import type { Vocab } from './vocab.ts';

/**
 * d2l's `RNNModel`: a stack of `numLayers` recurrent layers on one-hot characters, then a linear
 * output layer. Tensor names, shapes and gate order are those of its PyTorch `state_dict`.
 */
export type Cell = 'lstm' | 'gru' | 'rnn';
/** Names a model may be given (export --name, train()): safe in a URL path segment (/models/{name}/…) and as a request's `model`. */
export const MODEL_NAME = /^[A-Za-z0-9._-]{1,128}$/;

export const CELLS: readonly Cell[] = ['lstm', 'gru', 'rnn'];

export interface Architecture {
  cell: Cell;
  numLayers: number;
  hiddenSize: number;
  vocabSize: number;
  input: 'one-hot';
}

/** Gates stacked in the rows of each weight: LSTM i,f,g,o; GRU r,z,n; RNN one (tanh). */
export function numGates(cell: Cell): number {
  return cell === 'lstm' ? 4 : cell === 'gru' ? 3 : 1;
}

export interface TensorSpec {
  name: string;
  shape: number[];
}

/** The tensors of a model in `state_dict` order; the artifact stores them in this order. */
export function tensorSpecs(arch: Architecture): TensorSpec[] {
  const { hiddenSize: H, vocabSize: V, numLayers: L } = arch;
  const GH = numGates(arch.cell) * H;
  const specs: TensorSpec[] = [];
  for (let k = 0; k < L; k++) {
    const inSize = k === 0 ? V : H;
    specs.push(
      { name: `rnn.weight_ih_l${k}`, shape: [GH, inSize] },
      { name: `rnn.weight_hh_l${k}`, shape: [GH, H] },
      { name: `rnn.bias_ih_l${k}`, shape: [GH] },
      { name: `rnn.bias_hh_l${k}`, shape: [GH] },
    );
  }
  specs.push({ name: 'linear.weight', shape: [V, H] }, { name: 'linear.bias', shape: [V] });
  return specs;
}

export function numElements(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Tensors by `state_dict` name, float32, row-major. */
export type Params = Record<string, Float32Array>;

/** What d2l records about the run that produced a model (free-form beyond these fields). */
export interface TrainingRecord {
  corpus?: { files: string[]; sha256: string; tokens: number; details?: Record<string, unknown>[] };
  hyperparameters?: Record<string, string | number | boolean | null>;
  /** A prefix from the model's own text: the demo page's and the CLI's default. */
  samplePrefix?: string;
  epochs?: number;
  trainPerplexity?: number;
  validationPerplexity?: number | null;
  tokensPerSecond?: number;
  engine?: string;
  backend?: string;
  date?: string;
  [key: string]: unknown;
}

/** A loaded model: everything needed to generate, nothing tied to a file system. */
export interface Model {
  name: string;
  arch: Architecture;
  vocab: Vocab;
  preprocessing: Preprocessing;
  params: Params;
  training: TrainingRecord | null;
  /**
   * How the artifact stored the weights (absent for models made in memory). Models stored as
   * int8 are run by the kernel's int8 path; every runtime decides the same way, so the text is
   * the same everywhere.
   */
  storage?: 'float32' | 'float16' | 'int8';
  /**
   * Int8 renditions: how hidden states enter the integer products — 16 (int16, 32767·h: the
   * format's first int8 path, and what an int8 model.json without `stateBits` means) or 7
   * (u = round(63·h) + 64, on the relaxed dot product). Recorded in model.json; one text per seed either way.
   */
  stateBits?: StateBits;
  /** SHA-256 of weights.bin (hex), for models read from an artifact: continuations name the weights they resume on. */
  weightsSha256?: string;
}

export type StateBits = 7 | 16;
export const STATE_BITS: readonly StateBits[] = [16, 7];

/** Per-layer views of the params, in the order the forward pass reads them. */
export interface LayerParams {
  inSize: number;
  wIh: Float32Array;
  wHh: Float32Array;
  bIh: Float32Array;
  bHh: Float32Array;
}

export function layerParams(arch: Architecture, params: Params): LayerParams[] {
  const layers: LayerParams[] = [];
  for (let k = 0; k < arch.numLayers; k++) {
    layers.push({
      inSize: k === 0 ? arch.vocabSize : arch.hiddenSize,
      wIh: params[`rnn.weight_ih_l${k}`],
      wHh: params[`rnn.weight_hh_l${k}`],
      bIh: params[`rnn.bias_ih_l${k}`],
      bHh: params[`rnn.bias_hh_l${k}`],
    });
  }
  return layers;
}

/**
 * PyTorch's default initialisation, U(-1/√H, 1/√H) for every tensor, drawn from `uniform`
 * (a seeded PRNG) so a run is reproducible.
 */
export function initParams(arch: Architecture, uniform: () => number): Params {
  const bound = 1 / Math.sqrt(arch.hiddenSize);
  const params: Params = {};
  for (const spec of tensorSpecs(arch)) {
    const t = new Float32Array(numElements(spec.shape));
    for (let i = 0; i < t.length; i++) t[i] = (2 * uniform() - 1) * bound;
    params[spec.name] = t;
  }
  return params;
}
