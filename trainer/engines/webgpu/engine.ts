/**
 * The WebGPU engine: a whole training window on the GPU, in the WGSL of kernels.ts — per layer
 * the input projections of the window as one GEMM (layer 0: a gather of W_ih's columns), the
 * recurrence as a GEMM and a fused cell per step, the output layer and softmax cross-entropy as
 * GEMMs over the window, backpropagation through time, the gradient norm, and the optimizer step.
 * Parameters, Adam's moments and the carried state live on the GPU; a window reads back two
 * floats (its loss and its gradient norm²) and uploads its tokens (and dropout masks, drawn on
 * the host as every engine draws them: dropout.ts).
 *
 * The dispatches of a window depend on its shapes and on whether it drops anything, nothing else:
 * they are built once per variant (pipelines, bind groups, each dispatch's uniform block in one
 * buffer) and replayed into one command buffer per window.
 *
 * Runtime-free: it is handed a device (gpu.ts), in Node (Dawn) or in a page.
 */
import { OptionError } from '../../../shared/errors.ts';
import { numElements, numGates, tensorSpecs, type Architecture, type Params } from '../../../shared/model.ts';
import { dropoutMask, drops, dropsWeights, weightDropMask, type Dropout } from '../dropout.ts';
import { withOptimizerDefaults, type Engine, type EngineShape, type OptimizerConfig, type OptimizerState } from '../engine.ts';
import { describeAdapter, type OpenGpu } from './gpu.ts';
import * as K from './kernels.ts';

/** GPUBufferUsage and GPUMapMode, by value (their globals exist in pages, not in every runtime). */
const USAGE = { MAP_READ: 0x1, COPY_SRC: 0x4, COPY_DST: 0x8, UNIFORM: 0x40, STORAGE: 0x80 } as const;
const MAP_READ = 0x1;
/** Uniform blocks are bound at multiples of this (WebGPU's minUniformBufferOffsetAlignment default). */
const UNIFORM_ALIGN = 256;
/** Workgroups a grid dimension holds. */
const MAX_GROUPS = 65535;
/** Workgroups of a reduction's first pass. */
const REDUCE_GROUPS = 256;

/** An operand: a buffer and where in it (elements). */
interface At {
  buf: GPUBuffer;
  off: number;
}

/** One dispatch, before its bind group exists. */
interface Step {
  kernel: K.KernelSource;
  overrides?: Record<string, number>;
  values: Record<string, number>;
  buffers: GPUBuffer[];
  groups: [number, number];
}

/** One dispatch, ready to replay. */
interface Dispatch {
  pipeline: GPUComputePipeline;
  bind: GPUBindGroup;
  groups: [number, number];
}

/** A grid of element-wise workgroups covering n threads. */
function grid(n: number, threads = K.THREADS): [number, number] {
  const groups = Math.max(1, Math.ceil(n / threads));
  return [Math.min(groups, MAX_GROUPS), Math.ceil(groups / MAX_GROUPS)];
}

/** One layer's buffers (all f32, element offsets; row n = t·B + b). */
interface LayerBuffers {
  /** [N, GH] X W_ihᵀ + b_ih; [N, GH] H_{t−1} W_hhᵀ + b_hh; [N, GH] activated gates. */
  gx: GPUBuffer;
  gh: GPUBuffer;
  acts: GPUBuffer;
  /** [(T + 1)·B, H] states h_{−1} … h_{T−1}, and LSTM's cells. */
  hs: GPUBuffer;
  cs: GPUBuffer;
  /** [N, H] tanh of the cells (LSTM). */
  tcs: GPUBuffer;
  /** [N, H] gradient of the layer's output sequence. */
  dH: GPUBuffer;
  /** [N, GH] gradients of gx and gh (the same buffer but for GRU). */
  dGx: GPUBuffer;
  dGh: GPUBuffer;
  /** [2·B·H] dh carried from t + 1, then (LSTM) dc. */
  carry: GPUBuffer;
  /** [N, H] this window's dropout mask and the outputs through it. */
  mask: GPUBuffer;
  dropped: GPUBuffer;
  /** [GH, H] weight-drop mask of W_hh, and W_hh ⊙ mask. */
  wHhMask: GPUBuffer;
  wHhDropped: GPUBuffer;
}

