/**
 * Generation's batch-1 step on the WebAssembly kernel: the same equations as
 * shared/reference.ts. Weights are copied into the kernel's memory once per model
 * (`KernelWeights`), packed for the kernel's matrix-vector products; each stepper adds only its
 * own small state, so a server can keep one stepper per concurrent generation over one copy.
 *
 * Two paths, chosen by how the artifact stored the weights:
 * - float32 / float16: `gemvPacked`, f32 throughout — within 1e-5 of the reference pass;
 * - int8: `gemvQ8`, int8 weights × int16 hidden states summed exactly in integers — 2× faster,
 *   logits within ~1e-3 of the reference pass, identical in every runtime.
 */
import { referenceStepper, type Stepper } from '../generate.ts';
import { layerParams, numGates, type Model } from '../model.ts';
import { PACK_ROWS, packRows8, packRowsQ8, padTo, type Kernel } from './kernel.ts';

/** A packed weight matrix: f32 (`scales` 0) or int8 with per-row scales. */
interface Matrix {
  ptr: number;
  scales: number;
  rows: number;
}

interface LayerWeights {
  /** Layer 0: W_ih as stored, f32 (its one-hot input selects a column); above: packed. */
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

export function loadKernelWeights(kernel: Kernel, model: Model): KernelWeights {
  const { hiddenSize: H, vocabSize: V, cell } = model.arch;
  const GH = numGates(cell) * H;
  const int8 = model.storage === 'int8';
  const pack = (w: Float32Array, rows: number, cols: number): Matrix => {
    if (!int8) return { ptr: kernel.put(packRows8(w, rows, cols)), scales: 0, rows };
    const { q, scales } = packRowsQ8(w, rows, cols);
    return { ptr: kernel.putBytes(q), scales: kernel.put(scales), rows };
  };
  return {
    kernel,
    model,
    int8,
    layers: layerParams(model.arch, model.params).map((p, l) => ({
      wIh: l === 0 ? { ptr: kernel.put(p.wIh), scales: 0, rows: GH } : pack(p.wIh, GH, p.inSize),
      wHh: pack(p.wHh, GH, H),
      bIh: kernel.put(p.bIh),
      bHh: kernel.put(p.bHh),
    })),
    wOut: pack(model.params['linear.weight'], V, H),
    bOut: kernel.put(model.params['linear.bias']),
  };
}

export function kernelStepper(w: KernelWeights): Stepper {
  const { kernel, layers } = w;
  const { hiddenSize: H, vocabSize: V, cell } = w.model.arch;
  const GH = numGates(cell) * H;
  const k = kernel.k;
  // States are padded to whole 16-float chunks; the padding stays zero (cells write H values).
  const hs = layers.map(() => kernel.alloc(padTo(H, 16)));
  const cs = layers.map(() => kernel.alloc(cell === 'lstm' ? H : 0));
  const xq = kernel.alloc(padTo(H, 16) / 2); // int16 copy of the input of each product
  const gx = kernel.alloc(padTo(GH, PACK_ROWS));
  const gh = kernel.alloc(padTo(GH, PACK_ROWS));
  const acts = kernel.alloc(GH);
  const token = kernel.alloc(1);
  const logits = kernel.alloc(padTo(V, PACK_ROWS));
  /** y = M x for a hidden-state x of H values. */
  const gemv = (m: Matrix, x: number, y: number) => {
    const blocks = padTo(m.rows, PACK_ROWS) / PACK_ROWS;
    if (!w.int8) return k.gemvPacked(m.ptr, x, y, blocks, padTo(H, 4) / 4);
    k.quantize16(x, xq, H);
    k.gemvQ8(m.ptr, m.scales, xq, y, blocks, padTo(H, 16) / 16);
  };

  return {
    reset() {
      for (let l = 0; l < layers.length; l++) {
        kernel.f32(hs[l], H).fill(0);
        if (cell === 'lstm') kernel.f32(cs[l], H).fill(0);
      }
    },
    step(t) {
      kernel.i32(token, 1)[0] = t;
      let x = 0;
      layers.forEach((L, l) => {
        // Layer 0 reads one-hot characters: W_ih · onehot(t) is column t, no product needed.
        if (l === 0) k.gatherColumns(L.wIh.ptr, token, L.bIh, gx, 1, GH, V);
        else {
          gemv(L.wIh, x, gx);
          k.addRows(gx, L.bIh, 1, GH);
        }
        gemv(L.wHh, hs[l], gh);
        k.addRows(gh, L.bHh, 1, GH);
        if (cell === 'lstm') k.lstmForward(gx, gh, acts, cs[l], cs[l], hs[l], 1, H);
        else if (cell === 'gru') k.gruForward(gx, gh, acts, hs[l], hs[l], 1, H);
        else k.rnnForward(gx, gh, hs[l], 1, H);
        x = hs[l];
      });
      gemv(w.wOut, x, logits);
      k.addRows(logits, w.bOut, 1, V);
      return kernel.f32(logits, V);
    },
  };
}

/** The kernel when there is one, the reference pass otherwise. */
export function bestStepper(model: Model, kernel: Kernel | null): Stepper {
  return kernel ? kernelStepper(loadKernelWeights(kernel, model)) : referenceStepper(model);
}
