/**
 * WebGPU in Node: Dawn's bindings (the optional `webgpu` package, its binaries inside the
 * package), on the machine's Vulkan driver (Linux), Metal (macOS) or D3D12 (Windows) — no CUDA
 * toolkit, nothing downloaded at install. Where something is missing, one line says what and
 * how to get it.
 */
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeeprnnError } from '../../../shared/errors.ts';
import { adapterFacts, openGpu, requestAdapter, type OpenGpu } from './gpu.ts';

/** SwiftShader's Vulkan driver as Debian's chromium ships it: a CPU emulation, for tests. */
export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

/** What to do when Dawn finds no adapter (the driver, not the package, is missing). */
const NO_ADAPTER =
  process.platform === 'linux'
    ? "no Vulkan driver answered: install your GPU's driver (NVIDIA's includes its Vulkan driver; in a container NVIDIA_DRIVER_CAPABILITIES must include graphics), or, to test on the CPU, set VK_ICD_FILENAMES=" +
      SWIFTSHADER_ICD
    : "no Metal or D3D12 device answered: update the GPU's driver";

let dawn: Promise<GPU | string> | null = null;

/** Dawn's `GPU`, or one line saying why there is none (loaded once per process). */
export function nodeGpu(): Promise<GPU | string> {
  dawn ??= (async () => {
    // Vulkan's loader complains on stderr, once per probe, when XDG_RUNTIME_DIR is unset (CI, containers).
    if (process.platform === 'linux' && !process.env.XDG_RUNTIME_DIR) {
      const dir = join(tmpdir(), `deeprnn-xdg-${process.getuid?.() ?? 0}`);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      process.env.XDG_RUNTIME_DIR = dir;
    }
    let mod: { create(options: string[]): GPU };
    try {
      mod = (await import(/* @vite-ignore */ 'webgpu')) as typeof mod;
    } catch (e) {
      const m = (e as Error).message;
      if (/libvulkan/.test(m)) return 'Dawn cannot load libvulkan.so.1: install the Vulkan loader (Debian and Ubuntu: apt-get install libvulkan1)';
      if (/Cannot find (package|module) 'webgpu'/.test(m) || (e as { code?: string }).code === 'ERR_MODULE_NOT_FOUND')
        return 'WebGPU for Node is not installed: npm install webgpu';
      return `Dawn (the webgpu package) does not load here: ${m.split('\n')[0]}`;
    }
    return mod.create([]);
  })();
  return dawn;
}

/** A device on the machine's GPU, or a one-line error naming what is missing. */
export async function openNodeGpu(): Promise<OpenGpu> {
  const gpu = await nodeGpu();
  if (typeof gpu === 'string') throw new DeeprnnError('no_gpu', `--engine webgpu cannot run: ${gpu}`);
  return openGpu(gpu, NO_ADAPTER);
}

/** Whether the machine has a WebGPU adapter that is a real GPU (what `--engine auto` takes). */
export async function hardwareGpuPresent(): Promise<boolean> {
  const gpu = await nodeGpu();
  if (typeof gpu === 'string') return false;
  const adapter = await requestAdapter(gpu);
  if (!adapter) return false;
  return !adapterFacts(adapter).software;
}
