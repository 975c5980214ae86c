/**
 * The host side of the WebAssembly kernel: typed exports, and a bump allocator over its linear
 * memory. Platform loaders (shared/platform/*) turn the .wasm into a `WebAssembly.Module`;
 * everything from there on is the same in Node, Workers and browsers.
 */

import { int8Scale, toInt8 } from '../artifact.ts';

type Ptr = number;

/** The kernel's exports (shared/kernel/assembly/kernel.ts). Pointers are byte offsets. */
export interface KernelExports {
  memory: WebAssembly.Memory;
  heapBase(): Ptr;
  fused(): number;
  gemmPacked(wp: Ptr, bias: Ptr, x: Ptr, y: Ptr, blocks: number, cols4: number, n: number, xStride: number, yStride: number): void;
  gemmQ8(wq: Ptr, scales: Ptr, bias: Ptr, xq: Ptr, y: Ptr, blocks: number, cols16: number, n: number, xqStride: number, yStride: number): void;
  q8MaxColumns(): number;
  quantize16(x: Ptr, xq: Ptr, n: number, rows: number, xStride: number, xqStride: number): void;
  quantize7(x: Ptr, xu: Ptr, n: number, rows: number, xStride: number, xuStride: number): void;
  gemmQ7(wq: Ptr, rowsums: Ptr, scales7: Ptr, bias: Ptr, xu: Ptr, y: Ptr, blocks: number, cols16: number, n: number, xuStride: number, yStride: number): void;
  relaxedDot(): number;
  dotAdd(): number;
  dotAddUnsaturated(): number;
  gemmQ7Exact(): number;
  gemmNN(a: Ptr, bp: Ptr, c: Ptr, M: number, N: number, K: number, accumulate: boolean): void;
  packB8(src: Ptr, dst: Ptr, K: number, N: number, transposed: boolean): void;
  transpose(src: Ptr, dst: Ptr, rows: number, cols: number): void;
  addRows(x: Ptr, b: Ptr, rows: number, cols: number): void;
  addColumnSums(x: Ptr, out: Ptr, rows: number, cols: number): void;
  gatherColumns(w: Ptr, tokens: Ptr, b: Ptr, out: Ptr, rows: number, G: number, V: number, outStride: number): void;
  gatherRows(wt: Ptr, tokens: Ptr, b: Ptr, out: Ptr, rows: number, G: number, outStride: number): void;
  scatterColumns(dg: Ptr, tokens: Ptr, dw: Ptr, rows: number, G: number, V: number): void;
  sumSquares(x: Ptr, n: number): number;
  mul(a: Ptr, b: Ptr, out: Ptr, n: number): void;
  scale(x: Ptr, n: number, s: number): void;
  addInto(dst: Ptr, src: Ptr, n: number): void;
  sgd(p: Ptr, g: Ptr, n: number, lr: number, s: number): void;
  adam(p: Ptr, g: Ptr, m: Ptr, v: Ptr, n: number, lr: number, b1: number, b2: number, eps: number, c1: number, c2: number, s: number): void;
  lstmForward(gx: Ptr, gh: Ptr, acts: Ptr, cPrev: Ptr, c: Ptr, h: Ptr, B: number, H: number, gStride: number, sStride: number, tc: Ptr): void;
  lstmBackward(acts: Ptr, cPrev: Ptr, tc: Ptr, dh: Ptr, dc: Ptr, dGates: Ptr, B: number, H: number): void;
  gruForward(gx: Ptr, gh: Ptr, acts: Ptr, hPrev: Ptr, h: Ptr, B: number, H: number, gStride: number, sStride: number): void;
  gruBackward(acts: Ptr, gh: Ptr, hPrev: Ptr, dh: Ptr, dGx: Ptr, dGh: Ptr, dhPrev: Ptr, B: number, H: number): void;
  rnnForward(gx: Ptr, gh: Ptr, h: Ptr, B: number, H: number, gStride: number, sStride: number): void;
  rnnBackward(h: Ptr, dh: Ptr, dG: Ptr, B: number, H: number): void;
  softmaxCrossEntropy(logits: Ptr, targets: Ptr, dLogits: Ptr, N: number, V: number, gradScale: number): number;
}

/** Which build of the kernel: portable SIMD128, or with relaxed-SIMD fused multiply-add. */
export type KernelFlavor = 'simd' | 'relaxed-simd';
export const KERNEL_FLAVORS: readonly KernelFlavor[] = ['simd', 'relaxed-simd'];

