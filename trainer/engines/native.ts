/**
 * The native engine: d2l's deep RNN trained on the shared WebAssembly kernel, backpropagation
 * through time written by hand (the chapter's first exercise), on any number of cores.
 *
 * Data parallel: each window's batch rows are split among N threads (shard.ts), each of which
 * runs forward and backward through time for its rows alone, into its own gradient block. The
 * blocks are then summed in a fixed order (thread 0 + thread 1 + …), each thread summing one
 * slice of the parameters, and the optimizer step runs in slices too. Three short barriers per
 * window instead of one per product: threads sleep (Atomics.wait) between them, so a busy core
 * costs its share of the window and nothing more. For a given N the arithmetic is fixed, so a run
 * is exactly reproducible (and resumes exactly); different N sum in a different order and give
 * slightly different floating-point results.
 */
import { OptionError } from '../../shared/errors.ts';
import type { Kernel } from '../../shared/kernel/kernel.ts';
import { numElements, numGates, tensorSpecs, type Architecture, type Params } from '../../shared/model.ts';
import { dropoutMask, drops, dropsWeights, weightDropMask, type Dropout } from './dropout.ts';
import { withOptimizerDefaults, type Engine, type EngineShape, type OptimizerConfig, type OptimizerState } from './engine.ts';
import { Shard } from './shard.ts';
import { layoutShards, type ShardLayout } from './shard-layout.ts';

/** Control block: [0] job sequence, [1] jobs done, [2] opcode, [3] dropout on, [4] a thread failed, [5] weight drop on. */
export const CTRL = { seq: 0, done: 1, op: 2, dropping: 3, failed: 4, weightDropping: 5 } as const;
export const OP = { exit: 0, forwardBackward: 1, reduce: 2, step: 3 } as const;
/** Float arguments and results: [0..8] args (lr, s, b1, b2, eps, c1, c2, adam?, decay = 1 − lr·λ), then per thread: loss, Σ g². */
export const ARGS = { lr: 0, scale: 1, b1: 2, b2: 3, eps: 4, c1: 5, c2: 6, adam: 7, decay: 8, results: 9 } as const;

/** Everything a helper thread needs, as plain data (pointers into the shared memory). */
export interface ThreadJob {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  ctrl: SharedArrayBuffer;
  args: SharedArrayBuffer;
  index: number;
  layout: ShardLayout;
  /** Every shard's gradient block, in summing order; [0] is the engine's. */
  blocks: number[];
  P: number;
  M: number;
  V2: number;
  slice: [number, number];
}

/** A helper thread as the engine needs it: started on a job, ended with terminate. */
export interface HelperThread {
  terminate(): Promise<unknown> | void;
  /**
   * Resolves once the helper runs (a page's Web Worker starts only while its parent's event loop
   * runs, so the engine must not block in Atomics.wait before then). Absent: it runs at once.
   */
  ready?: Promise<void>;
}
/**
 * How the host starts helper threads (Node: worker_threads running shard-thread.ts; a page: Web
 * Workers). Without one — or without shared memory — the engine runs on one thread.
 */
export type HelperSpawner = (job: ThreadJob) => HelperThread;

/** Thread i's slice [from, to) of n parameters: contiguous, 4-float aligned. */
function slices(n: number, threads: number): [number, number][] {
  const per = Math.ceil(n / threads / 4) * 4;
  return Array.from({ length: threads }, (_, i) => [Math.min(n, i * per), Math.min(n, (i + 1) * per)]);
}

/** The slice work of the reduce and step phases; the main thread and the helpers both run it. */
export function reduceSlice(k: Kernel['k'], blocks: readonly number[], [from, to]: [number, number]): number {
  const n = to - from;
  if (n <= 0) return 0;
  for (let t = 1; t < blocks.length; t++) k.addInto(blocks[0] + from * 4, blocks[t] + from * 4, n);
  return k.sumSquares(blocks[0] + from * 4, n);
}

