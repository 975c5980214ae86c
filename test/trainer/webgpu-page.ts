/**
 * The page's side of test/trainer/webgpu.test.ts: the WebGPU engine on the browser's own WebGPU
 * (navigator.gpu), through the same windows as the native engine in Node. Bundled by the test
 * with esbuild; `window.parity` answers with plain arrays (or a one-line error).
 */
import type { Architecture, Params } from '../../shared/model.ts';
import type { EngineShape } from '../../trainer/engines/engine.ts';
import { WebGpuEngine } from '../../trainer/engines/webgpu/engine.ts';
import { describeAdapter, openGpu } from '../../trainer/engines/webgpu/gpu.ts';
import { runWindows, type WindowsPlan } from './engine-windows.ts';

const flat = (p: Params) => Object.fromEntries(Object.entries(p).map(([k, v]) => [k, [...v]]));

async function parity(a: { arch: Architecture; params: Record<string, number[]>; shape: Omit<EngineShape, 'arch'>; plan: WindowsPlan }) {
  try {
    const gpu = await openGpu(navigator.gpu, 'this browser offers no WebGPU adapter');
    const e = new WebGpuEngine(gpu, { ...a.shape, arch: a.arch });
    e.setParams(Object.fromEntries(Object.entries(a.params).map(([k, v]) => [k, Float32Array.from(v)])));
    const r = await runWindows(e, a.plan);
    await e.dispose();
    return {
      adapter: describeAdapter(gpu.adapter),
      losses: r.losses,
      norms: r.norms,
      grads: r.grads.map(flat),
      params: flat(r.params),
      moments: r.moments ? { m: flat(r.moments.m), v: flat(r.moments.v) } : null,
      carry: [...r.carry],
    };
  } catch (e) {
    return (e as Error).message;
  }
}

(window as unknown as { parity: typeof parity }).parity = parity;