export class Kernel {
  readonly k: KernelExports;
  readonly flavor: KernelFlavor;
  private top: Ptr;
  /** Live allocations: pointer → bytes. */
  private readonly sizes = new Map<Ptr, number>();
  /** Freed ranges below `top`, sorted by address, never adjacent (merged on free). */
  private readonly holes: { ptr: Ptr; bytes: number }[] = [];

  /**
   * `module` and `memory` are kept so that worker threads can instantiate the same code over
   * the same (shared) memory: the native engine's helper threads (trainer/engines/native.ts, shard-thread.ts).
   */
  constructor(
    exports: KernelExports,
    readonly module: WebAssembly.Module,
  ) {
    this.k = exports;
    this.flavor = exports.fused() ? 'relaxed-simd' : 'simd';
    this.top = align(exports.heapBase());
  }

  /** Which build this is, by its file: what benchmarks and diagnostics name. */
  get build(): 'kernel.wasm' | 'kernel-dot.wasm' | 'kernel-dotadd.wasm' | 'kernel-relaxed.wasm' {
    if (this.k.fused()) return 'kernel-relaxed.wasm';
    if (this.k.dotAdd()) return 'kernel-dotadd.wasm';
    return this.k.relaxedDot() ? 'kernel-dot.wasm' : 'kernel.wasm';
  }

  /**
   * Room for `n` 32-bit values, 16-byte aligned, zeroed; lives until `free`. First fit over the
   * freed ranges, else the top of the heap (growing the memory): a page that loads and drops
   * models, or a server that builds and frees steppers, reuses the same bytes.
   */
  alloc(n: number): Ptr {
    const bytes = Math.max(16, align(n * 4));
    let ptr = -1;
    const i = this.holes.findIndex((h) => h.bytes >= bytes);
    if (i >= 0) {
      const hole = this.holes[i];
      ptr = hole.ptr;
      if (hole.bytes === bytes) this.holes.splice(i, 1);
      else this.holes[i] = { ptr: hole.ptr + bytes, bytes: hole.bytes - bytes };
    } else {
      ptr = this.top;
      this.top = ptr + bytes;
      const need = this.top - this.k.memory.buffer.byteLength;
      if (need > 0) this.k.memory.grow(Math.ceil(need / 65536));
    }
    this.sizes.set(ptr, bytes);
    new Uint8Array(this.k.memory.buffer, ptr, bytes).fill(0);
    return ptr;
  }

  /** Give back an allocation; its bytes serve later `alloc`s. */
  free(ptr: Ptr): void {
    const bytes = this.sizes.get(ptr);
    if (bytes === undefined) throw new Error(`kernel: free(${ptr}) of memory that is not allocated`);
    this.sizes.delete(ptr);
    let i = this.holes.findIndex((h) => h.ptr > ptr);
    if (i < 0) i = this.holes.length;
    this.holes.splice(i, 0, { ptr, bytes });
    // Merge with the neighbours, then hand a hole at the top back to the heap.
    if (i + 1 < this.holes.length && this.holes[i].ptr + this.holes[i].bytes === this.holes[i + 1].ptr) {
      this.holes[i].bytes += this.holes[i + 1].bytes;
      this.holes.splice(i + 1, 1);
    }
    if (i > 0 && this.holes[i - 1].ptr + this.holes[i - 1].bytes === this.holes[i].ptr) {
      this.holes[i - 1].bytes += this.holes[i].bytes;
      this.holes.splice(i, 1);
      i--;
    }
    const last = this.holes[this.holes.length - 1];
    if (last.ptr + last.bytes === this.top) {
      this.top = last.ptr;
      this.holes.pop();
    }
  }

  /** Bytes in live allocations (tests check that pooled work does not grow it). */
  get allocatedBytes(): number {
    let n = 0;
    for (const b of this.sizes.values()) n += b;
    return n;
  }

  /** A view of `n` floats at `ptr`. Take a fresh one after any `alloc` (growth detaches views). */
  f32(ptr: Ptr, n: number): Float32Array {
    return new Float32Array(this.k.memory.buffer, ptr, n);
  }

  i32(ptr: Ptr, n: number): Int32Array {
    return new Int32Array(this.k.memory.buffer, ptr, n);
  }