export class WebGpuEngine implements Engine {
  readonly name = 'webgpu';
  readonly backend: string;
  readonly arch: Architecture;
  readonly batchSize: number;
  readonly numSteps: number;
  private readonly device: GPUDevice;
  private readonly optimizer: Required<OptimizerConfig>;
  private readonly weightDrop: boolean;
  private readonly dims: { B: number; T: number; N: number; H: number; V: number; GH: number; L: number };
  /** Parameters in state_dict order, their gradients, Adam's moments: `total` floats each. */
  private readonly total: number;
  private readonly P: GPUBuffer;
  private readonly G: GPUBuffer;
  private readonly M: GPUBuffer;
  private readonly V2: GPUBuffer;
  /** Element offset of each tensor within a block. */
  private readonly offsets = new Map<string, number>();
  private readonly layers: LayerBuffers[];
  /** [N] u32 inputs and targets, time-major. */
  private readonly tokens: GPUBuffer;
  private readonly targets: GPUBuffer;
  /** [N, V] logits and their gradient; [N] each row's loss. */
  private readonly logits: GPUBuffer;
  private readonly dLogits: GPUBuffer;
  private readonly lossRows: GPUBuffer;
  /** First-pass sums of the loss (at 0) and of g² (at REDUCE_GROUPS); [loss, ‖g‖²]. */
  private readonly partials: GPUBuffer;
  private readonly result: GPUBuffer;
  private readonly resultRead: GPUBuffer;
  /** Bound where a shader's optional operand is unused. */
  private readonly dummy: GPUBuffer;
  private readonly stepUniform: GPUBuffer;
  private readonly stepDispatch: Dispatch;
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly windows = new Map<string, Dispatch[]>();
  private lastNormSq = 0;
  private scale = 1;
  private adamStep = 0;
  /** The first error the device reported, thrown at the next readback. */
  private failure: Error | null = null;

