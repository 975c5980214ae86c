/**
 * Generation's batch-1 step on the WebAssembly kernel: the same equations as
 * shared/reference.ts. Weights are copied into the kernel's memory once per model
 * (`KernelWeights`); each stepper adds only its own small state, so a server can keep one
 * stepper per concurrent generation over one copy of the weights.
 */
import { referenceStepper, type Stepper } from '../generate.ts';
import { layerParams, numGates, type Model } from '../model.ts';
import type { Kernel } from './kernel.ts';

interface LayerWeights {
  inSize: number;
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
  return {
    kernel,
    model,
    layers: layerParams(model.arch, model.params).map((p) => ({
      inSize: p.inSize,
      wIh: kernel.put(p.wIh),
      wHh: kernel.put(p.wHh),
      bIh: kernel.put(p.bIh),
      bHh: kernel.put(p.bHh),
    })),
    wOut: kernel.put(model.params['linear.weight']),
    bOut: kernel.put(model.params['linear.bias']),
  };
}

export function kernelStepper(w: KernelWeights): Stepper {
  const { kernel, layers } = w;
  const { hiddenSize: H, vocabSize: V, cell } = w.model.arch;
  const GH = numGates(cell) * H;
  const k = kernel.k;
  const hs = layers.map(() => kernel.alloc(H));
  const cs = layers.map(() => kernel.alloc(cell === 'lstm' ? H : 0));
  const gx = kernel.alloc(GH);
  const gh = kernel.alloc(GH);
  const acts = kernel.alloc(GH);
  const token = kernel.alloc(1);
  const logits = kernel.alloc(V);

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
          k.gemv(L.wIh, x, gx, GH, L.inSize, false);
          k.addRows(gx, L.bIh, 1, GH);
        }
        k.gemv(L.wHh, hs[l], gh, GH, H, false);
        k.addRows(gh, L.bHh, 1, GH);
        if (cell === 'lstm') k.lstmForward(gx, gh, acts, cs[l], cs[l], hs[l], 1, H);
        else if (cell === 'gru') k.gruForward(gx, gh, acts, hs[l], hs[l], 1, H);
        else k.rnnForward(gx, gh, hs[l], 1, H);
        x = hs[l];
      });
      k.gemv(w.wOut, x, logits, V, H, false);
      k.addRows(logits, w.bOut, 1, V);
      return kernel.f32(logits, V);
    },
  };
}

/** The kernel when there is one, the reference pass otherwise (same results within 1e-5). */
export function bestStepper(model: Model, kernel: Kernel | null): Stepper {
  return kernel ? kernelStepper(loadKernelWeights(kernel, model)) : referenceStepper(model);
}
