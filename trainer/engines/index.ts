/** `--engine`: which engine trains, and on what (Node). */
import { loadKernelNode, tsWorker } from '../../shared/platform/node.ts';
import type { Engine, EngineChoice, EngineSpec } from './engine.ts';
import { NativeEngine, type HelperSpawner } from './native.ts';
import { gpuAvailable, loadTfjs, TfjsEngine, tfjsNodeAvailable, type TfjsBackend } from './tfjs.ts';
import { WebGpuEngine } from './webgpu/engine.ts';
import { hardwareGpuPresent, openNodeGpu } from './webgpu/node.ts';

export type { EngineSpec } from './engine.ts';

/** The native engine's helper threads in Node: worker threads running shard-thread.ts. */
export const nodeHelpers: HelperSpawner = (job) => {
  const w = tsWorker(new URL('./shard-thread.ts', import.meta.url), { workerData: job });
  w.unref();
  return w;
};

const TFJS: Record<Exclude<EngineChoice, 'auto' | 'native' | 'webgpu' | 'tfjs'>, TfjsBackend> = {
  'tfjs-gpu': 'tensorflow-gpu',
  'tfjs-node': 'tensorflow',
  'tfjs-wasm': 'wasm',
  'tfjs-cpu': 'cpu',
};

/**
 * `auto`: WebGPU where the machine has a GPU adapter that is not a CPU emulation (Vulkan, Metal,
 * D3D12 through Dawn), else tfjs-node-gpu when it loads on an NVIDIA GPU (CUDA 11.2), else the
 * native engine. `tfjs`: the best tfjs backend present — tfjs-node-gpu, tfjs-node, then wasm.
 */
export async function resolveEngineChoice(choice: EngineChoice): Promise<Exclude<EngineChoice, 'auto' | 'tfjs'>> {
  if (choice === 'auto') return hardwareGpuPresent() ? 'webgpu' : (await gpuAvailable()) ? 'tfjs-gpu' : 'native';
  if (choice === 'tfjs') return (await gpuAvailable()) ? 'tfjs-gpu' : (await tfjsNodeAvailable()) ? 'tfjs-node' : 'tfjs-wasm';
  return choice;
}

export async function createEngine(s: EngineSpec): Promise<Engine> {
  const choice = await resolveEngineChoice(s.choice);
  if (choice === 'native') return new NativeEngine(await loadKernelNode('fastest'), s, nodeHelpers);
  if (choice === 'webgpu') return new WebGpuEngine(await openNodeGpu(), s);
  return new TfjsEngine(await loadTfjs(TFJS[choice]), s);
}
