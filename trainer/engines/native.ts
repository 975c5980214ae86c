/**
 * The native engine: d2l's deep RNN trained on the shared WebAssembly kernel, backpropagation
 * through time written by hand (the chapter's first exercise).
 *
 * Layout: every sequence buffer is time-major, row n = t·B + b. The input-to-hidden products of
 * all T steps are one matrix product per layer; only H_{t-1} W_hhᵀ is sequential. Forward keeps
 * the gates' activations and every state; backward walks t = T−1 … 0 and forms the weight
 * gradients as one product per tensor after the walk.
 */
import type { Kernel } from '../../shared/kernel/kernel.ts';
import { numElements, numGates, tensorSpecs, type Architecture, type Params } from '../../shared/model.ts';
import { OptionError } from '../../shared/errors.ts';
import { dropoutMask, type Dropout } from './dropout.ts';
import type { Engine, OptimizerConfig, OptimizerState } from './engine.ts';
import { KernelThreads } from './threads.ts';

interface Layer {
  inSize: number;
  wIh: number; wHh: number; bIh: number; bHh: number;
  gWIh: number; gWHh: number; gBIh: number; gBHh: number;
  /** X W_ihᵀ + b_ih for all steps; for LSTM it is overwritten by the activated gates. */
  gx: number;
  /** H_{t-1} W_hhᵀ + b_hh for all steps (GRU needs gh_n in backward). */
  gh: number;
  /** Activated gates (GRU: r, z, n); LSTM reuses gx. */
  acts: number;
  /** States h_{-1} … h_{T-1}: (T + 1) · B rows; rows B … are this layer's output sequence. */
  hs: number;
  cs: number;
  /** Gradient w.r.t. this layer's output sequence. */
  dH: number;
  dGx: number;
  dGh: number;
  dc: number;
  dhCarry: number;
  /** Dropout on this layer's outputs (all layers but the last): the mask, and outputs ⊙ mask. */
  mask: number;
  dropped: number;
}

export class NativeEngine implements Engine {
  readonly name = 'native';
  readonly backend: string;
  private readonly k: Kernel['k'];
  private readonly layers: Layer[];
  private readonly total: number;
  private readonly P: number;
  private readonly G: number;
  private readonly M: number;
  private readonly V2: number;
  private readonly offsets: Map<string, number>;
  private readonly tokens: number;
  private readonly targets: number;
  private readonly logits: number;
  private readonly dLogits: number;
  /** Transposed copies for the backward products (all run as gemmNT). */
  private readonly scratch: { dLogitsT: number; wOutT: number; whhT: number; wihT: number; dGhT: number; dGxT: number; aT: number; bT: number };
  private adamStep = 0;
  /** Whether the last forward pass applied dropout (backward must follow it). */
  private dropping = false;
  /** Sizes every pass needs: hidden H, vocabulary V, batch B, steps T, rows N = T·B, gate rows GH. */
  private readonly dims: { H: number; V: number; B: number; T: number; N: number; GH: number; cell: Architecture['cell'] };
  private readonly threads: KernelThreads | null;
  /** C = A·Bᵀ, on two cores when a helper thread is running. */
  private readonly gemm: Kernel['k']['gemmNT'];

