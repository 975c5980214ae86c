/** Messages between the page (client.ts) and its generation worker (worker.ts). */
import type { GeneratedToken, GenerateRequest, GenerateResult, StartEvent } from '../../shared/contract.ts';

/** onnxruntime-web's ES module (its wasm build, with its glue bundled), under `ortBase`. */
export const ORT_MODULE = 'ort.wasm.bundle.min.mjs';

/** `kernel`: the WebAssembly kernel (default); `onnx`: onnxruntime-web on the model's ONNX export. */
export type BrowserRuntime = 'kernel' | 'onnx';
export const BROWSER_RUNTIMES: readonly BrowserRuntime[] = ['kernel', 'onnx'];

/** A model in the worker, as elements hold it: its folder URL and the runtime that runs it. */
export interface ModelRef {
  modelUrl: string;
  runtime: BrowserRuntime;
  /** Where onnxruntime-web's files are (next to the module, unless the page says otherwise). */
  ortBase: string;
}

export type ToWorker =
  | { type: 'generate'; id: number; ref: ModelRef; request: Partial<GenerateRequest> }
  | { type: 'cancel'; id: number }
  /** An element starts or stops using a model: the worker frees what no element uses. */
  | { type: 'retain' | 'release'; ref: ModelRef }
  | { type: 'stats'; id: number }
  /** A model made in the page (a run of train()), served to elements under `modelUrl` (LOCAL_MODEL_SCHEME). */
  | { type: 'put'; modelUrl: string; modelJson: string; weights: Uint8Array };

/** URLs of models made in the page: `deeprnn-local:NAME-SHA/`, known only to this page's worker. */
export const LOCAL_MODEL_SCHEME = 'deeprnn-local:';

export interface WorkerStats {
  /** Bytes of the kernel's linear memory, and of its live allocations. */
  wasmBytes: number;
  allocatedBytes: number;
  models: number;
  onnxSessions: number;
}

export type FromWorker =
  | { type: 'start'; id: number; event: StartEvent }
  | { type: 'tokens'; id: number; tokens: GeneratedToken[] }
  | { type: 'done'; id: number; result: GenerateResult }
  | { type: 'error'; id: number; message: string }
  | { type: 'stats'; id: number; stats: WorkerStats };

/** Messages between the page's `train()` (client.ts) and its training worker (train-worker.ts). */
export type ToTrainWorker = { type: 'train'; input: import('../../trainer/library.ts').TrainInput } | { type: 'stop' };
export type FromTrainWorker =
  | { type: 'progress'; progress: import('../../trainer/library.ts').TrainProgress }
  | { type: 'done'; modelJson: string; weights: Uint8Array; stoppedBy: string; engine: string; backend: string }
  | { type: 'error'; message: string };
