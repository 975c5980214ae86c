/** `--engine`: which engine trains, and on what. */
import { loadKernelNode } from '../../shared/platform/node.ts';
import type { Engine, EngineChoice, EngineSpec } from './engine.ts';

export type { EngineSpec } from './engine.ts';
import { NativeEngine, type HelperSpawner } from './native.ts';
import { tsWorker } from '../../shared/platform/node.ts';

/** The native engine's helper threads in Node: worker threads running shard-thread.ts. */
export const nodeHelpers: HelperSpawner = (job) => {
  const w = tsWorker(new URL('./shard-thread.ts', import.meta.url), { workerData: job });
  w.unref();
  return w;
};
import { gpuAvailable, loadTfjs, TfjsEngine, tfjsNodeAvailable, type TfjsBackend } from './tfjs.ts';

const TFJS: Record<Exclude<EngineChoice, 'auto' | 'native' | 'tfjs'>, TfjsBackend> = {
  'tfjs-gpu': 'tensorflow-gpu',
  'tfjs-node': 'tensorflow',
  'tfjs-wasm': 'wasm',
  'tfjs-cpu': 'cpu',
};

/**
 * `auto`: tfjs-node-gpu when it loads and the machine has an NVIDIA GPU, else the native engine.
 * `tfjs`: the best tfjs backend present — tfjs-node-gpu (with a GPU), tfjs-node, then wasm.
 */
export async function createEngine(s: EngineSpec): Promise<Engine> {
  let choice = s.choice;
  if (choice === 'auto') choice = (await gpuAvailable()) ? 'tfjs-gpu' : 'native';
  if (choice === 'tfjs') choice = (await gpuAvailable()) ? 'tfjs-gpu' : (await tfjsNodeAvailable()) ? 'tfjs-node' : 'tfjs-wasm';
  if (choice === 'native') return new NativeEngine(await loadKernelNode('fastest'), s, nodeHelpers);
  return new TfjsEngine(await loadTfjs(TFJS[choice]), s);
}