  /** `threads`: 2 uses a worker thread for half of each large product (Node build only). */
  constructor(
    private readonly kernel: Kernel,
    readonly arch: Architecture,
    readonly batchSize: number,
    readonly numSteps: number,
    threads = 1,
  ) {
    this.threads = threads > 1 ? KernelThreads.start(kernel) : null;
    this.gemm = this.threads ? this.threads.gemmNT.bind(this.threads) : kernel.k.gemmNT;
    this.backend = `wasm-${kernel.flavor}${this.threads ? ' ×2 threads' : ''}`;
    this.k = kernel.k;
    const { hiddenSize: H, vocabSize: V, cell } = arch;
    const B = batchSize;
    const T = numSteps;
    const GH = numGates(cell) * H;
    this.dims = { H, V, B, T, N: T * B, GH, cell };
    const specs = tensorSpecs(arch);
    this.total = specs.reduce((n, s) => n + numElements(s.shape), 0);
    // Parameters, gradients and Adam's moments each live in one block, in state_dict order, so
    // clipping and the optimizers are single passes.
    this.P = kernel.alloc(this.total);
    this.G = kernel.alloc(this.total);
    this.M = kernel.alloc(this.total);
    this.V2 = kernel.alloc(this.total);
    this.offsets = new Map();
    let off = 0;
    for (const s of specs) {
      this.offsets.set(s.name, off);
      off += numElements(s.shape) * 4;
    }
    const p = (name: string) => this.P + this.offsets.get(name)!;
    const g = (name: string) => this.G + this.offsets.get(name)!;
    const N = T * B;
    this.layers = [];
    for (let l = 0; l < arch.numLayers; l++) {
      const gx = kernel.alloc(N * GH);
      const dGx = kernel.alloc(N * GH);
      this.layers.push({
        inSize: l === 0 ? V : H,
        wIh: p(`rnn.weight_ih_l${l}`), wHh: p(`rnn.weight_hh_l${l}`), bIh: p(`rnn.bias_ih_l${l}`), bHh: p(`rnn.bias_hh_l${l}`),
        gWIh: g(`rnn.weight_ih_l${l}`), gWHh: g(`rnn.weight_hh_l${l}`), gBIh: g(`rnn.bias_ih_l${l}`), gBHh: g(`rnn.bias_hh_l${l}`),
        gx,
        gh: kernel.alloc(N * GH),
        acts: cell === 'gru' ? kernel.alloc(N * GH) : gx,
        hs: kernel.alloc((T + 1) * B * H),
        cs: kernel.alloc(cell === 'lstm' ? (T + 1) * B * H : 0),
        dH: kernel.alloc(N * H),
        dGx,
        dGh: cell === 'gru' ? kernel.alloc(N * GH) : dGx,
        dc: kernel.alloc(B * H),
        dhCarry: kernel.alloc(B * H),
        mask: kernel.alloc(l < arch.numLayers - 1 ? N * H : 0),
        dropped: kernel.alloc(l < arch.numLayers - 1 ? N * H : 0),
      });
    }
    this.tokens = kernel.alloc(N);
    this.targets = kernel.alloc(N);
    this.logits = kernel.alloc(N * V);
    this.dLogits = kernel.alloc(N * V);
    const dGhT = kernel.alloc(N * GH);
    this.scratch = {
      dLogitsT: kernel.alloc(N * V),
      wOutT: kernel.alloc(H * V),
      whhT: kernel.alloc(H * GH),
      wihT: kernel.alloc(H * GH),
      dGhT,
      dGxT: cell === 'gru' ? kernel.alloc(N * GH) : dGhT,
      aT: kernel.alloc(N * H),
      bT: kernel.alloc(N * H),
    };
  }

  setParams(params: Params): void {
    for (const s of tensorSpecs(this.arch)) {
      const t = params[s.name];
      if (!t || t.length !== numElements(s.shape)) throw new OptionError(`parameter ${s.name} must have ${numElements(s.shape)} values`);
      this.kernel.f32(this.P + this.offsets.get(s.name)!, t.length).set(t);
    }
  }

  getParams(): Params {
    return this.read(this.P);
  }

  getGradients(): Params {
    return this.read(this.G);
  }

  private read(block: number): Params {
    const out: Params = {};
    for (const s of tensorSpecs(this.arch)) out[s.name] = this.kernel.f32(block + this.offsets.get(s.name)!, numElements(s.shape)).slice();
    return out;
  }

  resetState(): void {
    const { hiddenSize: H } = this.arch;
    for (const l of this.layers) {
      this.kernel.f32(l.hs, this.batchSize * H).fill(0);
      if (this.arch.cell === 'lstm') this.kernel.f32(l.cs, this.batchSize * H).fill(0);
    }
  }

