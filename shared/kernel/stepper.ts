/**
 * Generation's step on the WebAssembly kernel, for a batch of rows: the same equations as
 * shared/reference.ts. Weights are copied into the kernel's memory once per model
 * (`KernelWeights`), packed for the kernel's products; each `KernelRows` adds only the state of
 * its rows, so a server keeps one copy of a model and steps every stream in flight together.
 *
 * Row r of a step is computed by exactly the operations that compute a batch of one (the
 * kernel's products and cells never mix rows), so a text never depends on who else was in the
 * batch: the server's batched text, the CLI's and the browser's are the same.
 *
 * Two paths, chosen by how the artifact stored the weights:
 * - float32 / float16: `gemmPacked`, f32 throughout — within 1e-5 of the reference pass;
 * - int8: `gemmQ8`, int8 weights × int16 hidden states summed exactly in integers — faster,
 *   logits within ~1e-3 of the reference pass, identical in every runtime.
 */
import { layerParams, numGates, type Model } from '../model.ts';
import { beginState, referenceStep, type RecurrentState } from '../reference.ts';
import { PACK_ROWS, packRows8, packRowsQ8, padTo, type Kernel } from './kernel.ts';

/**
 * Rows of recurrent state advanced together. Rows start at zeros (d2l's `begin_state`).
 */
export interface RowStepper {
  readonly capacity: number;
  readonly vocabSize: number;
  /** Floats between two rows of the logits `step` returns. */
  readonly logitsStride: number;
  /**
   * Feed tokens[i] to row first + i, for every i; returns the logits, row i at
   * i · logitsStride (vocabSize values each). The array is reused by the next call.
   */
  step(first: number, tokens: ArrayLike<number>): Float32Array;
  /** Row back to zeros. */
  reset(row: number): void;
  /** Row `to` takes row `from`'s state (compaction when a row leaves). */
  copy(from: number, to: number): void;
  /** Rows first + i take the states rows first + from[i] had before the call, all at once (beam search). */
  gather(first: number, from: readonly number[]): void;
  /** A copy of a row's state, and back (the executor's prefix cache). */
  saveRow(row: number): Float32Array;
  loadRow(row: number, state: Float32Array): void;
  /**
   * A row's state in the one layout every stepper shares — per layer h [H], then (LSTM) per layer
   * c [H] — and back: what a continuation carries from one runtime to another.
   */
  readState(row: number): Float32Array;
  writeState(row: number, state: Float32Array): void;
}

/** A packed weight matrix: f32 (`scales` 0) or int8 with per-row scales (and, for 7-bit states, scales over 63 and row sums). */
interface Matrix {
  ptr: number;
  scales: number;
  rows: number;
  scales7?: number;
  rowsums?: number;
}

interface LayerWeights {
  /** Layer 0: W_ihᵀ [V, GH], f32 (its one-hot input selects a row); above: packed. */
  wIh: Matrix;
  wHh: Matrix;
  bIh: number;
  bHh: number;
}

export interface KernelWeights {
  kernel: Kernel;
  model: Model;
  int8: boolean;
  layers: LayerWeights[];
  wOut: Matrix;
  bOut: number;
}

