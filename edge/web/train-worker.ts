/**
 * The Web Worker that trains in the page: trainer/library.ts's `startTraining` — the Trainer and
 * the engines of `deeprnn train` — on the visitor's text, off the main thread: on the browser's
 * WebGPU where it offers a real GPU (or `engine: 'webgpu'` asks), else natively: it trains on
 * the relaxed-SIMD kernel where the browser has relaxed SIMD (fused multiply-adds, as `deeprnn
 * train` does in Node: the same weights for the same seed, threads and options), else on the
 * portable one, and validates on the portable kernel as every runtime generates. Where the page
 * is cross-origin isolated (COOP same-origin + COEP require-corp), helper Web Workers share each
 * window on shared memory, as `deeprnn train`'s threads do; otherwise one thread trains. One
 * worker per run; closing the tab ends it.
 */
import { base64Bytes, instantiateKernel, type Kernel } from '../../shared/kernel/kernel.ts';
import { Sha256Js } from '../../shared/sha256.ts';
import type { HelperSpawner } from '../../trainer/engines/native.ts';
import { startTraining, type TrainRun } from '../../trainer/library.ts';
import type { FromTrainWorker, ToTrainWorker } from './protocol.ts';

const scope = self as unknown as {
  postMessage(m: FromTrainWorker, transfer?: Transferable[]): void;
  onmessage: ((e: MessageEvent<ToTrainWorker>) => void) | null;
};
const post = (m: FromTrainWorker, transfer: Transferable[] = []) => scope.postMessage(m, transfer);

/** Shared memory for threads: only in cross-origin isolated pages. */
const isolated = (self as unknown as { crossOriginIsolated?: boolean }).crossOriginIsolated === true && typeof SharedArrayBuffer !== 'undefined';

/** Helper threads: Web Workers from the bundled helper source, each ready once it runs. */
const spawnHelper: HelperSpawner = (job) => {
  const url = URL.createObjectURL(new Blob([__DEEPRNN_TRAIN_HELPER_SOURCE__], { type: 'text/javascript' }));
  const w = new Worker(url, { type: 'module', name: `deeprnn-train-${job.index}` });
  const ready = new Promise<void>((resolve, reject) => {
    w.onmessage = () => resolve();
    w.onerror = (e) => reject(new Error(`a training thread failed to start: ${e.message}`));
  });
  w.postMessage(job);
  return { ready, terminate: () => (w.terminate(), URL.revokeObjectURL(url)) };
};

async function kernels(): Promise<{ kernel: Kernel; evalKernel: Kernel; spawn?: HelperSpawner }> {
  const portable = await instantiateKernel(await WebAssembly.compile(base64Bytes(__DEEPRNN_KERNEL_BASE64__)));
  // Isolated: the build `deeprnn train` uses (relaxed SIMD on shared memory), with helper threads.
  const shared = base64Bytes(__DEEPRNN_TRAIN_SHARED_KERNEL_BASE64__);
  if (isolated && WebAssembly.validate(shared))
    return { kernel: await instantiateKernel(await WebAssembly.compile(shared)), evalKernel: portable, spawn: spawnHelper };
  const relaxed = base64Bytes(__DEEPRNN_TRAIN_KERNEL_BASE64__);
  const kernel = WebAssembly.validate(relaxed) ? await instantiateKernel(await WebAssembly.compile(relaxed)) : portable;
  return { kernel, evalKernel: portable };
}

/** A macrotask that browsers do not clamp (nested setTimeout(0) waits 4 ms). */
const channel = new MessageChannel();
let woken: (() => void) | null = null;
channel.port1.onmessage = () => woken?.();
const yieldNow = () => new Promise<void>((resolve) => ((woken = resolve), channel.port2.postMessage(null)));

let run: TrainRun | null = null;
scope.onmessage = (e) => {
  const m = e.data;
  if (m.type === 'stop') return void run?.stop();
  if (run) return post({ type: 'error', message: 'this worker is already training' });
  void (async () => {
    try {
      const { kernel, evalKernel, spawn } = await kernels();
      // Without shared memory one thread trains: the option's bound says so, and its default.
      const cores = spawn ? navigator.hardwareConcurrency || 1 : 1;
      const input = spawn ? m.input : { ...m.input, threads: m.input.threads === undefined ? undefined : 1 };
      const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
      run = startTraining(input, { kernel, evalKernel, cores, spawn, gpu, sha256: () => new Sha256Js(), yieldNow }, (progress) =>
        post({ type: 'progress', progress }),
      );
      const r = await run.result;
      post({ type: 'done', modelJson: r.modelJson, weights: r.weights, stoppedBy: r.stoppedBy, engine: r.engine, backend: r.backend }, [r.weights.buffer]);
    } catch (err) {
      post({ type: 'error', message: (err as Error).message });
    }
  })();
};
