/**
 * The tfjs engine: the same deep RNN in TensorFlow.js ops, gradients by autodiff. On
 * `@tensorflow/tfjs-node-gpu` this is the GPU path of the training job; tfjs's own `cpu` backend
 * runs it anywhere, which is how the parity test pins it to the native engine.
 *
 * Written with tf ops rather than tf.layers so that the equations are PyTorch's to the letter
 * (tf.layers.lstm differs: hardSigmoid recurrent activation by default, one bias, orthogonal
 * initialiser that takes minutes on the cpu backend).
 */
import type * as TF from '@tensorflow/tfjs';
import { importOptional, importRequired, type Optional } from '../optional.ts';
import { existsSync, readdirSync } from 'node:fs';
import { DeeprnnError, OptionError } from '../../shared/errors.ts';
import { numElements, numGates, tensorSpecs, type Architecture, type Params } from '../../shared/model.ts';
import { dropoutMask, drops, dropsWeights, weightDropMask, type Dropout } from './dropout.ts';
import { withOptimizerDefaults, type Engine, type EngineShape, type OptimizerConfig, type OptimizerState } from './engine.ts';

type Tf = typeof TF;
export type TfjsBackend = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';
export const TFJS_BACKENDS: readonly TfjsBackend[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

const INSTALL: Record<'tensorflow-gpu' | 'tensorflow', string> = {
  'tensorflow-gpu':
    'npm install @tensorflow/tfjs-node-gpu — it needs CUDA 11.2 and cuDNN 8.1 on the machine, and its install script downloads libtensorflow 2.9.1 from storage.googleapis.com (docs/training.md, "Training on a GPU"); --engine webgpu needs neither',
  tensorflow: 'npm install @tensorflow/tfjs-node — its install script downloads libtensorflow 2.9.1 from storage.googleapis.com',
};

const loaded = (m: Optional<Tf>): boolean => 'module' in m;

/** Why tfjs-node-gpu fails where it is installed: its libtensorflow 2.9.1 is built for CUDA 11.2 and cuDNN 8.1, with no sm_90 kernels. */
const GPU_LOAD_HINT =
  'it needs CUDA 11.2 and cuDNN 8.1 (a CUDA 12 machine fails with "libcudart.so.11.0"; on H100 its kernels do not exist) — --engine webgpu trains on current GPUs';

/** Loads tfjs on the requested backend, or explains how to install it. */
export async function loadTfjs(backend: TfjsBackend): Promise<Tf> {
  if (backend === 'tensorflow-gpu' || backend === 'tensorflow') {
    const name = backend === 'tensorflow-gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
    const tf = await importOptional<Tf>(name);
    if ('missing' in tf) throw new DeeprnnError('engine_unavailable', `the ${backend} backend of tfjs is not installed: ${INSTALL[backend]}`);
    if ('broken' in tf)
      throw new DeeprnnError(
        'engine_unavailable',
        `${name} is installed but does not load (${tf.broken})${backend === 'tensorflow-gpu' ? `: ${GPU_LOAD_HINT}` : ''}`,
      );
    return tf.module;
  }
  const tf = await importRequired<Tf>('@tensorflow/tfjs', `the tfjs engine (${backend})`);
  if (backend === 'wasm') await importRequired('@tensorflow/tfjs-backend-wasm', 'the tfjs engine (wasm)');
  if (!(await tf.setBackend(backend))) throw new DeeprnnError('engine_unavailable', `tfjs could not start its ${backend} backend`);
  await tf.ready();
  return tf;
}

/** True when tfjs-node-gpu loads and the machine shows an NVIDIA GPU. */
export async function gpuAvailable(): Promise<boolean> {
  const gpus = '/proc/driver/nvidia/gpus';
  if (!existsSync(gpus) || readdirSync(gpus).length === 0) return false;
  return loaded(await importOptional<Tf>('@tensorflow/tfjs-node-gpu'));
}

/** True when @tensorflow/tfjs-node (libtensorflow on the CPU) is installed and loads. */
export async function tfjsNodeAvailable(): Promise<boolean> {
  return loaded(await importOptional<Tf>('@tensorflow/tfjs-node'));
}

export class TfjsEngine implements Engine {
  readonly name = 'tfjs';
  readonly backend: string;
  private readonly vars: Map<string, TF.Variable>;
  private readonly moments = new Map<string, { m: TF.Variable; v: TF.Variable }>();
  private grads: Map<string, TF.Tensor> = new Map();
  private state: { h: TF.Tensor2D[]; c: TF.Tensor2D[] } | null = null;
  private adamStep = 0;

  private readonly optimizer: Required<OptimizerConfig>;

  readonly arch: Architecture;
  readonly batchSize: number;
  readonly numSteps: number;

  /** `spec.threads` and `spec.weightDrop` are the native engine's: tfjs runs on its own threads and drops no weights. */
  constructor(
    private readonly tf: Tf,
    spec: EngineShape,
  ) {
    this.arch = spec.arch;
    this.batchSize = spec.batchSize;
    this.numSteps = spec.numSteps;
    const { arch } = spec;
    this.optimizer = withOptimizerDefaults(spec.optimizer);
    this.backend = `tfjs-${tf.getBackend()}`;
    this.vars = new Map(tensorSpecs(arch).map((s) => [s.name, tf.variable(tf.zeros(s.shape), true)]));
  }

  setParams(params: Params): void {
    for (const s of tensorSpecs(this.arch)) {
      const t = params[s.name];
      if (!t || t.length !== numElements(s.shape)) throw new OptionError(`parameter ${s.name} must have ${numElements(s.shape)} values`);
      this.vars.get(s.name)!.assign(this.tf.tensor(t, s.shape));
    }
  }

  async getParams(): Promise<Params> {
    return this.read(this.vars);
  }

  async getGradients(): Promise<Params> {
    return this.read(this.grads);
  }

  private read(tensors: Map<string, TF.Tensor>): Params {
    const out: Params = {};
    for (const [name, t] of tensors) out[name] = Float32Array.from(t.dataSync());
    return out;
  }

  resetState(): void {
    this.disposeState();
  }

  private disposeState(): void {
    if (!this.state) return;
    for (const t of [...this.state.h, ...this.state.c]) t.dispose();
    this.state = null;
  }

  /** X [B, T] batch-major ids → time-major one-hot rows [T·B, V]. */
  private inputs(x: Int32Array, y: Int32Array): { xs: TF.Tensor2D; ys: TF.Tensor2D } {
    const { tf } = this;
    const B = this.batchSize;
    const T = this.numSteps;
    const V = this.arch.vocabSize;
    if (x.length !== B * T || y.length !== B * T) throw new OptionError(`a window must hold ${B}×${T} tokens, got ${x.length}`);
    for (const v of [...x, ...y]) if (!(v >= 0 && v < V)) throw new OptionError(`token id ${v} is outside the vocabulary [0, ${V})`);
    const tm = (a: Int32Array) =>
      tf
        .tensor2d(a, [B, T], 'int32')
        .transpose()
        .reshape([T * B]) as TF.Tensor1D;
    return { xs: tf.oneHot(tm(x), V).toFloat() as TF.Tensor2D, ys: tf.oneHot(tm(y), V).toFloat() as TF.Tensor2D };
  }

  /** The summed cross-entropy of one window; sets `next` to the final state (kept). */
  private lossOf(xs: TF.Tensor2D, ys: TF.Tensor2D, next: { h: TF.Tensor2D[]; c: TF.Tensor2D[] }, dropout?: Dropout): TF.Scalar {
    const { tf, arch } = this;
    const { hiddenSize: H, cell } = arch;
    const B = this.batchSize;
    const T = this.numSteps;
    const G = numGates(cell);
    const w = (n: string) => this.vars.get(n)!;
    let input: TF.Tensor2D = xs;
    for (let l = 0; l < arch.numLayers; l++) {
      // All steps' input products at once; only H_{t-1} W_hhᵀ is sequential.
      const gxAll = tf.add(tf.matMul(input, w(`rnn.weight_ih_l${l}`), false, true), w(`rnn.bias_ih_l${l}`)) as TF.Tensor2D;
      const wHh = dropsWeights(dropout)
        ? (tf.mul(w(`rnn.weight_hh_l${l}`), tf.tensor2d(weightDropMask(dropout, l, G * H * H), [G * H, H])) as TF.Tensor2D)
        : w(`rnn.weight_hh_l${l}`);
      let h: TF.Tensor2D = this.state ? this.state.h[l] : tf.zeros([B, H]);
      let c: TF.Tensor2D = this.state && cell === 'lstm' ? this.state.c[l] : tf.zeros([B, H]);
      const outs: TF.Tensor2D[] = [];
      for (let t = 0; t < T; t++) {
        const gx = gxAll.slice([t * B, 0], [B, G * H]);
        const gh = tf.add(tf.matMul(h, wHh, false, true), w(`rnn.bias_hh_l${l}`)) as TF.Tensor2D;
        if (cell === 'lstm') {
          const [i, f, g, o] = tf.split(tf.add(gx, gh), 4, 1);
          c = tf.add(tf.mul(tf.sigmoid(f), c), tf.mul(tf.sigmoid(i), tf.tanh(g))) as TF.Tensor2D;
          h = tf.mul(tf.sigmoid(o), tf.tanh(c)) as TF.Tensor2D;
        } else if (cell === 'gru') {
          const [xr, xz, xn] = tf.split(gx, 3, 1);
          const [hr, hz, hn] = tf.split(gh, 3, 1);
          const r = tf.sigmoid(tf.add(xr, hr));
          const z = tf.sigmoid(tf.add(xz, hz));
          const n = tf.tanh(tf.add(xn, tf.mul(r, hn)));
          h = tf.add(tf.mul(tf.sub(1, z), n), tf.mul(z, h)) as TF.Tensor2D;
        } else {
          h = tf.tanh(tf.add(gx, gh)) as TF.Tensor2D;
        }
        outs.push(h);
      }
      next.h.push(tf.keep(h));
      if (cell === 'lstm') next.c.push(tf.keep(c));
      input = tf.concat(outs, 0);
      if (drops(dropout, arch.numLayers)) input = tf.mul(input, tf.tensor2d(dropoutMask(dropout, l, arch.numLayers, T * B * H), [T * B, H]));
    }
    const logits = tf.add(tf.matMul(input, w('linear.weight'), false, true), w('linear.bias'));
    return tf.neg(tf.sum(tf.mul(ys, tf.logSoftmax(logits)))) as TF.Scalar;
  }

  async forwardBackward(x: Int32Array, y: Int32Array, dropout?: Dropout): Promise<number> {
    const { tf } = this;
    const N = this.batchSize * this.numSteps;
    for (const g of this.grads.values()) g.dispose();
    const next = { h: [] as TF.Tensor2D[], c: [] as TF.Tensor2D[] };
    const { xs, ys } = this.inputs(x, y);
    let sum = 0;
    const { value, grads } = tf.variableGrads(() => {
      const total = this.lossOf(xs, ys, next, dropout);
      sum = total.dataSync()[0];
      return tf.div(total, N) as TF.Scalar; // d2l: the mean over the window's tokens
    }, [...this.vars.values()]);
    value.dispose();
    xs.dispose();
    ys.dispose();
    this.grads = new Map([...this.vars].map(([name, v]) => [name, grads[v.name]])); // keyed by state_dict name
    this.disposeState();
    this.state = next; // detached: the next window's tape starts here
    return sum;
  }

  /** The carried state, layers in order, h then c, each [B, H]. */
  async getCarry(): Promise<Float32Array> {
    const { numLayers: L, hiddenSize: H, cell } = this.arch;
    const per = this.batchSize * H;
    const out = new Float32Array(L * per * (cell === 'lstm' ? 2 : 1));
    if (!this.state) return out;
    let at = 0;
    for (let l = 0; l < L; l++) {
      out.set(this.state.h[l].dataSync(), at);
      at += per;
      if (cell === 'lstm') {
        out.set(this.state.c[l].dataSync(), at);
        at += per;
      }
    }
    return out;
  }

  setCarry(state: Float32Array): void {
    const { numLayers: L, hiddenSize: H, cell } = this.arch;
    const B = this.batchSize;
    const per = B * H;
    if (state.length !== L * per * (cell === 'lstm' ? 2 : 1))
      throw new OptionError(`the carried state has ${state.length} values; this engine holds ${L * per * (cell === 'lstm' ? 2 : 1)}`);
    this.disposeState();
    const next = { h: [] as TF.Tensor2D[], c: [] as TF.Tensor2D[] };
    let at = 0;
    for (let l = 0; l < L; l++) {
      next.h.push(this.tf.tensor2d(state.slice(at, at + per), [B, H]));
      at += per;
      if (cell === 'lstm') {
        next.c.push(this.tf.tensor2d(state.slice(at, at + per), [B, H]));
        at += per;
      }
    }
    this.state = next;
  }

  clipGradients(theta: number): number {
    const { tf } = this;
    const norm = tf.tidy(() => Math.sqrt(tf.addN([...this.grads.values()].map((g) => tf.sum(tf.square(g)))).dataSync()[0]));
    if (norm > theta) {
      for (const [name, g] of this.grads) {
        this.grads.set(name, tf.mul(g, theta / norm));
        g.dispose();
      }
    }
    return norm;
  }

  step(lr: number): void {
    const { tf } = this;
    const o = this.optimizer;
    if (o.name === 'adam') this.adamStep++;
    const { beta1: b1, beta2: b2, eps } = o;
    tf.tidy(() => {
      for (const [name, p] of this.vars) {
        const g = this.grads.get(name)!;
        if (o.weightDecay > 0) p.assign(tf.mul(p, 1 - lr * o.weightDecay)); // AdamW: decay first
        if (o.name === 'sgd') {
          p.assign(tf.sub(p, tf.mul(g, lr)));
          continue;
        }
        let mv = this.moments.get(name);
        if (!mv) {
          mv = { m: tf.variable(tf.zerosLike(p), false), v: tf.variable(tf.zerosLike(p), false) };
          this.moments.set(name, mv);
        }
        mv.m.assign(tf.add(tf.mul(mv.m, b1), tf.mul(g, 1 - b1)));
        mv.v.assign(tf.add(tf.mul(mv.v, b2), tf.mul(tf.square(g), 1 - b2)));
        const mHat = tf.div(mv.m, 1 - b1 ** this.adamStep);
        const vHat = tf.div(mv.v, 1 - b2 ** this.adamStep);
        p.assign(tf.sub(p, tf.div(tf.mul(mHat, lr), tf.add(tf.sqrt(vHat), eps))));
      }
    });
  }

  async getOptimizerState(): Promise<OptimizerState> {
    if (this.adamStep === 0) return { step: 0, moments: null };
    const m: Params = {};
    const v: Params = {};
    for (const [name, mv] of this.moments) {
      m[name] = Float32Array.from(mv.m.dataSync());
      v[name] = Float32Array.from(mv.v.dataSync());
    }
    return { step: this.adamStep, moments: { m, v } };
  }

  setOptimizerState(state: OptimizerState): void {
    this.adamStep = state.step;
    for (const mv of this.moments.values()) {
      mv.m.dispose();
      mv.v.dispose();
    }
    this.moments.clear();
    if (!state.moments) return;
    for (const s of tensorSpecs(this.arch)) {
      this.moments.set(s.name, {
        m: this.tf.variable(this.tf.tensor(state.moments.m[s.name], s.shape), false),
        v: this.tf.variable(this.tf.tensor(state.moments.v[s.name], s.shape), false),
      });
    }
  }

  dispose(): void {
    this.disposeState();
    for (const g of this.grads.values()) g.dispose();
    for (const v of this.vars.values()) v.dispose();
    for (const mv of this.moments.values()) {
      mv.m.dispose();
      mv.v.dispose();
    }
  }
}
