/**
 * The native engine's memory: where every buffer of a training window lives in the kernel's
 * (shared) memory. Parameters, Adam's moments and each shard's gradients are one block each, in
 * state_dict order, so clipping and the optimizers are single passes over slices; each shard (a
 * thread's rows of the batch, shard.ts) has its own sequence buffers, all time-major (row n =
 * t·B + b). Pointers are byte offsets into the memory.
 */
import type { Kernel } from '../../shared/kernel/kernel.ts';
import { numElements, numGates, tensorSpecs, type Architecture, type Cell } from '../../shared/model.ts';

/** Sizes every pass needs: hidden H, vocabulary V, shard rows B, steps T, rows N = T·B, gate rows GH. */
export interface ShardDims {
  H: number;
  V: number;
  B: number;
  T: number;
  N: number;
  GH: number;
  L: number;
  cell: Cell;
}

/** Where a layer's buffers are (byte pointers into the shared memory). */
export interface LayerBuffers {
  /** Parameters (shared by all shards) and this shard's gradients of them. */
  wIh: number;
  wHh: number;
  bIh: number;
  bHh: number;
  gWIh: number;
  gWHh: number;
  gBIh: number;
  gBHh: number;
  /** [N, GH]: X W_ihᵀ + b_ih for all steps; for LSTM overwritten by the activated gates. */
  gx: number;
  /** [N, GH]: H_{t-1} W_hhᵀ + b_hh for all steps (GRU needs gh_n in backward). */
  gh: number;
  /** [N, GH]: activated gates (GRU: r, z, n); LSTM reuses gx. */
  acts: number;
  /** [(T + 1)·B, H]: states h_{-1} … h_{T-1}; rows B … are this layer's output sequence. */
  hs: number;
  /** [(T + 1)·B, H]: LSTM memory cells. */
  cs: number;
  /** [N, H]: tanh of the LSTM memory cells, kept for the backward pass. */
  tcs: number;
  /** [N, H]: gradient w.r.t. this layer's output sequence. */
  dH: number;
  /** [N, GH]: gradients of gx, gh (they differ only for GRU). */
  dGx: number;
  dGh: number;
  /** [B, H]: dc carried from t+1 (LSTM), dh carried from t+1. */
  dc: number;
  dhCarry: number;
  /** [N, H]: dropout on this layer's outputs (engines/dropout.ts; the last layer's feed the output layer): the mask, outputs ⊙ mask. */
  mask: number;
  dropped: number;
  /**
   * [GH, H], shared by all shards (0 when the engine was built without weight drop): this window's
   * weight-drop mask of W_hh and W_hh ⊙ mask, which the steps use in place of W_hh.
   */
  wHhMask: number;
  wHhDropped: number;
}

export interface ShardLayout {
  dims: ShardDims;
  /** This shard's first row in the window's batch. */
  b0: number;
  layers: LayerBuffers[];
  /** The output layer's parameters (shared) and this shard's gradients. */
  wOut: number;
  bOut: number;
  gWOut: number;
  gBOut: number;
  /** [N] i32 inputs and targets, time-major. */
  tokens: number;
  targets: number;
  /** [N, V] */
  logits: number;
  dLogits: number;
  /** This shard's gradient block, all tensors in state_dict order, `total` floats. */
  G: number;
  total: number;
  /**
   * Operands rearranged for `gemmNN`: `aT` a transposed A (dOᵀ [V, N], dGᵀ [GH, N]); `bP` a B packed
   * by `packB8` (a weight, or a sequence of states), ⌈cols/8⌉·8 · rows floats. Each holds one
   * product's operand at a time.
   */
  scratch: { aT: number; bP: number };
  /** Gradient scale: 1 / (rows of the whole window), so shards' blocks sum to the window's mean. */
  gradScale: number;
}

/** The engine's blocks and its shards' layouts. */
export interface NativeLayout {
  /** Floats of one block: every parameter. */
  total: number;
  /** [total] parameters, Adam's first and second moments. */
  P: number;
  M: number;
  V2: number;
  /** Byte offset of each tensor (state_dict name) within a block. */
  offsets: Map<string, number>;
  /** One per thread, rows of the batch split as evenly as they go (the first `B mod threads` take one more). */
  shards: ShardLayout[];
}