  /** Copy `data` into a new allocation. */
  put(data: ArrayLike<number>): Ptr {
    const ptr = this.alloc(data.length);
    this.f32(ptr, data.length).set(data);
    return ptr;
  }

  /** Copy raw bytes (int8 weights) into a new allocation. */
  putBytes(data: Int8Array | Uint8Array): Ptr {
    const ptr = this.alloc(Math.ceil(data.length / 4));
    new Uint8Array(this.k.memory.buffer, ptr, data.length).set(new Uint8Array(data.buffer, data.byteOffset, data.length));
    return ptr;
  }
}

/** Rows per block of `packRows8`; `gemmPacked` outputs are padded to a multiple of it. */
export const PACK_ROWS = 8;
export const padTo = (n: number, m: number): number => Math.ceil(n / m) * m;

/**
 * W [rows, cols] → the layout of `gemmPacked`: blocks of 8 rows (zero rows pad the last), each
 * block a run of 4-column chunks, chunk k of rows 0…7 side by side. Columns pad to a multiple
 * of 4 with zeros (the x it multiplies must be zero there too).
 */
export function packRows8(w: Float32Array, rows: number, cols: number): Float32Array {
  const cols4 = padTo(cols, 4) / 4;
  const out = new Float32Array(padTo(rows, PACK_ROWS) * cols4 * 4);
  for (let r = 0; r < rows; r++) {
    const blk = Math.floor(r / PACK_ROWS);
    for (let c = 0; c < cols; c++) out[((blk * cols4 + (c >> 2)) * PACK_ROWS + (r % PACK_ROWS)) * 4 + (c & 3)] = w[r * cols + c];
  }
  return out;
}

/**
 * W [rows, cols] → the int8 layout of `gemmQ8`: per row q = round(w / s) with s = max|w| / 127
 * (for an artifact stored as int8 this gives back its own q), in blocks of 8 rows × 16-column
 * chunks, chunk k of rows 0…7 side by side; `scales` holds s / 32767 per row, undoing the int16
 * scaling of x. Rows pad to a multiple of 8, columns to 16, with zeros.
 */
export function packRowsQ8(w: Float32Array, rows: number, cols: number): { q: Int8Array; scales: Float32Array; scales7: Float32Array; rowsums: Int32Array } {
  const cols16 = padTo(cols, 16) / 16;
  const q = new Int8Array(padTo(rows, PACK_ROWS) * cols16 * 16);
  const scales = new Float32Array(padTo(rows, PACK_ROWS));
  // The 7-bit path's: each row's scale over 63 (its states are 63·h), and Σ q (its zero point, 64).
  const scales7 = new Float32Array(padTo(rows, PACK_ROWS));
  const rowsums = new Int32Array(padTo(rows, PACK_ROWS));
  for (let r = 0; r < rows; r++) {
    const s = int8Scale(w, r * cols, cols);
    scales[r] = s / 32767;
    scales7[r] = s / 63;
    const blk = Math.floor(r / PACK_ROWS);
    for (let c = 0; c < cols; c++) {
      const v = toInt8(w[r * cols + c], s);
      q[((blk * cols16 + (c >> 4)) * PACK_ROWS + (r % PACK_ROWS)) * 16 + (c & 15)] = v;
      rowsums[r] += v;
    }
  }
  return { q, scales, scales7, rowsums };
}

function align(p: number): number {
  return (p + 15) & ~15;
}

/**
 * A module of one function, `f32x4.relaxed_madd` of three zero vectors: it validates exactly
 * where the engine has relaxed SIMD. Asking the probe, not a build, tells "this engine has no
 * relaxed SIMD" (take the portable build) from "this build is damaged" (say so): a half-written
 * kernel-relaxed.wasm once made a run quietly train on the portable build, with other floats.
 */
const RELAXED_SIMD_PROBE = (() => {
  const zeros = [0xfd, 0x0c, ...new Array<number>(16).fill(0)]; // v128.const 0
  const body = [0x00, ...zeros, ...zeros, ...zeros, 0xfd, 0x85, 0x02, 0x0b]; // no locals; f32x4.relaxed_madd; end
  const type = [0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b]; // () -> v128
  return new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ...type, 0x03, 0x02, 0x01, 0x00, 0x0a, body.length + 2, 0x01, body.length, ...body]);
})();