  /** d2l's X [B, T] → time-major rows, checking every id (the kernel trusts them). */
  private load(x: Int32Array, into: number): void {
    const B = this.batchSize;
    const T = this.numSteps;
    const V = this.arch.vocabSize;
    if (x.length !== B * T) throw new OptionError(`a window must hold ${B}×${T} tokens, got ${x.length}`);
    const dst = this.kernel.i32(into, B * T);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        const v = x[b * T + t];
        if (!(v >= 0 && v < V)) throw new OptionError(`token id ${v} is outside the vocabulary [0, ${V})`);
        dst[t * B + b] = v;
      }
    }
  }

  /** The input of layer l + 1: layer l's outputs, through its dropout mask while training. */
  private outputOf(l: number): number {
    const L = this.layers[l];
    return this.dropping && l < this.layers.length - 1 ? L.dropped : L.hs + this.dims.B * this.dims.H * 4;
  }

  private forward(x: Int32Array, y: Int32Array, gradScale: number, dropout?: Dropout): number {
    const { k } = this;
    const { H, V, B, T, N, GH, cell } = this.dims;
    this.load(x, this.tokens);
    this.load(y, this.targets);
    this.dropping = dropout !== undefined && dropout.p > 0;
    let input = this.tokens;
    for (const [l, L] of this.layers.entries()) {
      if (l === 0) k.gatherColumns(L.wIh, this.tokens, L.bIh, L.gx, N, GH, V); // one-hot X W_ihᵀ
      else {
        this.gemm(input, L.wIh, L.gx, N, GH, H, false);
        k.addRows(L.gx, L.bIh, N, GH);
      }
      for (let t = 0; t < T; t++) {
        const hPrev = L.hs + t * B * H * 4;
        const hNext = hPrev + B * H * 4;
        const gx = L.gx + t * B * GH * 4;
        const gh = L.gh + t * B * GH * 4;
        this.gemm(hPrev, L.wHh, gh, B, GH, H, false); // H_{t-1} W_hhᵀ
        k.addRows(gh, L.bHh, B, GH);
        if (cell === 'lstm') k.lstmForward(gx, gh, gx, L.cs + t * B * H * 4, L.cs + (t + 1) * B * H * 4, hNext, B, H);
        else if (cell === 'gru') k.gruForward(gx, gh, L.acts + t * B * GH * 4, hPrev, hNext, B, H);
        else k.rnnForward(gx, gh, hNext, B, H);
      }
      if (this.dropping && l < this.layers.length - 1) {
        this.kernel.f32(L.mask, N * H).set(dropoutMask(dropout!, l, N * H));
        k.mul(L.hs + B * H * 4, L.mask, L.dropped, N * H);
      }
      input = this.outputOf(l);
    }
    this.gemm(input, this.P + this.offsets.get('linear.weight')!, this.logits, N, V, H, false);
    k.addRows(this.logits, this.P + this.offsets.get('linear.bias')!, N, V);
    return k.softmaxCrossEntropy(this.logits, this.targets, this.dLogits, N, V, gradScale);
  }

  /** The state after the window becomes the state before the next one (detached: no gradient). */
  private carryState(): void {
    const { hiddenSize: H } = this.arch;
    const n = this.batchSize * H;
    const T = this.numSteps;
    for (const L of this.layers) {
      this.kernel.f32(L.hs, (T + 1) * n).copyWithin(0, T * n);
      if (this.arch.cell === 'lstm') this.kernel.f32(L.cs, (T + 1) * n).copyWithin(0, T * n);
    }
  }

  async evaluate(x: Int32Array, y: Int32Array): Promise<number> {
    const loss = this.forward(x, y, 0); // no dropout
    this.carryState();
    return loss;
  }

  async forwardBackward(x: Int32Array, y: Int32Array, dropout?: Dropout): Promise<number> {
    const { k } = this;
    const { H, V, B, T, N, GH, cell } = this.dims;
    const loss = this.forward(x, y, 1 / N, dropout);
    this.kernel.f32(this.G, this.total).fill(0);

    // Every product below is C = A·Bᵀ (gemmNT) on transposed copies: dW = dGᵀX becomes
    // (dGᵀ)(Xᵀ)ᵀ, dX = dG·W becomes dG·(Wᵀ)ᵀ. The transposes cost ~1% of the products.
    const S = this.scratch;
    const wOut = this.P + this.offsets.get('linear.weight')!;
    const top = this.layers[this.layers.length - 1];
    k.transpose(this.dLogits, S.dLogitsT, N, V);
    k.transpose(top.hs + B * H * 4, S.aT, N, H);
    this.gemm(S.dLogitsT, S.aT, this.G + this.offsets.get('linear.weight')!, V, H, N, true); // dW_hq = dOᵀ H_L
    k.addColumnSums(this.dLogits, this.G + this.offsets.get('linear.bias')!, N, V);
    k.transpose(wOut, S.wOutT, V, H);
    this.gemm(this.dLogits, S.wOutT, top.dH, N, H, V, false); // dH_L = dO W_hq

    for (let l = this.layers.length - 1; l >= 0; l--) {
      const L = this.layers[l];
      k.transpose(L.wHh, S.whhT, GH, H);
      this.kernel.f32(L.dhCarry, B * H).fill(0);
      this.kernel.f32(L.dc, B * H).fill(0);
      for (let t = T - 1; t >= 0; t--) {
        const dh = L.dH + t * B * H * 4;
        const hPrev = L.hs + t * B * H * 4;
        const dGx = L.dGx + t * B * GH * 4;
        const dGh = L.dGh + t * B * GH * 4;
        k.addRows(dh, L.dhCarry, 1, B * H); // from above + from step t+1
        if (cell === 'lstm') k.lstmBackward(L.acts + t * B * GH * 4, L.cs + t * B * H * 4, L.cs + (t + 1) * B * H * 4, dh, L.dc, dGx, B, H);
        else if (cell === 'gru') k.gruBackward(L.acts + t * B * GH * 4, L.gh + t * B * GH * 4, hPrev, dh, dGx, dGh, L.dhCarry, B, H);
        else k.rnnBackward(hPrev + B * H * 4, dh, dGx, B, H);
        this.gemm(dGh, S.whhT, L.dhCarry, B, H, GH, cell === 'gru'); // dH_{t-1} = dG_t W_hh (+ z⊙dh for GRU)
      }
      // Weight gradients over all steps at once: dW_hh = Σ_t dG_tᵀ H_{t-1}, dW_ih = Σ_t dG_tᵀ X_t
      k.transpose(L.dGh, S.dGhT, N, GH);
      k.transpose(L.hs, S.aT, N, H);
      this.gemm(S.dGhT, S.aT, L.gWHh, GH, H, N, true);
      k.addColumnSums(L.dGh, L.gBHh, N, GH);
      k.addColumnSums(L.dGx, L.gBIh, N, GH);
      if (l === 0) k.scatterColumns(L.dGx, this.tokens, L.gWIh, N, GH, V);
      else {
        const below = this.layers[l - 1];
        if (cell === 'gru') k.transpose(L.dGx, S.dGxT, N, GH);
        k.transpose(this.outputOf(l - 1), S.bT, N, H);
        this.gemm(S.dGxT, S.bT, L.gWIh, GH, H, N, true);
        k.transpose(L.wIh, S.wihT, GH, H);
        this.gemm(L.dGx, S.wihT, below.dH, N, H, GH, false); // dX = dG W_ih
        if (this.dropping) k.mul(below.dH, below.mask, below.dH, N * H); // through the dropout mask
      }
    }
    this.carryState();
    return loss;
  }

  clipGradients(theta: number): number {
    const norm = Math.sqrt(this.k.sumSquares(this.G, this.total));
    if (norm > theta) this.k.scale(this.G, this.total, theta / norm);
    return norm;
  }

  update(o: OptimizerConfig): void {
    if (o.name === 'sgd') return this.k.sgd(this.P, this.G, this.total, o.lr);
    const b1 = o.beta1 ?? 0.9;
    const b2 = o.beta2 ?? 0.999;
    this.adamStep++;
    this.k.adam(this.P, this.G, this.M, this.V2, this.total, o.lr, b1, b2, o.eps ?? 1e-8, 1 - b1 ** this.adamStep, 1 - b2 ** this.adamStep);
  }

  getOptimizerState(): OptimizerState {
    return { step: this.adamStep, moments: this.adamStep > 0 ? { m: this.read(this.M), v: this.read(this.V2) } : null };
  }

  setOptimizerState(state: OptimizerState): void {
    this.adamStep = state.step;
    const blocks: [number, Params | undefined][] = [[this.M, state.moments?.m], [this.V2, state.moments?.v]];
    for (const [block, params] of blocks) {
      for (const s of tensorSpecs(this.arch)) {
        const view = this.kernel.f32(block + this.offsets.get(s.name)!, numElements(s.shape));
        if (params) view.set(params[s.name]);
        else view.fill(0);
      }
    }
  }

  dispose(): void {
    void this.threads?.close();
  }
}
