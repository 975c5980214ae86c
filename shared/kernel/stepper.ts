/**
 * Generation's batch-1 step on the WebAssembly kernel: the same equations as
 * shared/reference.ts, with the weights copied into the kernel's memory once per model.
 */
import type { Stepper } from '../generate.ts';
import { layerParams, numGates, type Model } from '../model.ts';
import type { Kernel } from './kernel.ts';

interface LayerBuffers {
  inSize: number;
  wIh: number;
  wHh: number;
  bIh: number;
  bHh: number;
  h: number;
  c: number;
}

export function kernelStepper(kernel: Kernel, model: Model): Stepper {
  const { arch, params } = model;
  const { hiddenSize: H, vocabSize: V, cell } = arch;
  const GH = numGates(cell) * H;
  const k = kernel.k;
  const layers: LayerBuffers[] = layerParams(arch, params).map((p) => ({
    inSize: p.inSize,
    wIh: kernel.put(p.wIh),
    wHh: kernel.put(p.wHh),
    bIh: kernel.put(p.bIh),
    bHh: kernel.put(p.bHh),
    h: kernel.alloc(H),
    c: kernel.alloc(cell === 'lstm' ? H : 0),
  }));
  const wOut = kernel.put(params['linear.weight']);
  const bOut = kernel.put(params['linear.bias']);
  const gx = kernel.alloc(GH);
  const gh = kernel.alloc(GH);
  const acts = kernel.alloc(GH);
  const token = kernel.alloc(1);
  const logits = kernel.alloc(V);

  return {
    reset() {
      for (const l of layers) {
        kernel.f32(l.h, H).fill(0);
        if (cell === 'lstm') kernel.f32(l.c, H).fill(0);
      }
    },
    step(t) {
      kernel.i32(token, 1)[0] = t;
      let x = 0;
      layers.forEach((l, i) => {
        // Layer 0 reads one-hot characters: W_ih · onehot(t) is column t, no product needed.
        if (i === 0) k.gatherColumns(l.wIh, token, l.bIh, gx, 1, GH, V);
        else {
          k.gemv(l.wIh, x, gx, GH, l.inSize, false);
          k.addRows(gx, l.bIh, 1, GH);
        }
        k.gemv(l.wHh, l.h, gh, GH, H, false);
        k.addRows(gh, l.bHh, 1, GH);
        if (cell === 'lstm') k.lstmForward(gx, gh, acts, l.c, l.c, l.h, 1, H);
        else if (cell === 'gru') k.gruForward(gx, gh, acts, l.h, l.h, 1, H);
        else k.rnnForward(gx, gh, l.h, 1, H);
        x = l.h;
      });
      k.gemv(wOut, x, logits, V, H, false);
      k.addRows(logits, bOut, 1, V);
      return kernel.f32(logits, V);
    },
  };
}