  constructor(gpu: OpenGpu, spec: EngineShape) {
    this.device = gpu.device;
    this.arch = spec.arch;
    this.batchSize = spec.batchSize;
    this.numSteps = spec.numSteps;
    this.weightDrop = spec.weightDrop ?? false;
    this.optimizer = withOptimizerDefaults(spec.optimizer);
    this.backend = describeAdapter(gpu.adapter);
    const { hiddenSize: H, vocabSize: V, cell, numLayers: L } = spec.arch;
    const B = spec.batchSize;
    const T = spec.numSteps;
    const N = T * B;
    const GH = numGates(cell) * H;
    this.dims = { B, T, N, H, V, GH, L };
    this.device.addEventListener('uncapturederror', (e) => {
      this.failure ??= new Error(`the GPU reported an error: ${(e as GPUUncapturedErrorEvent).error.message}`);
    });
    void this.device.lost.then((info) => {
      this.failure ??= new Error(`the GPU device was lost: ${info.message || info.reason}`);
    });

    const specs = tensorSpecs(spec.arch);
    let off = 0;
    for (const s of specs) {
      this.offsets.set(s.name, off);
      off += numElements(s.shape);
    }
    this.total = off;
    const maxBytes = Math.min(this.device.limits.maxStorageBufferBindingSize, this.device.limits.maxBufferSize);
    const f32 = (n: number, usage = 0) => {
      const bytes = Math.max(16, Math.ceil((n * 4) / 16) * 16);
      if (bytes > maxBytes) {
        throw new OptionError(
          `a buffer of this window needs ${(bytes / 2 ** 20).toFixed(0)} MiB; this GPU binds at most ${(maxBytes / 2 ** 20).toFixed(0)} MiB: lower --batch-size, --num-steps or --hidden`,
        );
      }
      return this.device.createBuffer({ size: bytes, usage: USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST | usage });
    };
    this.P = f32(this.total);
    this.G = f32(this.total);
    this.M = f32(this.total);
    this.V2 = f32(this.total);
    this.layers = Array.from({ length: L }, () => {
      const gx = f32(N * GH);
      const dGx = f32(N * GH);
      return {
        gx,
        gh: f32(N * GH),
        acts: f32(N * GH),
        hs: f32((T + 1) * B * H),
        cs: f32(cell === 'lstm' ? (T + 1) * B * H : 0),
        tcs: f32(cell === 'lstm' ? N * H : 0),
        dH: f32(N * H),
        dGx,
        dGh: cell === 'gru' ? f32(N * GH) : dGx,
        carry: f32(2 * B * H),
        mask: f32(N * H),
        dropped: f32(N * H),
        wHhMask: f32(this.weightDrop ? GH * H : 0),
        wHhDropped: f32(this.weightDrop ? GH * H : 0),
      };
    });
    this.tokens = f32(N);
    this.targets = f32(N);
    this.logits = f32(N * V);
    this.dLogits = f32(N * V);
    this.lossRows = f32(N);
    this.partials = f32(2 * REDUCE_GROUPS);
    this.result = f32(2);
    this.resultRead = this.device.createBuffer({ size: 16, usage: USAGE.MAP_READ | USAGE.COPY_DST });
    this.dummy = f32(4);
    this.stepUniform = this.device.createBuffer({ size: UNIFORM_ALIGN, usage: USAGE.UNIFORM | USAGE.COPY_DST });
    this.stepDispatch = {
      pipeline: this.pipeline(K.OPTIMIZER_STEP),
      bind: this.bindGroup(K.OPTIMIZER_STEP, {}, this.stepUniform, 0, [this.P, this.G, this.M, this.V2]),
      groups: grid(this.total),
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Building dispatches

  private pipeline(kernel: K.KernelSource, overrides?: Record<string, number>): GPUComputePipeline {
    if (!this.kernelIds.has(kernel)) this.kernelIds.set(kernel, this.kernelIds.size);
    const key = `${this.kernelIds.get(kernel)}:${JSON.stringify(overrides ?? {})}`;
    let p = this.pipelines.get(key);
    if (!p) {
      const module = this.device.createShaderModule({ code: kernel.code });
      p = this.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main', constants: overrides } });
      this.pipelines.set(key, p);
    }
    return p;
  }
  private readonly kernelIds = new Map<K.KernelSource, number>();

  private bindGroup(kernel: K.KernelSource, overrides: Record<string, number>, uniform: GPUBuffer, uniformOffset: number, buffers: GPUBuffer[]): GPUBindGroup {
    return this.device.createBindGroup({
      layout: this.pipeline(kernel, overrides).getBindGroupLayout(0),
      entries: [
        { binding: 0, resource: { buffer: uniform, offset: uniformOffset, size: Math.ceil((kernel.fields.length * 4) / 16) * 16 } },
        ...buffers.map((buffer, i) => ({ binding: i + 1, resource: { buffer } })),
      ],
    });
  }

  /** A step's uniform block, packed by the kernel's field list. */
  private static pack(kernel: K.KernelSource, values: Record<string, number>, view: DataView, at: number): void {
    for (const [i, [name, type]] of kernel.fields.entries()) {
      const v = values[name];
      if (v === undefined) throw new Error(`unreachable: ${name} missing for a kernel`);
      if (type === 'f32') view.setFloat32(at + i * 4, v, true);
      else view.setUint32(at + i * 4, v, true);
    }
  }

  /** Steps → dispatches: one uniform buffer for all their blocks, a bind group each. */
  private build(steps: Step[]): Dispatch[] {
    const bytes = Math.max(UNIFORM_ALIGN, steps.length * UNIFORM_ALIGN);
    const data = new ArrayBuffer(bytes);
    const view = new DataView(data);
    steps.forEach((s, i) => WebGpuEngine.pack(s.kernel, s.values, view, i * UNIFORM_ALIGN));
    const uniform = this.device.createBuffer({ size: bytes, usage: USAGE.UNIFORM | USAGE.COPY_DST });
    this.device.queue.writeBuffer(uniform, 0, data);
    return steps.map((s, i) => ({
      pipeline: this.pipeline(s.kernel, s.overrides),
      bind: this.bindGroup(s.kernel, s.overrides ?? {}, uniform, i * UNIFORM_ALIGN, s.buffers),
      groups: s.groups,
    }));
  }

  /** C[M, N] (+)= op(A) op(B) (+ bias). */
  private gemm(o: {
    a: At;
    b: At;
    c: At;
    M: number;
    N: number;
    K: number;
    lda: number;
    ldb: number;
    ldc: number;
    transA?: boolean;
    transB?: boolean;
    bias?: At;
    accumulate?: boolean;
  }): Step {
    return {
      kernel: K.GEMM,
      overrides: { TRANS_A: o.transA ? 1 : 0, TRANS_B: o.transB ? 1 : 0 },
      values: {
        M: o.M,
        N: o.N,
        K: o.K,
        aOff: o.a.off,
        lda: o.lda,
        bOff: o.b.off,
        ldb: o.ldb,
        cOff: o.c.off,
        ldc: o.ldc,
        biasOff: o.bias?.off ?? 0,
        flags: (o.accumulate ? 1 : 0) | (o.bias ? 2 : 0),
      },
      buffers: [o.a.buf, o.b.buf, o.c.buf, o.bias?.buf ?? this.dummy],
      groups: [Math.ceil(o.N / K.GEMM_TILE), Math.ceil(o.M / K.GEMM_TILE)],
    };
  }

  private at(name: string, buf: GPUBuffer = this.P): At {
    return { buf, off: this.offsets.get(name)! };
  }

  /** The input of layer l + 1 (of the output layer, after the last): layer l's outputs, through its mask while dropping. */
  private outputOf(l: number, dropping: boolean): At {
    const { B, H } = this.dims;
    return dropping ? { buf: this.layers[l].dropped, off: 0 } : { buf: this.layers[l].hs, off: B * H };
  }

  private wHh(l: number, weightDropping: boolean): At {
    return weightDropping ? { buf: this.layers[l].wHhDropped, off: 0 } : this.at(`rnn.weight_hh_l${l}`);
  }

  /** The state after the window becomes the state before the next (detached). */
  private carrySteps(Lb: LayerBuffers): Step[] {
    const { B, H, T } = this.dims;
    const copy = (buf: GPUBuffer): Step => ({ kernel: K.COPY_WITHIN, values: { n: B * H, src: T * B * H, dst: 0 }, buffers: [buf], groups: grid(B * H) });
    return this.arch.cell === 'lstm' ? [copy(Lb.hs), copy(Lb.cs)] : [copy(Lb.hs)];
  }

  /** Every dispatch of a window: forward, backward, the state carried on, the loss and ‖g‖². */
  private windowSteps(dropping: boolean, weightDropping: boolean): Step[] {
    const { B, T, N, H, V, GH, L } = this.dims;
    const cell = this.arch.cell;
    const steps: Step[] = [];
    const el = (kernel: K.KernelSource, values: Record<string, number>, buffers: GPUBuffer[], n: number) =>
      steps.push({ kernel, values, buffers, groups: grid(n) });

    // Forward.
    if (weightDropping) {
      for (const [l, Lb] of this.layers.entries()) {
        el(K.MUL, { n: GH * H, xOff: this.offsets.get(`rnn.weight_hh_l${l}`)!, mOff: 0, outOff: 0 }, [this.P, Lb.wHhMask, Lb.wHhDropped], GH * H);
      }
    }
    for (const [l, Lb] of this.layers.entries()) {
      if (l === 0) {
        el(
          K.GATHER_COLUMNS,
          { rows: N, G: GH, V, wOff: this.offsets.get('rnn.weight_ih_l0')!, bOff: this.offsets.get('rnn.bias_ih_l0')! },
          [this.P, this.tokens, Lb.gx],
          N * GH,
        );
      } else {
        steps.push(
          this.gemm({
            a: this.outputOf(l - 1, dropping),
            b: this.at(`rnn.weight_ih_l${l}`),
            c: { buf: Lb.gx, off: 0 },
            M: N,
            N: GH,
            K: H,
            lda: H,
            ldb: H,
            ldc: GH,
            transB: true,
            bias: this.at(`rnn.bias_ih_l${l}`),
          }),
        );
      }
      for (let t = 0; t < T; t++) {
        steps.push(
          this.gemm({
            a: { buf: Lb.hs, off: t * B * H },
            b: this.wHh(l, weightDropping),
            c: { buf: Lb.gh, off: t * B * GH },
            M: B,
            N: GH,
            K: H,
            lda: H,
            ldb: H,
            ldc: GH,
            transB: true,
            bias: this.at(`rnn.bias_hh_l${l}`),
          }),
        );
        const v = { B, H, gOff: t * B * GH, sOff: t * B * H };
        if (cell === 'lstm') el(K.LSTM_FORWARD, v, [Lb.gx, Lb.gh, Lb.acts, Lb.cs, Lb.hs, Lb.tcs], B * H);
        else if (cell === 'gru') el(K.GRU_FORWARD, v, [Lb.gx, Lb.gh, Lb.acts, Lb.hs], B * H);
        else el(K.RNN_FORWARD, v, [Lb.gx, Lb.gh, Lb.hs], B * H);
      }
      if (dropping) el(K.MUL, { n: N * H, xOff: B * H, mOff: 0, outOff: 0 }, [Lb.hs, Lb.mask, Lb.dropped], N * H);
    }
    const out = this.outputOf(L - 1, dropping);
    steps.push(
      this.gemm({
        a: out,
        b: this.at('linear.weight'),
        c: { buf: this.logits, off: 0 },
        M: N,
        N: V,
        K: H,
        lda: H,
        ldb: H,
        ldc: V,
        transB: true,
        bias: this.at('linear.bias'),
      }),
    );
    steps.push({
      kernel: K.SOFTMAX_CROSS_ENTROPY,
      values: { N, V, gradScale: 1 / (T * B) },
      buffers: [this.logits, this.targets, this.dLogits, this.lossRows],
      groups: grid(N, 1),
    });

    // Backward.
    /** dW (+)= Σ over the window's rows of dGᵀ X: a [GH, H] weight's gradient in one product. */
    const weightGradient = (dG: GPUBuffer, x: At, name: string) =>
      this.gemm({ a: { buf: dG, off: 0 }, b: x, c: this.at(name, this.G), M: GH, N: H, K: N, lda: GH, ldb: H, ldc: H, transA: true, accumulate: true });
    const top = this.layers[L - 1];
    steps.push(
      this.gemm({
        a: { buf: this.dLogits, off: 0 },
        b: out,
        c: this.at('linear.weight', this.G),
        M: V,
        N: H,
        K: N,
        lda: V,
        ldb: H,
        ldc: H,
        transA: true,
        accumulate: true,
      }),
    );
    el(K.COLUMN_SUMS, { rows: N, cols: V, outOff: this.offsets.get('linear.bias')! }, [this.dLogits, this.G], V);
    steps.push(
      this.gemm({ a: { buf: this.dLogits, off: 0 }, b: this.at('linear.weight'), c: { buf: top.dH, off: 0 }, M: N, N: H, K: V, lda: V, ldb: H, ldc: H }),
    );
    if (dropping) el(K.MUL_IN_PLACE, { n: N * H, xOff: 0, mOff: 0 }, [top.dH, top.mask], N * H);
    for (let l = L - 1; l >= 0; l--) {
      const Lb = this.layers[l];
      for (let t = T - 1; t >= 0; t--) {
        const v = { B, H, gOff: t * B * GH, sOff: t * B * H };
        if (cell === 'lstm') el(K.LSTM_BACKWARD, v, [Lb.acts, Lb.cs, Lb.tcs, Lb.dH, Lb.carry, Lb.dGx], B * H);
        else if (cell === 'gru') el(K.GRU_BACKWARD, v, [Lb.acts, Lb.gh, Lb.hs, Lb.dH, Lb.carry, Lb.dGx, Lb.dGh], B * H);
        else el(K.RNN_BACKWARD, v, [Lb.hs, Lb.dH, Lb.carry, Lb.dGx], B * H);
        // dH_{t−1} carried = dG_t W_hh (+ z⊙dh, already there, for GRU)
        steps.push(
          this.gemm({
            a: { buf: Lb.dGh, off: t * B * GH },
            b: this.wHh(l, weightDropping),
            c: { buf: Lb.carry, off: 0 },
            M: B,
            N: H,
            K: GH,
            lda: GH,
            ldb: H,
            ldc: H,
            accumulate: cell === 'gru',
          }),
        );
      }
      // Weight gradients over all steps at once: dW_hh = Σ_t dG_tᵀ H_{t−1}, dW_ih = Σ_t dG_tᵀ X_t.
      steps.push(weightGradient(Lb.dGh, { buf: Lb.hs, off: 0 }, `rnn.weight_hh_l${l}`));
      if (weightDropping) el(K.MUL_IN_PLACE, { n: GH * H, xOff: this.offsets.get(`rnn.weight_hh_l${l}`)!, mOff: 0 }, [this.G, Lb.wHhMask], GH * H);
      el(K.COLUMN_SUMS, { rows: N, cols: GH, outOff: this.offsets.get(`rnn.bias_hh_l${l}`)! }, [Lb.dGh, this.G], GH);
      el(K.COLUMN_SUMS, { rows: N, cols: GH, outOff: this.offsets.get(`rnn.bias_ih_l${l}`)! }, [Lb.dGx, this.G], GH);
      if (l === 0) el(K.SCATTER_COLUMNS, { rows: N, G: GH, V, dwOff: this.offsets.get('rnn.weight_ih_l0')! }, [Lb.dGx, this.tokens, this.G], GH * V);
      else {
        const below = this.layers[l - 1];
        steps.push(weightGradient(Lb.dGx, this.outputOf(l - 1, dropping), `rnn.weight_ih_l${l}`));
        steps.push(
          this.gemm({
            a: { buf: Lb.dGx, off: 0 },
            b: this.at(`rnn.weight_ih_l${l}`),
            c: { buf: below.dH, off: 0 },
            M: N,
            N: H,
            K: GH,
            lda: GH,
            ldb: H,
            ldc: H,
          }),
        );
        if (dropping) el(K.MUL_IN_PLACE, { n: N * H, xOff: 0, mOff: 0 }, [below.dH, below.mask], N * H);
      }
    }
    for (const Lb of this.layers) steps.push(...this.carrySteps(Lb));

    // Σ loss and ‖g‖², two passes each.
    const lossGroups = Math.min(REDUCE_GROUPS, Math.ceil(N / K.THREADS));
    const normGroups = Math.min(REDUCE_GROUPS, Math.ceil(this.total / K.THREADS));
    steps.push({ kernel: K.REDUCE_PARTIAL, values: { n: N, xOff: 0, square: 0, outOff: 0 }, buffers: [this.lossRows, this.partials], groups: [lossGroups, 1] });
    steps.push({
      kernel: K.REDUCE_PARTIAL,
      values: { n: this.total, xOff: 0, square: 1, outOff: REDUCE_GROUPS },
      buffers: [this.G, this.partials],
      groups: [normGroups, 1],
    });
    steps.push({ kernel: K.REDUCE_PARTIAL, values: { n: lossGroups, xOff: 0, square: 0, outOff: 0 }, buffers: [this.partials, this.result], groups: [1, 1] });
    steps.push({
      kernel: K.REDUCE_PARTIAL,
      values: { n: normGroups, xOff: REDUCE_GROUPS, square: 0, outOff: 1 },
      buffers: [this.partials, this.result],
      groups: [1, 1],
    });
    return steps;
  }

  private run(dispatches: readonly Dispatch[], encoder: GPUCommandEncoder): void {
    const pass = encoder.beginComputePass();
    for (const d of dispatches) {
      pass.setPipeline(d.pipeline);
      pass.setBindGroup(0, d.bind);
      pass.dispatchWorkgroups(d.groups[0], d.groups[1]);
    }
    pass.end();
  }

  /** Dispatches per window (bench:gpu reports it). */
  dispatchesPerWindow(dropping = false, weightDropping = false): number {
    return this.window(dropping, weightDropping).length;
  }

  private window(dropping: boolean, weightDropping: boolean): Dispatch[] {
    const key = `${dropping}:${weightDropping}`;
    let w = this.windows.get(key);
    if (!w) {
      w = this.build(this.windowSteps(dropping, weightDropping));
      this.windows.set(key, w);
    }
    return w;
  }

  // ---------------------------------------------------------------------------------------------
  // The Engine

  private check(): void {
    if (this.failure) throw this.failure;
  }

  /** A copy of a buffer's first n floats, read back. */
  private async read(buf: GPUBuffer, n: number): Promise<Float32Array> {
    const bytes = Math.max(16, Math.ceil((n * 4) / 16) * 16);
    const staging = this.device.createBuffer({ size: bytes, usage: USAGE.MAP_READ | USAGE.COPY_DST });
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(buf, 0, staging, 0, bytes);
    this.device.queue.submit([enc.finish()]);
    await staging.mapAsync(MAP_READ);
    const out = new Float32Array(staging.getMappedRange().slice(0, n * 4));
    staging.unmap();
    staging.destroy();
    this.check();
    return out;
  }

  private write(buf: GPUBuffer, offset: number, data: Float32Array | Uint32Array): void {
    this.device.queue.writeBuffer(buf, offset * 4, data.buffer, data.byteOffset, data.byteLength);
  }

  setParams(params: Params): void {
    const all = new Float32Array(this.total);
    for (const s of tensorSpecs(this.arch)) {
      const t = params[s.name];
      if (!t || t.length !== numElements(s.shape)) throw new OptionError(`parameter ${s.name} must have ${numElements(s.shape)} values`);
      all.set(t, this.offsets.get(s.name)!);
    }
    this.write(this.P, 0, all);
  }

  private split(block: Float32Array): Params {
    const out: Params = {};
    for (const s of tensorSpecs(this.arch)) {
      const o = this.offsets.get(s.name)!;
      out[s.name] = block.slice(o, o + numElements(s.shape));
    }
    return out;
  }

  async getParams(): Promise<Params> {
    return this.split(await this.read(this.P, this.total));
  }

  async getGradients(): Promise<Params> {
    return this.split(await this.read(this.G, this.total));
  }

  resetState(): void {
    const { B, H } = this.dims;
    const enc = this.device.createCommandEncoder();
    for (const Lb of this.layers) {
      enc.clearBuffer(Lb.hs, 0, B * H * 4);
      if (this.arch.cell === 'lstm') enc.clearBuffer(Lb.cs, 0, B * H * 4);
    }
    this.device.queue.submit([enc.finish()]);
  }

  /** Per layer h, then (LSTM) c, each [batch, H] in batch order: the native engine's layout. */
  async getCarry(): Promise<Float32Array> {
    const { B, H } = this.dims;
    const parts: Float32Array[] = [];
    for (const Lb of this.layers) {
      parts.push(await this.read(Lb.hs, B * H));
      if (this.arch.cell === 'lstm') parts.push(await this.read(Lb.cs, B * H));
    }
    const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
    return out;
  }

  setCarry(state: Float32Array): void {
    const { B, H } = this.dims;
    const per = B * H;
    const expected = per * this.layers.length * (this.arch.cell === 'lstm' ? 2 : 1);
    if (state.length !== expected) throw new OptionError(`the carried state has ${state.length} values; this engine holds ${expected}`);
    let at = 0;
    for (const Lb of this.layers) {
      this.write(Lb.hs, 0, state.subarray(at, (at += per)));
      if (this.arch.cell === 'lstm') this.write(Lb.cs, 0, state.subarray(at, (at += per)));
    }
  }

  /** d2l's X [B, T] → time-major rows, checking every id (the shaders trust them). */
  private load(x: Int32Array, y: Int32Array): void {
    const { B, T, V } = this.dims;
    if (x.length !== B * T || y.length !== B * T) throw new OptionError(`a window must hold ${B}×${T} tokens, got ${x.length}`);
    const xs = new Uint32Array(B * T);
    const ys = new Uint32Array(B * T);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        const i = b * T + t;
        if (!(x[i] >= 0 && x[i] < V) || !(y[i] >= 0 && y[i] < V))
          throw new OptionError(`token id ${x[i] >= 0 && x[i] < V ? y[i] : x[i]} is outside the vocabulary [0, ${V})`);
        xs[t * B + b] = x[i];
        ys[t * B + b] = y[i];
      }
    }
    this.write(this.tokens, 0, xs);
    this.write(this.targets, 0, ys);
  }

