/**
 * The Web Worker that trains in the page: trainer/library.ts's `startTraining` — the Trainer and
 * the native engine of `deeprnn train` — on the visitor's text, off the main thread. It trains on
 * the relaxed-SIMD kernel where the browser has relaxed SIMD (fused multiply-adds, as `deeprnn
 * train` does in Node: the same weights for the same seed, threads and options), else on the
 * portable one, and validates on the portable kernel as every runtime generates. One worker per
 * run; closing the tab ends it.
 */
import { instantiateKernel, type Kernel } from '../../shared/kernel/kernel.ts';
import { Sha256Js } from '../../shared/sha256.ts';
import { startTraining, type TrainRun } from '../../trainer/library.ts';
import type { FromTrainWorker, ToTrainWorker } from './protocol.ts';

const scope = self as unknown as { postMessage(m: FromTrainWorker, transfer?: Transferable[]): void; onmessage: ((e: MessageEvent<ToTrainWorker>) => void) | null };
const post = (m: FromTrainWorker, transfer: Transferable[] = []) => scope.postMessage(m, transfer);
const bytes = (b64: string) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));

async function kernels(): Promise<{ kernel: Kernel; evalKernel: Kernel }> {
  const portable = await instantiateKernel(await WebAssembly.compile(bytes(__DEEPRNN_KERNEL_BASE64__)));
  const relaxed = bytes(__DEEPRNN_TRAIN_KERNEL_BASE64__);
  const kernel = WebAssembly.validate(relaxed) ? await instantiateKernel(await WebAssembly.compile(relaxed)) : portable;
  return { kernel, evalKernel: portable };
}

let run: TrainRun | null = null;
scope.onmessage = (e) => {
  const m = e.data;
  if (m.type === 'stop') return void run?.stop();
  if (run) return post({ type: 'error', message: 'this worker is already training' });
  void (async () => {
    try {
      const { kernel, evalKernel } = await kernels();
      run = startTraining(m.input, { kernel, evalKernel, cores: navigator.hardwareConcurrency || 1, sha256: () => new Sha256Js() }, (progress) => post({ type: 'progress', progress }));
      const r = await run.result;
      post({ type: 'done', modelJson: r.modelJson, weights: r.weights, stoppedBy: r.stoppedBy, backend: `wasm-${kernel.flavor}` }, [r.weights.buffer]);
    } catch (err) {
      post({ type: 'error', message: (err as Error).message });
    }
  })();
};