/** Copy a model's weights into the kernel, packed for generation. Give them back with `freeKernelWeights`. */
export function loadKernelWeights(kernel: Kernel, model: Model): KernelWeights {
  const { hiddenSize: H, vocabSize: V, cell } = model.arch;
  const GH = numGates(cell) * H;
  const int8 = model.storage === 'int8';
  const pack = (w: Float32Array, rows: number, cols: number): Matrix => {
    if (!int8) return { ptr: kernel.put(packRows8(w, rows, cols)), scales: 0, rows };
    const { q, scales, scales7, rowsums } = packRowsQ8(w, rows, cols);
    if (model.stateBits === 7)
      return {
        ptr: kernel.putBytes(q),
        scales: kernel.put(scales),
        rows,
        scales7: kernel.put(scales7),
        rowsums: kernel.putBytes(new Uint8Array(rowsums.buffer)),
      };
    return { ptr: kernel.putBytes(q), scales: kernel.put(scales), rows };
  };
  /** mᵀ in the kernel, for m [rows, cols] row-major: the kernel's own transpose. */
  const putTransposed = (m: Float32Array, rows: number, cols: number): number => {
    const src = kernel.put(m);
    const dst = kernel.alloc(rows * cols);
    kernel.k.transpose(src, dst, rows, cols);
    kernel.free(src);
    return dst;
  };
  // Biases are padded to whole 8-row blocks: the products add them a block at a time.
  const bias = (b: Float32Array, rows: number) => kernel.put(Float32Array.from({ length: padTo(rows, PACK_ROWS) }, (_, i) => b[i] ?? 0));
  return {
    kernel,
    model,
    int8,
    layers: layerParams(model.arch, model.params).map((p, l) => ({
      wIh: l === 0 ? { ptr: putTransposed(p.wIh, GH, V), scales: 0, rows: GH } : pack(p.wIh, GH, p.inSize),
      wHh: pack(p.wHh, GH, H),
      bIh: l === 0 ? kernel.put(p.bIh) : bias(p.bIh, GH),
      bHh: bias(p.bHh, GH),
    })),
    wOut: pack(model.params['linear.weight'], V, H),
    bOut: bias(model.params['linear.bias'], V),
  };
}

export function freeKernelWeights(w: KernelWeights): void {
  const k = w.kernel;
  const matrix = (m: Matrix) => {
    k.free(m.ptr);
    if (m.scales) k.free(m.scales);
    if (m.scales7) k.free(m.scales7);
    if (m.rowsums) k.free(m.rowsums);
  };
  for (const L of w.layers) {
    matrix(L.wIh);
    matrix(L.wHh);
    k.free(L.bIh);
    k.free(L.bHh);
  }
  matrix(w.wOut);
  k.free(w.bOut);
}

/** A `RowStepper` on the kernel, with the buffers it owns (give them back with `free`). */
export interface KernelRows extends RowStepper {
  free(): void;
}

