/**
 * The page's one generation worker (edge/web/worker.ts), shared by every <deeprnn-generate> and
 * by models trained in the page: started on first use from a Blob URL (its code is bundled into
 * this module: browsers refuse workers from another origin's URL), its messages routed by id.
 */
import { LOCAL_MODEL_SCHEME, type FromWorker, type ToWorker, type WorkerStats } from './protocol.ts';

let worker: Worker | undefined;
let nextId = 1;
/** Who waits for the messages about each request id. */
export const listeners = new Map<number, (m: FromWorker) => void>();

/** The worker, started if it is not running. */
export function generationWorker(): Worker {
  if (!worker) {
    const url = URL.createObjectURL(new Blob([__DEEPRNN_WORKER_SOURCE__], { type: 'text/javascript' }));
    const w = new Worker(url, { type: 'module', name: 'deeprnn' });
    w.onmessage = (e: MessageEvent<FromWorker>) => listeners.get(e.data.id)?.(e.data);
    // A worker that dies fails every generation it had, with the reason.
    w.onerror = (e) => {
      e.preventDefault();
      const message = `the generation worker failed: ${e.message || 'unknown error'}`;
      for (const [id, on] of [...listeners]) on({ type: 'error', id, message });
      worker = undefined;
    };
    worker = w;
  }
  return worker;
}

/**
 * Hand a model made in the page (train()'s files) to the generation worker: the URL it returns
 * works as any <deeprnn-generate model=…> on this page (runtime "kernel").
 */
export async function registerModel(files: { modelJson: string; weights: Uint8Array }): Promise<string> {
  const json = JSON.parse(files.modelJson) as { name: string; weights: { sha256: string } };
  const modelUrl = `${LOCAL_MODEL_SCHEME}${json.name}-${json.weights.sha256.slice(0, 12)}/`;
  generationWorker().postMessage({ type: 'put', modelUrl, modelJson: files.modelJson, weights: files.weights.slice() } satisfies ToWorker);
  return modelUrl;
}

/** The worker's memory figures (tests check that repeated generations keep them flat). */
export function workerStats(): Promise<WorkerStats> {
  const id = nextRequestId();
  return new Promise((resolve) => {
    listeners.set(id, (m) => {
      if (m.type !== 'stats') return;
      listeners.delete(id);
      resolve(m.stats);
    });
    generationWorker().postMessage({ type: 'stats', id } satisfies ToWorker);
  });
}

/** The worker if it runs (nothing to tell one that never started). */
export const runningWorker = (): Worker | undefined => worker;

/** A fresh id for a request to the worker. */
export const nextRequestId = (): number => nextId++;
