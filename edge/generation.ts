/**
 * What the edge holds of a model: the model, its artifact files as loaded (served to browsers
 * that generate in the page), and a pool of steppers over one copy of its weights in the kernel
 * (one stepper per generation in flight, reused afterwards).
 */
import { referenceStepper, type Stepper } from '../shared/generate.ts';
import type { Kernel } from '../shared/kernel/kernel.ts';
import { kernelStepper, loadKernelWeights, type KernelWeights } from '../shared/kernel/stepper.ts';
import type { Model } from '../shared/model.ts';
import { exportOnnx } from '../shared/onnx.ts';

/** The files of the served artifact, as bytes the entry point already has. */
export interface ModelFiles {
  modelJson: string;
  weights: Uint8Array;
  /** The training plot, when the artifact folder has one. */
  plotSvg?: string;
}

export class ServedModel {
  private readonly weights: KernelWeights | null;
  private readonly free: Stepper[] = [];
  private onnx: Uint8Array | null = null;

  constructor(
    readonly model: Model,
    kernel: Kernel | null,
    readonly files: ModelFiles,
  ) {
    this.weights = kernel ? loadKernelWeights(kernel, model) : null;
  }

  /** Which code computes the steps (reported by /healthz). */
  get engine(): string {
    return this.weights ? `wasm-${this.weights.kernel.flavor}` : 'reference';
  }

  /** The model as ONNX, made on first request (for onnxruntime-web in the browser). */
  get onnxBytes(): Uint8Array {
    return (this.onnx ??= exportOnnx(this.model));
  }

  acquire(): Stepper {
    return this.free.pop() ?? (this.weights ? kernelStepper(this.weights) : referenceStepper(this.model));
  }

  release(stepper: Stepper): void {
    this.free.push(stepper);
  }
}
