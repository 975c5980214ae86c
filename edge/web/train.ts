/**
 * `train()` in a page, from /static/deeprnn.js: `deeprnn train` in a Web Worker on the visitor's
 * text (edge/web/train-worker.ts). The worker's code is bundled into the module and started from
 * a Blob URL, so it runs on pages of any origin.
 *
 *   import { train } from 'https://your-host/static/deeprnn.js';
 *   const run = train({ corpus: text, timeBudget: 2, onProgress: (p) => console.log(p.perplexity) });
 *   // engine: 'auto' (WebGPU on a real GPU, else WebAssembly), 'webgpu' or 'native'
 *   const { modelJson, weights } = await run.result;   // the files deeprnn train writes
 */
import type { TrainInput, TrainProgress } from '../../trainer/library.ts';
import type { FromTrainWorker, ToTrainWorker } from './protocol.ts';

export type { TrainInput, TrainProgress } from '../../trainer/library.ts';

/** What a run in the page resolves to: model.json and weights.bin, as `deeprnn train` writes them. */
export interface TrainedFiles {
  modelJson: string;
  weights: Uint8Array;
  /** completed, time-budget or interrupted (stop()). */
  stoppedBy: string;
  /** The engine that trained: native (WebAssembly) or webgpu (`engine` chooses; auto takes a real GPU's WebGPU). */
  engine: string;
  /** Where: wasm-relaxed-simd (as deeprnn train in Node), wasm-simd, or the WebGPU adapter ("webgpu: nvidia ampere (…)"). */
  backend: string;
}

export interface PageTrainRun {
  /** Stop after the current window: `result` is then the best model so far. */
  stop(): void;
  readonly result: Promise<TrainedFiles>;
}

export function train(input: TrainInput & { onProgress?: (p: TrainProgress) => void }): PageTrainRun {
  const { onProgress, ...rest } = input;
  let worker: Worker;
  const url = URL.createObjectURL(new Blob([__DEEPRNN_TRAIN_WORKER_SOURCE__], { type: 'text/javascript' }));
  try {
    worker = new Worker(url, { type: 'module', name: 'deeprnn-train' });
  } catch (e) {
    URL.revokeObjectURL(url);
    const err = new Error(`cannot start the training worker (${(e as Error).message}); a page's Content-Security-Policy must allow worker-src blob:`);
    return { stop() {}, result: Promise.reject(err) };
  }
  const end = () => {
    worker.terminate();
    URL.revokeObjectURL(url);
  };
  const result = new Promise<TrainedFiles>((resolve, reject) => {
    worker.onmessage = (e: MessageEvent<FromTrainWorker>) => {
      const m = e.data;
      if (m.type === 'progress') onProgress?.(m.progress);
      else if (m.type === 'done') {
        end();
        resolve({ modelJson: m.modelJson, weights: m.weights, stoppedBy: m.stoppedBy, engine: m.engine, backend: m.backend });
      } else {
        end();
        reject(new Error(m.message));
      }
    };
    worker.onerror = (e) => {
      e.preventDefault();
      end();
      reject(new Error(`the training worker failed: ${e.message || 'unknown error'}`));
    };
  });
  worker.postMessage({ type: 'train', input: rest } satisfies ToTrainWorker);
  return { stop: () => worker.postMessage({ type: 'stop' } satisfies ToTrainWorker), result };
}