/** Whether this engine runs relaxed SIMD (Node 20 only after `--experimental-wasm-relaxed-simd`). */
export const hasRelaxedSimd = (): boolean => WebAssembly.validate(RELAXED_SIMD_PROBE);

/** The largest memory a kernel may grow to (2 GiB), for builds on shared memory. */
const MAX_PAGES = 32768;

/** A kernel build as a runtime holds it: its bytes (pages, the package, Node) or a module compiled for it (workerd imports .wasm files as modules). */
export type KernelBuild = Uint8Array<ArrayBuffer> | WebAssembly.Module;

/** The generation builds a runtime bundles: the portable one always, the relaxed ones where it can carry them. */
export interface GenerationBuilds {
  /** kernel.wasm: standard SIMD, every engine. */
  portable: KernelBuild;
  /** kernel-dot.wasm: the 7-bit products on `relaxed_dot_i8x16_i7x16_s`, widened by a dot with 1s. */
  dot?: KernelBuild;
  /** kernel-dotadd.wasm: the 7-bit products on `relaxed_dot_i8x16_i7x16_add_s`. */
  dotAdd?: KernelBuild;
}

/**
 * The generation kernel for this engine — every build writes the same texts (their floats are
 * the portable build's, their 7-bit integer sums exact), so the choice is speed alone:
 * kernel-dotadd.wasm where the engine runs it, gets its sums right (`gemmQ7Exact`: Node 20's V8
 * does not; docs/benchmarks.md) and makes its dot-add one instruction (`dotAddUnsaturated`: x64 with
 * AVX-VNNI in recent V8; elsewhere it is a longer sequence than the other build's), else
 * kernel-dot.wasm where the engine has relaxed SIMD and gets its sums right too, else kernel.wasm.
 */
export async function generationKernel(builds: GenerationBuilds): Promise<Kernel> {
  let portableError: unknown = null;
  const load = async (b: KernelBuild | undefined, portable = false): Promise<Kernel | null> => {
    if (!b) return null;
    try {
      if (b instanceof WebAssembly.Module) return await instantiateKernel(b);
      if (!WebAssembly.validate(b)) return null; // an engine without relaxed SIMD: the next build
      return await instantiateKernel(await WebAssembly.compile(b));
    } catch (e) {
      if (portable) portableError = e;
      return null;
    }
  };
  const dotAdd = await load(builds.dotAdd);
  if (dotAdd?.k.gemmQ7Exact() && dotAdd.k.dotAddUnsaturated()) return dotAdd;
  const dot = await load(builds.dot);
  if (dot?.k.gemmQ7Exact()) return dot;
  const portable = await load(builds.portable, true);
  if (portable) return portable;
  // Cloudflare Workers (workerd) refuse to compile WebAssembly from bytes: say so, and what to pass.
  if (portableError && /disallowed|not allowed|code generation/i.test(String((portableError as Error).message ?? portableError))) {
    throw new Error(
      `this runtime cannot compile WebAssembly from bytes (${(portableError as Error).message}): import the kernel as a module — import kernel from 'deeprnn/kernel.wasm' — and pass loadModel(source, { kernel }) (or { kernel: { portable, dot, dotAdd } } with 'deeprnn/kernel-dot.wasm' and 'deeprnn/kernel-dotadd.wasm', and the fastest this engine runs is taken)`,
    );
  }
  throw new Error(`this engine cannot run the WebAssembly kernel (it needs 128-bit SIMD)${portableError ? `: ${(portableError as Error).message}` : ''}`);
}

/** A kernel build bundled as base64 (browser module, package build) → its bytes. */
export const base64Bytes = (b64: string): Uint8Array<ArrayBuffer> => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));

/**
 * Instantiate a compiled kernel. The portable build owns its memory; the Node build
 * (relaxed SIMD + threads) imports a shared one, which `memory` supplies or a new one is made.
 */
export async function instantiateKernel(module: WebAssembly.Module, memory?: WebAssembly.Memory): Promise<Kernel> {
  const importsMemory = WebAssembly.Module.imports(module).some((i) => i.kind === 'memory');
  const imports: WebAssembly.Imports = importsMemory
    ? { env: { memory: memory ?? new WebAssembly.Memory({ initial: 1, maximum: MAX_PAGES, shared: true }) } }
    : {};
  const instance = await WebAssembly.instantiate(module, imports);
  return new Kernel(instance.exports as unknown as KernelExports, module);
}