export function stepSlice(k: Kernel['k'], a: Float64Array, G: number, P: number, M: number, V2: number, [from, to]: [number, number]): void {
  const n = to - from;
  if (n <= 0) return;
  const o = from * 4;
  if (a[ARGS.decay] !== 1) k.scale(P + o, n, a[ARGS.decay]); // AdamW: decay first, from the step's own weights
  if (a[ARGS.adam]) k.adam(P + o, G + o, M + o, V2 + o, n, a[ARGS.lr], a[ARGS.b1], a[ARGS.b2], a[ARGS.eps], a[ARGS.c1], a[ARGS.c2], a[ARGS.scale]);
  else k.sgd(P + o, G + o, n, a[ARGS.lr], a[ARGS.scale]);
}

export class NativeEngine implements Engine {
  readonly name = 'native';
  readonly backend: string;
  readonly threads: number;
  private readonly k: Kernel['k'];
  private readonly total: number;
  private readonly P: number;
  private readonly M: number;
  private readonly V2: number;
  private readonly offsets: Map<string, number>;
  private readonly shards: Shard[];
  private readonly slices: [number, number][];
  private readonly ctrl: Int32Array;
  private readonly args: Float64Array;
  private readonly workers: HelperThread[] = [];
  private adamStep = 0;
  private scale = 1;
  private readonly optimizer: Required<OptimizerConfig>;

  /**
   * `threads`: how many threads share each window (capped by the batch size), started by `spawn`.
   * `weightDrop`: whether windows may drop recurrent weights (room for a dropped copy of each W_hh).
   */
  readonly arch: Architecture;
  readonly batchSize: number;
  readonly numSteps: number;
  private readonly weightDrop: boolean;

