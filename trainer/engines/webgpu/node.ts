/**
 * WebGPU in Node: Dawn's bindings (the optional `webgpu` package, its binaries inside the
 * package), on the machine's Vulkan driver (Linux), Metal (macOS) or D3D12 (Windows) — no CUDA
 * toolkit, nothing downloaded at install. Where something is missing, one line says what and
 * how to get it.
 *
 * Whether there is an adapter is asked in a child process first: Dawn writes its own warnings
 * to the process's stderr while it looks (a Vulkan driver it refuses, such as Debian 12's
 * lavapipe, or no driver at all), which would otherwise precede every `--engine auto` run and
 * the one line that says what is missing.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { DeeprnnError } from '../../../shared/errors.ts';
import { openGpu, type AdapterFacts, type OpenGpu } from './gpu.ts';

/** SwiftShader's Vulkan driver as Debian's chromium ships it: a CPU emulation, for tests. */
export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

/** What to do when Dawn finds no adapter (the driver, not the package, is missing). */
const NO_ADAPTER =
  process.platform === 'linux'
    ? "no Vulkan driver answered: install your GPU's driver (NVIDIA's includes its Vulkan driver; in a container NVIDIA_DRIVER_CAPABILITIES must include graphics), or, to test on the CPU, set VK_ICD_FILENAMES=" +
      SWIFTSHADER_ICD
    : "no Metal or D3D12 device answered: update the GPU's driver";

/** Where `webgpu` resolves from: the package's root (in an app, its node_modules above). */
const PACKAGE_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Asks Dawn for an adapter and prints what it found as JSON; its own warnings go to the stderr the parent keeps. */
const PROBE = `
let mod;
try { mod = await import('webgpu'); } catch (e) { console.log(JSON.stringify({ load: String(e && e.message || e) })); process.exit(0); }
const adapter = await mod.create([]).requestAdapter({ powerPreference: 'high-performance' });
const i = adapter && adapter.info;
console.log(JSON.stringify({ adapter: adapter ? { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description, fallback: !!i.isFallbackAdapter } : null }));
process.exit(0);
`;

type Probe = { ok: true; adapter: Omit<AdapterFacts, 'software'> & { fallback: boolean } } | { ok: false; missing: string };
let probed: Probe | null = null;

/** Vulkan's loader complains on stderr when XDG_RUNTIME_DIR is unset (CI, containers): give it one. */
function runtimeDir(): void {
  if (process.platform !== 'linux' || process.env.XDG_RUNTIME_DIR) return;
  const dir = join(tmpdir(), `deeprnn-xdg-${process.getuid?.() ?? 0}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  process.env.XDG_RUNTIME_DIR = dir;
}

/** Whether Dawn can load and finds an adapter here (asked once per process), or one line saying what is missing. */
export function probeNodeGpu(): Probe {
  if (probed) return probed;
  runtimeDir();
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', PROBE], { cwd: PACKAGE_ROOT, env: process.env, encoding: 'utf8', timeout: 60_000 });
  let answer: { load?: string; adapter?: (Omit<AdapterFacts, 'software'> & { fallback: boolean }) | null } = {};
  try {
    answer = JSON.parse(r.stdout.trim().split('\n').pop() ?? '');
  } catch {
    probed = { ok: false, missing: `Dawn (the webgpu package) stopped while looking for an adapter${r.signal ? ` (${r.signal})` : ''}` };
    return probed;
  }
  if (answer.load !== undefined) {
    const m = answer.load;
    probed = {
      ok: false,
      missing: /libvulkan/.test(m)
        ? 'Dawn cannot load libvulkan.so.1: install the Vulkan loader (Debian and Ubuntu: apt-get install libvulkan1)'
        : /Cannot find (package|module) 'webgpu'/.test(m)
          ? 'WebGPU for Node is not installed: npm install webgpu'
          : `Dawn (the webgpu package) does not load here: ${m.split('\n')[0]}`,
    };
  } else if (!answer.adapter) {
    // Dawn's reason, where it gave one (a driver it refused), beside what to do.
    const why = /Vulkan [^\n]*required/.exec(r.stderr)?.[0];
    probed = { ok: false, missing: `${NO_ADAPTER}${why ? ` (Dawn refused the driver it found: ${why.replace(/\.$/, '')})` : ''}` };
  } else probed = { ok: true, adapter: answer.adapter };
  return probed;
}

let dawn: Promise<GPU> | null = null;

/** A device on the machine's GPU, or a one-line error naming what is missing. */
export async function openNodeGpu(): Promise<OpenGpu> {
  const p = probeNodeGpu();
  if (!p.ok) throw new DeeprnnError('no_gpu', `--engine webgpu found no GPU adapter: ${p.missing}`);
  dawn ??= import(/* @vite-ignore */ 'webgpu').then((m: { create(options: string[]): GPU }) => m.create([]));
  return openGpu(await dawn, NO_ADAPTER);
}

/** Whether the machine has a WebGPU adapter that is a real GPU (what `--engine auto` takes). */
export function hardwareGpuPresent(): boolean {
  const p = probeNodeGpu();
  return p.ok && !p.adapter.fallback && !/swiftshader|llvmpipe|lavapipe/i.test(`${p.adapter.vendor} ${p.adapter.architecture} ${p.adapter.description}`);
}