export function kernelRows(w: KernelWeights, capacity: number): KernelRows {
  const { kernel } = w;
  const k = kernel.k;
  const { hiddenSize: H, vocabSize: V, cell, numLayers: L } = w.model.arch;
  const GH = numGates(cell) * H;
  // Row strides: states pad to whole 16-value chunks (the int8 product reads 16 at a time; the
  // padding stays zero because the cells write H values), gate rows to whole 8-row blocks.
  const S = padTo(H, 16);
  const GS = padTo(GH, PACK_ROWS);
  const VS = padTo(V, PACK_ROWS);
  const buffers: number[] = [];
  const alloc = (n: number) => {
    const p = kernel.alloc(n);
    buffers.push(p);
    return p;
  };
  const hs = Array.from({ length: L }, () => alloc(capacity * S)); // [capacity, S] per layer
  const cs = Array.from({ length: L }, () => alloc(cell === 'lstm' ? capacity * S : 0)); // [capacity, S] (LSTM)
  const xq = alloc((capacity * S) / 2); // [capacity, S] int16 (int8 path) or [capacity, S] uint8 (7-bit states): each product's input, quantised
  const gx = alloc(capacity * GS); // [capacity, GS]: W_ih x + b_ih
  const gh = alloc(capacity * GS); // [capacity, GS]: W_hh h + b_hh
  const acts = alloc(capacity * GS); // [capacity, GS]: activated gates (not read back here)
  const tokens = alloc(capacity); // [capacity] i32
  const logits = alloc(capacity * VS); // [capacity, VS]
  const f = (ptr: number, row: number, stride: number) => ptr + row * stride * 4;
  // Views of the step's input and output, made again only when the memory grows (which detaches them).
  let viewed: ArrayBuffer | null = null;
  let tokensView = new Int32Array(0); // [capacity]
  let logitsView = new Float32Array(0); // [capacity, VS]
  let logitsViews: Float32Array[] = []; // [n][n, VS]: logitsView's first n rows, made once per n (a step runs once per character)
  const views = () => {
    const buffer = k.memory.buffer;
    if (buffer === viewed) return;
    viewed = buffer;
    tokensView = new Int32Array(buffer, tokens, capacity);
    logitsView = new Float32Array(buffer, logits, capacity * VS);
    logitsViews = [];
  };

  /** A row's state without the padding: per layer h [H], then (LSTM) per layer c [H]. */
  const readState = (row: number): Float32Array => {
    const out = new Float32Array(L * H * (cell === 'lstm' ? 2 : 1));
    for (let l = 0; l < L; l++) {
      out.set(kernel.f32(f(hs[l], row, S), H), l * H);
      if (cell === 'lstm') out.set(kernel.f32(f(cs[l], row, S), H), (L + l) * H);
    }
    return out;
  };
  /** The padding after H stays as it is: zero, as reset left it (the int8 product reads it). */
  const writeState = (row: number, state: Float32Array): void => {
    for (let l = 0; l < L; l++) {
      kernel.f32(f(hs[l], row, S), H).set(state.subarray(l * H, (l + 1) * H));
      if (cell === 'lstm') kernel.f32(f(cs[l], row, S), H).set(state.subarray((L + l) * H, (L + l + 1) * H));
    }
  };

  /** Y = M X (+ b) for `n` rows of hidden states starting at x (row stride S). */
  const product = (m: Matrix, bias: number, x: number, y: number, n: number, yStride: number) => {
    const blocks = padTo(m.rows, PACK_ROWS) / PACK_ROWS;
    if (!w.int8) return k.gemmPacked(m.ptr, bias, x, y, blocks, padTo(H, 4) / 4, n, S, yStride);
    if (m.scales7) {
      k.quantize7(x, xq, H, n, S, S);
      return k.gemmQ7(m.ptr, m.rowsums!, m.scales7, bias, xq, y, blocks, S / 16, n, S, yStride);
    }
    k.quantize16(x, xq, H, n, S, S);
    k.gemmQ8(m.ptr, m.scales, bias, xq, y, blocks, S / 16, n, S, yStride);
  };

  return {
    capacity,
    vocabSize: V,
    logitsStride: VS,
    step(first, ids) {
      const n = ids.length;
      if (!(first >= 0 && n >= 1 && first + n <= capacity)) throw new RangeError(`rows [${first}, ${first + n}) are outside [0, ${capacity})`);
      views();
      const t = tokensView;
      for (let i = 0; i < n; i++) {
        const id = ids[i];
        if (!(id >= 0 && id < V)) throw new RangeError(`token id ${id} is outside the vocabulary [0, ${V})`);
        t[i] = id;
      }
      let x = 0;
      for (let l = 0; l < L; l++) {
        const Lw = w.layers[l];
        const h = f(hs[l], first, S);
        // Layer 0 reads one-hot characters: W_ih · onehot(t) is column t, no product needed.
        if (l === 0) k.gatherRows(Lw.wIh.ptr, tokens, Lw.bIh, gx, n, GH, GS);
        else product(Lw.wIh, Lw.bIh, x, gx, n, GS);
        product(Lw.wHh, Lw.bHh, h, gh, n, GS);
        if (cell === 'lstm') {
          const c = f(cs[l], first, S);
          k.lstmForward(gx, gh, acts, c, c, h, n, H, GS, S, 0);
        } else if (cell === 'gru') k.gruForward(gx, gh, acts, h, h, n, H, GS, S);
        else k.rnnForward(gx, gh, h, n, H, GS, S);
        x = h;
      }
      product(w.wOut, w.bOut, x, logits, n, VS);
      return n === capacity ? logitsView : (logitsViews[n] ??= logitsView.subarray(0, n * VS));
    },
    reset(row) {
      for (let l = 0; l < L; l++) {
        kernel.f32(f(hs[l], row, S), S).fill(0);
        if (cell === 'lstm') kernel.f32(f(cs[l], row, S), S).fill(0);
      }
    },
    copy(from, to) {
      if (from === to) return;
      for (let l = 0; l < L; l++) {
        kernel.f32(f(hs[l], to, S), S).set(kernel.f32(f(hs[l], from, S), S));
        if (cell === 'lstm') kernel.f32(f(cs[l], to, S), S).set(kernel.f32(f(cs[l], from, S), S));
      }
    },
    saveRow: readState,
    loadRow: writeState,
    readState,
    writeState,
    gather(first, from) {
      const span = Math.max(from.length, ...from.map((r) => r + 1));
      if (first + span > capacity) throw new RangeError(`rows [${first}, ${first + span}) are outside [0, ${capacity})`);
      for (const ptrs of cell === 'lstm' ? [hs, cs] : [hs]) {
        for (const base of ptrs) {
          const before = kernel.f32(f(base, first, S), span * S).slice();
          const now = kernel.f32(f(base, first, S), from.length * S);
          from.forEach((src, i) => now.set(before.subarray(src * S, (src + 1) * S), i * S));
        }
      }
    },
    free() {
      for (const p of buffers.splice(0)) kernel.free(p);
    },
  };
}