  async forwardBackward(x: Int32Array, y: Int32Array, dropout?: Dropout): Promise<number> {
    this.check();
    this.load(x, y);
    const { N, H, GH, L } = this.dims;
    const dropping = drops(dropout, L);
    if (dropping) for (const [l, Lb] of this.layers.entries()) this.write(Lb.mask, 0, dropoutMask(dropout, l, L, N * H));
    const weightDropping = dropsWeights(dropout);
    if (weightDropping) {
      if (!this.weightDrop) throw new OptionError('this engine was built without weight drop: create it with weightDrop to drop recurrent weights');
      for (const [l, Lb] of this.layers.entries()) this.write(Lb.wHhMask, 0, weightDropMask(dropout, l, GH * H));
    }
    const enc = this.device.createCommandEncoder();
    enc.clearBuffer(this.G);
    for (const Lb of this.layers) enc.clearBuffer(Lb.carry);
    this.run(this.window(dropping, weightDropping), enc);
    enc.copyBufferToBuffer(this.result, 0, this.resultRead, 0, 16);
    this.device.queue.submit([enc.finish()]);
    await this.resultRead.mapAsync(MAP_READ);
    const [loss, normSq] = new Float32Array(this.resultRead.getMappedRange().slice(0, 8));
    this.resultRead.unmap();
    this.check();
    this.lastNormSq = normSq;
    this.scale = 1;
    return loss;
  }

