/**
 * The GPU a WebGPU engine trains on, runtime-free: the platform hands in its `GPU` (Dawn's in
 * Node, `navigator.gpu` in a page) and gets a device with the limits the engine needs, and a
 * description of the adapter for the run's first line. The CLI's `--engine auto` and the page's
 * trainer ask the same probe.
 */
import { DeeprnnError } from '../../../shared/errors.ts';

export interface AdapterFacts {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A software rasterizer (SwiftShader, lavapipe, WARP) or an adapter the platform calls a fallback: for tests, never for speed. */
  software: boolean;
}

export interface OpenGpu {
  device: GPUDevice;
  adapter: AdapterFacts;
}

/** How an adapter names itself when it is a CPU emulation. */
const SOFTWARE = /swiftshader|llvmpipe|lavapipe|softpipe|microsoft basic render|warp/i;

/** The adapter's facts (GPUAdapterInfo where the platform has it; older Dawn kept `isFallbackAdapter` on the adapter). */
export function adapterFacts(adapter: GPUAdapter): AdapterFacts {
  const info = (adapter as GPUAdapter & { info?: GPUAdapterInfo }).info;
  const f = {
    vendor: info?.vendor ?? '',
    architecture: info?.architecture ?? '',
    device: info?.device ?? '',
    description: info?.description ?? '',
  };
  const fallback =
    (info as (GPUAdapterInfo & { isFallbackAdapter?: boolean }) | undefined)?.isFallbackAdapter ??
    (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter ??
    false;
  return { ...f, software: fallback || SOFTWARE.test(`${f.vendor} ${f.architecture} ${f.device} ${f.description}`) };
}

/** "nvidia ampere (NVIDIA GeForce RTX 3080)", or what the adapter says of itself. */
export function describeAdapter(a: AdapterFacts): string {
  const name = [a.vendor, a.architecture].filter(Boolean).join(' ') || 'an unnamed adapter';
  const detail = a.description || a.device;
  return `${name}${detail && detail !== name ? ` (${detail})` : ''}${a.software ? ', a CPU emulation for tests' : ''}`;
}

/** An adapter, or null: `requestAdapter` itself may throw where the platform has no backend. */
export async function requestAdapter(gpu: GPU | undefined): Promise<GPUAdapter | null> {
  if (!gpu) return null;
  try {
    return await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch {
    return null;
  }
}

/** Storage buffers one shader binds at most (GRU's backward step): more than WebGPU's default of 8 is never needed. */
const STORAGE_BUFFERS = 7;

/**
 * A device on the platform's adapter, with the largest buffers the adapter allows (a 2×1024 LSTM
 * at batch 128 × 100 holds 200 MB gate sequences; the default binding limit is 128 MiB).
 * `missing` says, in one line, what to install when there is no adapter.
 */
export async function openGpu(gpu: GPU | undefined, missing: string): Promise<OpenGpu> {
  const adapter = await requestAdapter(gpu);
  if (!adapter) throw new DeeprnnError('no_gpu', `--engine webgpu found no GPU adapter: ${missing}`);
  const l = adapter.limits;
  if (l.maxStorageBuffersPerShaderStage < STORAGE_BUFFERS) {
    throw new DeeprnnError(
      'no_gpu',
      `this GPU adapter binds at most ${l.maxStorageBuffersPerShaderStage} storage buffers per shader; the WebGPU engine needs ${STORAGE_BUFFERS}`,
    );
  }
  const device = await adapter.requestDevice({
    requiredLimits: {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxStorageBuffersPerShaderStage: STORAGE_BUFFERS,
    },
  });
  return { device, adapter: adapterFacts(adapter) };
}

/** Whether `gpu` offers an adapter that is a real GPU (what `auto` takes, in Node and in pages). */
export async function hasHardwareAdapter(gpu: GPU | undefined): Promise<boolean> {
  const adapter = await requestAdapter(gpu);
  return adapter !== null && !adapterFacts(adapter).software;
}