  /**
   * `spec.threads`: how many threads share each window (capped by the batch size), started by
   * `spawn` (without it, or without shared memory, one). `spec.weightDrop`: whether windows may
   * drop recurrent weights (room for a dropped copy of each W_hh).
   */
  constructor(
    private readonly kernel: Kernel,
    spec: EngineShape,
    spawn?: HelperSpawner,
  ) {
    this.arch = spec.arch;
    this.batchSize = spec.batchSize;
    this.numSteps = spec.numSteps;
    this.weightDrop = spec.weightDrop ?? false;
    this.optimizer = withOptimizerDefaults(spec.optimizer);
    const shared = typeof SharedArrayBuffer !== 'undefined' && kernel.k.memory.buffer instanceof SharedArrayBuffer;
    this.threads = shared && spawn ? Math.max(1, Math.min(spec.threads ?? 1, spec.batchSize)) : 1;
    // Shared only when threads share them (a page that is not cross-origin isolated has no SharedArrayBuffer).
    const buffer = (bytes: number) => (this.threads > 1 ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
    this.ctrl = new Int32Array(buffer(8 * 4));
    this.args = new Float64Array(buffer((ARGS.results + 2 * this.threads) * 8));
    this.backend = `wasm-${kernel.flavor}${this.threads > 1 ? ` ×${this.threads} threads` : ''}`;
    this.k = kernel.k;
    const layout = layoutShards(kernel, { ...spec, weightDrop: this.weightDrop }, this.threads);
    ({ total: this.total, P: this.P, M: this.M, V2: this.V2, offsets: this.offsets } = layout);
    this.shards = layout.shards.map((l) => new Shard(kernel.k, l));
    this.slices = slices(this.total, this.threads);
    const blocks = this.shards.map((s) => s.layout.G);
    for (let i = 1; i < this.threads; i++) {
      const job: ThreadJob = {
        module: kernel.module,
        memory: kernel.k.memory,
        ctrl: this.ctrl.buffer as SharedArrayBuffer,
        args: this.args.buffer as SharedArrayBuffer,
        index: i,
        layout: this.shards[i].layout,
        blocks,
        P: this.P,
        M: this.M,
        V2: this.V2,
        slice: this.slices[i],
      };
      this.workers.push(spawn!(job));
    }
  }

  /** Resolves once every helper thread runs: await it before the first window. */
  ready(): Promise<void> {
    return Promise.all(this.workers.map((w) => w.ready)).then(() => {});
  }

  private get G(): number {
    return this.shards[0].layout.G;
  }

  /** Run `op` on every helper thread while `mine` runs here; wait for them. */
  private parallel(op: number, mine: () => void): void {
    const helpers = this.threads - 1;
    if (helpers > 0) {
      Atomics.store(this.ctrl, CTRL.done, 0);
      Atomics.store(this.ctrl, CTRL.op, op);
      Atomics.add(this.ctrl, CTRL.seq, 1);
      Atomics.notify(this.ctrl, CTRL.seq);
    }
    mine();
    for (let done = Atomics.load(this.ctrl, CTRL.done); done < helpers; done = Atomics.load(this.ctrl, CTRL.done))
      Atomics.wait(this.ctrl, CTRL.done, done, 1000);
    if (Atomics.load(this.ctrl, CTRL.failed)) throw new Error('a training thread failed (see the message above)');
  }

  setParams(params: Params): void {
    for (const s of tensorSpecs(this.arch)) {
      const t = params[s.name];
      if (!t || t.length !== numElements(s.shape)) throw new OptionError(`parameter ${s.name} must have ${numElements(s.shape)} values`);
      this.kernel.f32(this.P + this.offsets.get(s.name)!, t.length).set(t);
    }
  }

  async getParams(): Promise<Params> {
    return this.read(this.P);
  }

  async getGradients(): Promise<Params> {
    return this.read(this.G);
  }

  private read(block: number): Params {
    const out: Params = {};
    for (const s of tensorSpecs(this.arch)) out[s.name] = this.kernel.f32(block + this.offsets.get(s.name)!, numElements(s.shape)).slice();
    return out;
  }

  resetState(): void {
    for (const s of this.shards) s.resetState();
  }

  /**
   * The carried state, per layer h then c, each [batch, H] in batch order — the same layout for any
   * thread count (and the tfjs engine's): what a mid-epoch checkpoint keeps.
   */
  async getCarry(): Promise<Float32Array> {
    const parts: Float32Array[] = [];
    this.eachCarry((view) => parts.push(view.slice()));
    const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
    return out;
  }

  setCarry(state: Float32Array): void {
    let at = 0;
    this.eachCarry((view) => {
      view.set(state.subarray(at, at + view.length));
      at += view.length;
    });
    if (at !== state.length) throw new OptionError(`the carried state has ${state.length} values; this engine holds ${at}`);
  }

  private eachCarry(f: (view: Float32Array) => void): void {
    for (let l = 0; l < this.arch.numLayers; l++) {
      for (const which of this.arch.cell === 'lstm' ? (['hs', 'cs'] as const) : (['hs'] as const)) {
        for (const s of this.shards) f(this.kernel.f32(s.layout.layers[l][which], s.layout.dims.B * s.layout.dims.H)); // shards hold consecutive rows
      }
    }
  }

  /** d2l's X [B, T] → each shard's rows, time-major, checking every id (the kernel trusts them). */
  private load(x: Int32Array, y: Int32Array): void {
    const B = this.batchSize;
    const T = this.numSteps;
    const V = this.arch.vocabSize;
    if (x.length !== B * T || y.length !== B * T) throw new OptionError(`a window must hold ${B}×${T} tokens, got ${x.length}`);
    for (const s of this.shards) {
      const { b0, dims } = s.layout;
      const xs = this.kernel.i32(s.layout.tokens, dims.N);
      const ys = this.kernel.i32(s.layout.targets, dims.N);
      for (let b = 0; b < dims.B; b++) {
        for (let t = 0; t < T; t++) {
          const i = (b0 + b) * T + t;
          if (!(x[i] >= 0 && x[i] < V) || !(y[i] >= 0 && y[i] < V))
            throw new OptionError(`token id ${x[i] >= 0 && x[i] < V ? y[i] : x[i]} is outside the vocabulary [0, ${V})`);
          xs[t * dims.B + b] = x[i];
          ys[t * dims.B + b] = y[i];
        }
      }
    }
  }

  /** This window's dropout masks (engines/dropout.ts, the same for any thread count), rows to shards. */
  private loadMasks(d: Dropout): void {
    const { hiddenSize: H } = this.arch;
    const B = this.batchSize;
    const L = this.arch.numLayers;
    for (let l = 0; l < L; l++) {
      const mask = dropoutMask(d, l, L, this.numSteps * B * H); // the whole window's, [T·batch, H] time-major
      for (const s of this.shards) {
        const { b0, dims } = s.layout;
        const dst = this.kernel.f32(s.layout.layers[l].mask, dims.N * H);
        for (let t = 0; t < this.numSteps; t++) dst.set(mask.subarray((t * B + b0) * H, (t * B + b0 + dims.B) * H), t * dims.B * H);
      }
    }
  }

  /** This window's W_hh masks and the dropped copies every shard's steps use. */
  private dropWeights(d: Dropout): void {
    if (!this.weightDrop) throw new OptionError('this engine was built without weight drop: create it with weightDrop to drop recurrent weights');
    const n = numGates(this.arch.cell) * this.arch.hiddenSize * this.arch.hiddenSize; // [GH, H]
    for (const [l, L] of this.shards[0].layout.layers.entries()) {
      this.kernel.f32(L.wHhMask, n).set(weightDropMask(d, l, n));
      this.k.mul(L.wHh, L.wHhMask, L.wHhDropped, n);
    }
  }

  async forwardBackward(x: Int32Array, y: Int32Array, dropout?: Dropout): Promise<number> {
    this.load(x, y);
    const dropping = drops(dropout, this.arch.numLayers);
    if (dropping) this.loadMasks(dropout!);
    const weightDropping = dropsWeights(dropout);
    if (weightDropping) this.dropWeights(dropout!);
    Atomics.store(this.ctrl, CTRL.dropping, dropping ? 1 : 0);
    Atomics.store(this.ctrl, CTRL.weightDropping, weightDropping ? 1 : 0);
    const r = ARGS.results;
    this.parallel(OP.forwardBackward, () => (this.args[r] = this.shards[0].forwardBackward(dropping, weightDropping)));
    // Σ of the threads' gradients into block 0, and Σ g² per slice, summed in slice order.
    this.parallel(
      OP.reduce,
      () =>
        (this.args[r + 1] = reduceSlice(
          this.k,
          this.shards.map((s) => s.layout.G),
          this.slices[0],
        )),
    );
    this.scale = 1;
    let loss = 0;
    for (let t = 0; t < this.threads; t++) loss += this.args[r + 2 * t];
    return loss;
  }

  clipGradients(theta: number): number {
    let sq = 0;
    for (let t = 0; t < this.threads; t++) sq += this.args[ARGS.results + 2 * t + 1];
    const norm = Math.sqrt(sq);
    this.scale = norm > theta ? theta / norm : 1;
    return norm;
  }

  /** One optimizer step at this learning rate, on the clipped gradients. */
  step(lr: number): void {
    const a = this.args;
    const o = this.optimizer;
    a[ARGS.lr] = lr;
    a[ARGS.scale] = this.scale;
    a[ARGS.adam] = o.name === 'adam' ? 1 : 0;
    a[ARGS.decay] = 1 - lr * o.weightDecay;
    if (o.name === 'adam') {
      this.adamStep++;
      [a[ARGS.b1], a[ARGS.b2], a[ARGS.eps], a[ARGS.c1], a[ARGS.c2]] = [o.beta1, o.beta2, o.eps, 1 - o.beta1 ** this.adamStep, 1 - o.beta2 ** this.adamStep];
    }
    this.parallel(OP.step, () => stepSlice(this.k, a, this.G, this.P, this.M, this.V2, this.slices[0]));
  }

  async getOptimizerState(): Promise<OptimizerState> {
    return { step: this.adamStep, moments: this.adamStep > 0 ? { m: this.read(this.M), v: this.read(this.V2) } : null };
  }

  setOptimizerState(state: OptimizerState): void {
    this.adamStep = state.step;
    const blocks: [number, Params | undefined][] = [
      [this.M, state.moments?.m],
      [this.V2, state.moments?.v],
    ];
    for (const [block, params] of blocks) {
      for (const s of tensorSpecs(this.arch)) {
        const view = this.kernel.f32(block + this.offsets.get(s.name)!, numElements(s.shape));
        if (params) view.set(params[s.name]);
        else view.fill(0);
      }
    }
  }

  async dispose(): Promise<void> {
    if (this.workers.length === 0) return;
    Atomics.store(this.ctrl, CTRL.op, OP.exit);
    Atomics.add(this.ctrl, CTRL.seq, 1);
    Atomics.notify(this.ctrl, CTRL.seq);
    await Promise.all(this.workers.splice(0).map((w) => w.terminate()));
  }
}
