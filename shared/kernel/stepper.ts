/**
 * Generation's batch-1 step on the WebAssembly kernel: the same equations as
 * shared/reference.ts. Weights are copied into the kernel's memory once per model
 * (`KernelWeights`), packed for `gemvPacked`; each stepper adds only its own small state, so a
 * server can keep one stepper per concurrent generation over one copy of the weights.
 */
import { referenceStepper, type Stepper } from '../generate.ts';
import { layerParams, numGates, type Model } from '../model.ts';
import { PACK_ROWS, packRows8, padTo, type Kernel } from './kernel.ts';

interface LayerWeights {
  inSize: number;
  /** Layer 0: W_ih as stored (its one-hot input selects a column); above: packed. */
  wIh: number;
  wHh: number;
  bIh: number;
  bHh: number;
}

export interface KernelWeights {
  kernel: Kernel;
  model: Model;
  layers: LayerWeights[];
  wOut: number;
  bOut: number;
}

export function loadKernelWeights(kernel: Kernel, model: Model): KernelWeights {
  const { hiddenSize: H, vocabSize: V, cell } = model.arch;
  const GH = numGates(cell) * H;
  return {
    kernel,
    model,
    layers: layerParams(model.arch, model.params).map((p, l) => ({
      inSize: p.inSize,
      wIh: kernel.put(l === 0 ? p.wIh : packRows8(p.wIh, GH, p.inSize)),
      wHh: kernel.put(packRows8(p.wHh, GH, H)),
      bIh: kernel.put(p.bIh),
      bHh: kernel.put(p.bHh),
    })),
    wOut: kernel.put(packRows8(model.params['linear.weight'], V, H)),
    bOut: kernel.put(model.params['linear.bias']),
  };
}

export function kernelStepper(w: KernelWeights): Stepper {
  const { kernel, layers } = w;
  const { hiddenSize: H, vocabSize: V, cell } = w.model.arch;
  const GH = numGates(cell) * H;
  const k = kernel.k;
  const blocks = (rows: number) => padTo(rows, PACK_ROWS) / PACK_ROWS;
  const cols4 = padTo(H, 4) / 4;
  // States are padded to whole 4-float chunks; the padding stays zero (cells write H values).
  const hs = layers.map(() => kernel.alloc(padTo(H, 4)));
  const cs = layers.map(() => kernel.alloc(cell === 'lstm' ? H : 0));
  const gx = kernel.alloc(padTo(GH, PACK_ROWS));
  const gh = kernel.alloc(padTo(GH, PACK_ROWS));
  const acts = kernel.alloc(GH);
  const token = kernel.alloc(1);
  const logits = kernel.alloc(padTo(V, PACK_ROWS));

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
        if (l === 0) k.gatherColumns(L.wIh, token, L.bIh, gx, 1, GH, V);
        else {
          k.gemvPacked(L.wIh, x, gx, blocks(GH), cols4);
          k.addRows(gx, L.bIh, 1, GH);
        }
        k.gemvPacked(L.wHh, hs[l], gh, blocks(GH), cols4);
        k.addRows(gh, L.bHh, 1, GH);
        if (cell === 'lstm') k.lstmForward(gx, gh, acts, cs[l], cs[l], hs[l], 1, H);
        else if (cell === 'gru') k.gruForward(gx, gh, acts, hs[l], hs[l], 1, H);
        else k.rnnForward(gx, gh, hs[l], 1, H);
        x = hs[l];
      });
      k.gemvPacked(w.wOut, x, logits, blocks(V), cols4);
      k.addRows(logits, w.bOut, 1, V);
      return kernel.f32(logits, V);
    },
  };
}

/** The kernel when there is one, the reference pass otherwise (same results within 1e-5). */
export function bestStepper(model: Model, kernel: Kernel | null): Stepper {
  return kernel ? kernelStepper(loadKernelWeights(kernel, model)) : referenceStepper(model);
}
