/**
 * One thread's share of a training window for the native engine: some rows of the batch, run
 * forward and backward through time on their own (the rows of a batch never interact), their
 * gradients summed into the shard's own gradient block. The engine (native.ts) runs one shard on
 * the main thread and one in each helper thread, over one shared WebAssembly memory, and reduces
 * the blocks once per window. The same code runs in every thread.
 *
 * Layout: every sequence buffer is time-major, row n = t·Bt + b. The input-to-hidden products of
 * all T steps are one matrix product per layer; only H_{t-1} W_hhᵀ is sequential. Forward keeps
 * the gates' activations and every state; backward walks t = T−1 … 0 and forms the weight
 * gradients as one product per tensor after the walk. Every product is C = A·B (gemmNN) with B
 * packed in 8-column panels (packB8): forward X·Wᵀ packs Wᵀ straight from the stored W, backward
 * dX = dG·W packs W, dW = dGᵀ·X transposes dG and packs X. A weight is packed once per window and
 * serves all T steps.
 */
import type { KernelExports } from '../../shared/kernel/kernel.ts';
import type { LayerBuffers, ShardLayout } from './shard-layout.ts';

export class Shard {
  constructor(
    private readonly k: KernelExports,
    readonly layout: ShardLayout,
  ) {}

  private f32(ptr: number, n: number): Float32Array {
    return new Float32Array(this.k.memory.buffer, ptr, n);
  }

  /** The input of layer l + 1 (of the output layer, for the last): layer l's outputs, through its dropout mask while training. */
  private outputOf(l: number, dropping: boolean): number {
    const { layers, dims } = this.layout;
    return dropping ? layers[l].dropped : layers[l].hs + dims.B * dims.H * 4;
  }

  /** d2l's `begin_state`: zeros. */
  resetState(): void {
    const { dims, layers } = this.layout;
    for (const L of layers) {
      this.f32(L.hs, dims.B * dims.H).fill(0);
      if (dims.cell === 'lstm') this.f32(L.cs, dims.B * dims.H).fill(0);
    }
  }

  /** The state after the window becomes the state before the next one (detached: no gradient). */
  private carryState(): void {
    const { B, H, T, cell } = this.layout.dims;
    const n = B * H;
    for (const L of this.layout.layers) {
      this.f32(L.hs, (T + 1) * n).copyWithin(0, T * n);
      if (cell === 'lstm') this.f32(L.cs, (T + 1) * n).copyWithin(0, T * n);
    }
  }

  /** The W_hh the steps multiply by: this window's dropped copy while weight-dropping. */
  private wHhOf(L: LayerBuffers, weightDropping: boolean): number {
    return weightDropping ? L.wHhDropped : L.wHh;
  }

  /** Forward over the shard's rows (tokens and targets already loaded); the summed loss. */
  private forward(gradScale: number, dropping: boolean, weightDropping: boolean): number {
    const { k } = this;
    const S = this.layout;
    const { H, V, B, T, N, GH, cell } = S.dims;
    const { bP } = S.scratch;
    let input = S.tokens;
    for (const [l, L] of S.layers.entries()) {
      if (l === 0)
        k.gatherColumns(L.wIh, S.tokens, L.bIh, L.gx, N, GH, V, GH); // one-hot X W_ihᵀ
      else {
        k.packB8(L.wIh, bP, H, GH, true);
        k.gemmNN(input, bP, L.gx, N, GH, H, false);
        k.addRows(L.gx, L.bIh, N, GH);
      }
      k.packB8(this.wHhOf(L, weightDropping), bP, H, GH, true); // W_hhᵀ, for every step
      for (let t = 0; t < T; t++) {
        const hPrev = L.hs + t * B * H * 4;
        const hNext = hPrev + B * H * 4;
        const gx = L.gx + t * B * GH * 4;
        const gh = L.gh + t * B * GH * 4;
        k.gemmNN(hPrev, bP, gh, B, GH, H, false); // H_{t-1} W_hhᵀ
        k.addRows(gh, L.bHh, B, GH);
        if (cell === 'lstm') k.lstmForward(gx, gh, gx, L.cs + t * B * H * 4, L.cs + (t + 1) * B * H * 4, hNext, B, H, GH, H, L.tcs + t * B * H * 4);
        else if (cell === 'gru') k.gruForward(gx, gh, L.acts + t * B * GH * 4, hPrev, hNext, B, H, GH, H);
        else k.rnnForward(gx, gh, hNext, B, H, GH, H);
      }
      if (dropping) k.mul(L.hs + B * H * 4, L.mask, L.dropped, N * H);
      input = this.outputOf(l, dropping);
    }
    k.packB8(S.wOut, bP, H, V, true);
    k.gemmNN(input, bP, S.logits, N, V, H, false);
    k.addRows(S.logits, S.bOut, N, V);
    return k.softmaxCrossEntropy(S.logits, S.targets, S.dLogits, N, V, gradScale);
  }