/** The reference pass as a `RowStepper` (the oracle in tests; the fallback without a kernel). */
export function referenceRows(model: Model, capacity: number): RowStepper {
  const V = model.arch.vocabSize;
  const states: RecurrentState[] = Array.from({ length: capacity }, () => beginState(model.arch));
  const logits = new Float32Array(capacity * V);
  const clone = (s: RecurrentState): RecurrentState => ({ h: s.h.map((a) => a.slice()), c: s.c.map((a) => a.slice()) });
  const readState = (row: number) => {
    const s = states[row];
    return Float32Array.from([...s.h, ...s.c].flatMap((a) => [...a]));
  };
  const writeState = (row: number, state: Float32Array) => {
    const H = model.arch.hiddenSize;
    const L = model.arch.numLayers;
    const part = (i: number) => state.slice(i * H, (i + 1) * H);
    states[row] = { h: Array.from({ length: L }, (_, l) => part(l)), c: model.arch.cell === 'lstm' ? Array.from({ length: L }, (_, l) => part(L + l)) : [] };
  };
  return {
    capacity,
    vocabSize: V,
    logitsStride: V,
    step(first, ids) {
      for (let i = 0; i < ids.length; i++) {
        const out = referenceStep(model, states[first + i], ids[i]);
        states[first + i] = out.state;
        logits.set(out.logits, i * V);
      }
      return logits.subarray(0, ids.length * V);
    },
    reset(row) {
      states[row] = beginState(model.arch);
    },
    copy(from, to) {
      states[to] = clone(states[from]);
    },
    gather(first, from) {
      const before = from.map((src) => clone(states[first + src]));
      before.forEach((st, i) => (states[first + i] = st));
    },
    saveRow: readState,
    loadRow: writeState,
    readState,
    writeState,
  };
}

/** Which code computes a model's steps, e.g. "wasm-simd int8 (kernel-dotadd.wasm)": the build the engine chose (reported by /healthz). */
export function engineName(kernel: Kernel, model: Model): string {
  return `wasm-${kernel.flavor}${model.storage === 'int8' ? ' int8' : ''} (${kernel.build})`;
}

/**
 * One model in one kernel, with a pool of row steppers over its weights: a server thread, a
 * browser worker or the CLI loads a model once and reuses its steppers across generations
 * instead of allocating new state for each (which would grow the kernel's memory forever).
 */
export class KernelModel {
  readonly weights: KernelWeights;
  private readonly pool = new Map<number, KernelRows[]>();
  private disposed = false;

  constructor(
    readonly kernel: Kernel,
    readonly model: Model,
  ) {
    this.weights = loadKernelWeights(kernel, model);
  }

  /** Which code computes the steps (`engineName`). */
  get engine(): string {
    return engineName(this.kernel, this.model);
  }

  /** A stepper with room for `capacity` rows, all at zeros. */
  acquire(capacity = 1): KernelRows {
    if (this.disposed) throw new Error('kernel model used after dispose');
    const rows = this.pool.get(capacity)?.pop() ?? kernelRows(this.weights, capacity);
    for (let r = 0; r < capacity; r++) rows.reset(r);
    return rows;
  }

  release(rows: KernelRows): void {
    if (this.disposed) {
      rows.free();
      return;
    }
    const list = this.pool.get(rows.capacity) ?? [];
    list.push(rows);
    this.pool.set(rows.capacity, list);
  }

  /** Give the weights and every pooled stepper back to the kernel. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const list of this.pool.values()) for (const r of list) r.free();
    this.pool.clear();
    freeKernelWeights(this.weights);
  }
}