  clipGradients(theta: number): number {
    const norm = Math.sqrt(this.lastNormSq);
    this.scale = norm > theta ? theta / norm : 1;
    return norm;
  }

  step(lr: number): void {
    const o = this.optimizer;
    const adam = o.name === 'adam';
    if (adam) this.adamStep++;
    const block = new DataView(new ArrayBuffer(UNIFORM_ALIGN));
    WebGpuEngine.pack(
      K.OPTIMIZER_STEP,
      {
        n: this.total,
        adam: adam ? 1 : 0,
        lr,
        scale: this.scale,
        decay: 1 - lr * o.weightDecay,
        b1: o.beta1,
        b2: o.beta2,
        eps: o.eps,
        c1: adam ? 1 - o.beta1 ** this.adamStep : 1,
        c2: adam ? 1 - o.beta2 ** this.adamStep : 1,
      },
      block,
      0,
    );
    this.device.queue.writeBuffer(this.stepUniform, 0, block.buffer);
    const enc = this.device.createCommandEncoder();
    this.run([this.stepDispatch], enc);
    this.device.queue.submit([enc.finish()]);
  }

  async getOptimizerState(): Promise<OptimizerState> {
    if (this.adamStep === 0) return { step: 0, moments: null };
    return { step: this.adamStep, moments: { m: this.split(await this.read(this.M, this.total)), v: this.split(await this.read(this.V2, this.total)) } };
  }

  setOptimizerState(state: OptimizerState): void {
    this.adamStep = state.step;
    const zeros = () => new Float32Array(this.total);
    const flat = (p: Params | undefined) => {
      const all = zeros();
      if (p) for (const s of tensorSpecs(this.arch)) all.set(p[s.name], this.offsets.get(s.name)!);
      return all;
    };
    this.write(this.M, 0, flat(state.moments?.m));
    this.write(this.V2, 0, flat(state.moments?.v));
  }

  async dispose(): Promise<void> {
    await this.device.queue.onSubmittedWorkDone();
    this.device.destroy();
  }
}