  /** Forward and backward through time; the shard's gradients land in its block G. Returns Σ loss. */
  forwardBackward(dropping: boolean, weightDropping: boolean): number {
    const { k } = this;
    const S = this.layout;
    const { H, V, B, T, N, GH, cell } = S.dims;
    const loss = this.forward(S.gradScale, dropping, weightDropping);
    this.f32(S.G, S.total).fill(0);
    const { aT, bP } = S.scratch;
    const top = S.layers[S.layers.length - 1];
    const out = this.outputOf(S.layers.length - 1, dropping);
    k.transpose(S.dLogits, aT, N, V);
    k.packB8(out, bP, N, H, false);
    k.gemmNN(aT, bP, S.gWOut, V, H, N, true); // dW_hq = dOᵀ H_L
    k.addColumnSums(S.dLogits, S.gBOut, N, V);
    k.packB8(S.wOut, bP, V, H, false);
    k.gemmNN(S.dLogits, bP, top.dH, N, H, V, false); // dH_L = dO W_hq
    if (dropping) k.mul(top.dH, top.mask, top.dH, N * H); // through the output dropout mask

    for (let l = S.layers.length - 1; l >= 0; l--) {
      const L = S.layers[l];
      k.packB8(this.wHhOf(L, weightDropping), bP, GH, H, false); // W_hh, for every step
      this.f32(L.dhCarry, B * H).fill(0);
      this.f32(L.dc, B * H).fill(0);
      for (let t = T - 1; t >= 0; t--) {
        const dh = L.dH + t * B * H * 4;
        const hPrev = L.hs + t * B * H * 4;
        const dGx = L.dGx + t * B * GH * 4;
        const dGh = L.dGh + t * B * GH * 4;
        k.addRows(dh, L.dhCarry, 1, B * H); // from above + from step t+1
        if (cell === 'lstm') k.lstmBackward(L.acts + t * B * GH * 4, L.cs + t * B * H * 4, L.tcs + t * B * H * 4, dh, L.dc, dGx, B, H);
        else if (cell === 'gru') k.gruBackward(L.acts + t * B * GH * 4, L.gh + t * B * GH * 4, hPrev, dh, dGx, dGh, L.dhCarry, B, H);
        else k.rnnBackward(hPrev + B * H * 4, dh, dGx, B, H);
        k.gemmNN(dGh, bP, L.dhCarry, B, H, GH, cell === 'gru'); // dH_{t-1} = dG_t W_hh (+ z⊙dh for GRU)
      }
      // Weight gradients over all steps at once: dW_hh = Σ_t dG_tᵀ H_{t-1}, dW_ih = Σ_t dG_tᵀ X_t
      k.transpose(L.dGh, aT, N, GH);
      k.packB8(L.hs, bP, N, H, false); // h_{-1} … h_{T-2}
      k.gemmNN(aT, bP, L.gWHh, GH, H, N, true);
      if (weightDropping) k.mul(L.gWHh, L.wHhMask, L.gWHh, GH * H); // d(W_hh ⊙ m)/dW_hh = m
      k.addColumnSums(L.dGh, L.gBHh, N, GH);
      k.addColumnSums(L.dGx, L.gBIh, N, GH);
      if (l === 0) k.scatterColumns(L.dGx, S.tokens, L.gWIh, N, GH, V);
      else {
        const below = S.layers[l - 1];
        if (cell === 'gru') k.transpose(L.dGx, aT, N, GH); // LSTM and RNN: dG_x is dG_h, already there
        k.packB8(this.outputOf(l - 1, dropping), bP, N, H, false);
        k.gemmNN(aT, bP, L.gWIh, GH, H, N, true);
        k.packB8(L.wIh, bP, GH, H, false);
        k.gemmNN(L.dGx, bP, below.dH, N, H, GH, false); // dX = dG W_ih
        if (dropping) k.mul(below.dH, below.mask, below.dH, N * H); // through the dropout mask
      }
    }
    this.carryState();
    return loss;
  }
}
