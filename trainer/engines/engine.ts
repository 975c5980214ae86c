/**
 * One interface for every training engine, so `train_ch8` is written once: the native
 * WebAssembly engine (hand-written BPTT, any number of threads) and tfjs (tfjs-node-gpu on CUDA,
 * or tfjs's own backends). Each engine is given its optimizer once, at construction; the loop
 * only says which learning rate to step with (schedules change it).
 */
import type { Architecture, Params } from '../../shared/model.ts';
import type { Dropout } from './dropout.ts';

/** `--engine`: which engine trains, and on what (engines/index.ts chooses for `auto` and `tfjs`). */
export type EngineChoice = 'auto' | 'native' | 'webgpu' | 'tfjs' | 'tfjs-gpu' | 'tfjs-node' | 'tfjs-wasm' | 'tfjs-cpu';
export const ENGINE_CHOICES: readonly EngineChoice[] = ['auto', 'native', 'webgpu', 'tfjs', 'tfjs-gpu', 'tfjs-node', 'tfjs-wasm', 'tfjs-cpu'];

export type OptimizerName = 'sgd' | 'adam';

export interface OptimizerConfig {
  name: OptimizerName;
  /** Adam's β1, β2, ε (torch.optim.Adam's defaults 0.9, 0.999, 1e-8). */
  beta1?: number;
  beta2?: number;
  eps?: number;
  /**
   * Decoupled weight decay λ (torch.optim.AdamW's, and SGD's when set): every parameter shrinks by
   * lr·λ before the step. 0 = none (plain Adam, d2l's SGD).
   */
  weightDecay?: number;
}

/** The optimizers' defaults, one table for every engine: torch.optim.Adam's β1, β2 and ε; no weight decay. */
export const OPTIMIZER_DEFAULTS = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 } as const satisfies Omit<Required<OptimizerConfig>, 'name'>;

/** An optimizer's settings with the defaults filled in. */
export const withOptimizerDefaults = (o: OptimizerConfig): Required<OptimizerConfig> => ({ ...OPTIMIZER_DEFAULTS, ...o });

/** What an optimizer carries between steps (Adam's moments and step count; nothing for SGD). */
export interface OptimizerState {
  step: number;
  moments: { m: Params; v: Params } | null;
}

export interface Engine {
  readonly name: 'native' | 'tfjs' | 'webgpu';
  /** Where the arithmetic runs, e.g. "wasm-relaxed-simd ×2 threads" or "tensorflow (CUDA)". */
  readonly backend: string;
  readonly batchSize: number;
  readonly numSteps: number;

  setParams(params: Params): void;
  /** The weights (a copy): read back from wherever the engine keeps them. */
  getParams(): Promise<Params>;

  /** d2l's `begin_state`: the recurrent state goes back to zeros. */
  resetState(): void;
  /** The recurrent state carried between windows (sequential iterator), for mid-epoch checkpoints. */
  getCarry(): Promise<Float32Array>;
  setCarry(state: Float32Array): void;
  /**
   * Forward and backward over one window: x, y are [batchSize, numSteps] token ids, batch-major
   * (d2l's X, Y). The state starts from where the previous window left it, detached, and is
   * carried on. Gradients of the mean cross-entropy are kept for `clipGradients` / `step`.
   * Returns the summed (not mean) loss over the window's tokens. `dropout`: between layers, as
   * nn.LSTM(dropout=p), on the output layer's inputs and on W_hh, with this window's masks
   * (engines/dropout.ts).
   */
  forwardBackward(x: Int32Array, y: Int32Array, dropout?: Dropout): Promise<number>;
  /** The gradients of the last `forwardBackward`, before clipping (a copy). */
  getGradients(): Promise<Params>;
  /**
   * d2l's `grad_clipping`: scale all gradients by θ/‖g‖ when their global norm exceeds θ. Returns ‖g‖
   * (which `forwardBackward` measured: no engine reads its gradients back for it).
   */
  clipGradients(theta: number): number;
  /** One step of the engine's optimizer at learning rate `lr`. */
  step(lr: number): void;
  getOptimizerState(): Promise<OptimizerState>;
  setOptimizerState(state: OptimizerState): void;
  dispose(): void | Promise<void>;
}

/** What an engine is built from: the network, the window, its optimizer, and how it may work. */
export interface EngineShape {
  arch: Architecture;
  batchSize: number;
  numSteps: number;
  optimizer: OptimizerConfig;
  /** Threads sharing each window (native engine; default 1). */
  threads?: number;
  /** Whether windows may drop recurrent weights (the native engine then keeps room for a dropped copy of each W_hh; default false). */
  weightDrop?: boolean;
}

/** What a run asks of its engine: which one, and its shape. */
export interface EngineSpec extends EngineShape {
  choice: EngineChoice;
}
