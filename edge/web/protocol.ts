/** Messages between the page (client.ts) and its generation worker (worker.ts). */
import type { GenerateOptions, GenerateResult } from '../../shared/generate.ts';

/** `kernel`: the WebAssembly kernel (default); `onnx`: onnxruntime-web on the model's ONNX export. */
export type BrowserRuntime = 'kernel' | 'onnx';

export type ToWorker =
  | { type: 'generate'; id: number; modelUrl: string; runtime: BrowserRuntime; assetsUrl: string; options: GenerateOptions }
  | { type: 'cancel'; id: number };

export type FromWorker =
  | { type: 'start'; id: number; model: string; prefix: string; seed: number }
  | { type: 'token'; id: number; text: string }
  | { type: 'done'; id: number; result: GenerateResult & { model: string; timings: { totalMs: number } } }
  | { type: 'error'; id: number; message: string };