/** Allocate the engine's memory in `kernel` for `threads` shards of the window. */
export function layoutShards(
  kernel: Kernel,
  spec: { arch: Architecture; batchSize: number; numSteps: number; weightDrop: boolean },
  threads: number,
): NativeLayout {
  const { hiddenSize: H, vocabSize: V, cell, numLayers } = spec.arch;
  const { batchSize, weightDrop } = spec;
  const T = spec.numSteps;
  const GH = numGates(cell) * H;
  const specs = tensorSpecs(spec.arch);
  const total = specs.reduce((n, s) => n + numElements(s.shape), 0);
  const P = kernel.alloc(total);
  const M = kernel.alloc(total);
  const V2 = kernel.alloc(total);
  const offsets = new Map<string, number>();
  let off = 0;
  for (const s of specs) {
    offsets.set(s.name, off);
    off += numElements(s.shape) * 4;
  }
  const p = (name: string) => P + offsets.get(name)!;

  // One dropped copy of each W_hh per window, shared by every shard.
  const wHhDrop = Array.from({ length: numLayers }, () =>
    weightDrop ? { wHhMask: kernel.alloc(GH * H), wHhDropped: kernel.alloc(GH * H) } : { wHhMask: 0, wHhDropped: 0 },
  );
  const rowsPer = Math.floor(batchSize / threads);
  const extra = batchSize % threads;
  let b0 = 0;
  const shards = Array.from({ length: threads }, (_, i): ShardLayout => {
    const B = rowsPer + (i < extra ? 1 : 0);
    const N = T * B;
    const G = kernel.alloc(total);
    const g = (name: string) => G + offsets.get(name)!;
    const layers: LayerBuffers[] = Array.from({ length: numLayers }, (_, l) => {
      const gx = kernel.alloc(N * GH);
      const dGx = kernel.alloc(N * GH);
      return {
        wIh: p(`rnn.weight_ih_l${l}`),
        wHh: p(`rnn.weight_hh_l${l}`),
        bIh: p(`rnn.bias_ih_l${l}`),
        bHh: p(`rnn.bias_hh_l${l}`),
        gWIh: g(`rnn.weight_ih_l${l}`),
        gWHh: g(`rnn.weight_hh_l${l}`),
        gBIh: g(`rnn.bias_ih_l${l}`),
        gBHh: g(`rnn.bias_hh_l${l}`),
        gx,
        gh: kernel.alloc(N * GH),
        acts: cell === 'gru' ? kernel.alloc(N * GH) : gx,
        hs: kernel.alloc((T + 1) * B * H),
        cs: kernel.alloc(cell === 'lstm' ? (T + 1) * B * H : 0),
        tcs: kernel.alloc(cell === 'lstm' ? N * H : 0),
        dH: kernel.alloc(N * H),
        dGx,
        dGh: cell === 'gru' ? kernel.alloc(N * GH) : dGx,
        dc: kernel.alloc(B * H),
        dhCarry: kernel.alloc(B * H),
        mask: kernel.alloc(N * H),
        dropped: kernel.alloc(N * H),
        ...wHhDrop[l],
      };
    });
    const ceil8 = (n: number) => Math.ceil(n / 8) * 8;
    const layout: ShardLayout = {
      dims: { H, V, B, T, N, GH, L: numLayers, cell },
      b0,
      layers,
      wOut: p('linear.weight'),
      bOut: p('linear.bias'),
      gWOut: g('linear.weight'),
      gBOut: g('linear.bias'),
      tokens: kernel.alloc(N),
      targets: kernel.alloc(N),
      logits: kernel.alloc(N * V),
      dLogits: kernel.alloc(N * V),
      G,
      total,
      scratch: {
        aT: kernel.alloc(Math.max(V, GH) * N),
        bP: kernel.alloc(Math.max(ceil8(GH) * H, ceil8(V) * H, ceil8(H) * Math.max(N, V, GH))),
      },
      gradScale: 1 / (T * batchSize),
    };
    b0 += B;
    return layout;
  });
  return { total, P, M, V2, offsets, shards };
}
