// Probes: what this build is and what the engine running it computes. The loaders
// (shared/kernel/kernel.ts) ask them before choosing a build; none is on a hot path.
import { gemmQ7 } from './products';

export function heapBase(): usize {
  return __heap_base;
}

/** True when this build fuses multiply-adds (relaxed SIMD). */
export function fused(): bool {
  return ASC_FEATURE_RELAXED_SIMD && FUSED_MADD != 0;
}

/** True when this build's 7-bit products use the relaxed dot product (kernel-dot.wasm, kernel-dotadd.wasm and the training builds). */
export function relaxedDot(): bool {
  return ASC_FEATURE_RELAXED_SIMD;
}

/** True when this build's 7-bit products accumulate with `i32x4.relaxed_dot_i8x16_i7x16_add_s` (kernel-dotadd.wasm: `--use DOT_ADD=1`). */
export function dotAdd(): bool {
  return ASC_FEATURE_RELAXED_SIMD && DOT_ADD != 0;
}

/**
 * Whether this engine computes `i32x4.relaxed_dot_i8x16_i7x16_add_s` as one unsigned × signed
 * sum of four products, without saturating: x64 engines that lower it to AVX-VNNI's `vpdpbusd`
 * (V8 on CPUs with AVX-VNNI). Asked with a second operand of 255, outside the 7 bits where every
 * lowering agrees (so the answer differs, never a product kernels compute): vpdpbusd gives
 * 4 · 127 · 255 = 129540; the pmaddubsw + pmaddwd sequence saturates its pair sums (65534); arm's
 * sdot reads 255 as −1 (−508). Where it is true, the dot-add is one instruction and its build
 * runs gemmQ7 faster than kernel-dot.wasm; where it is a sequence, slower (figures:
 * docs/benchmarks.md, "The 7-bit path").
 */
export function dotAddUnsaturated(): bool {
  if (!ASC_FEATURE_RELAXED_SIMD) return false;
  const probe = i32x4.relaxed_dot_i8x16_i7x16_add_s(i8x16.splat(127), i8x16.splat(-1), i32x4.splat(0));
  return i32x4.extract_lane(probe, 0) == 129540;
}

// gemmQ7Exact's operands: one packed block (8 rows × 32 columns), two rows of states, the rows'
// weight sums, unit scales, and room for the two rows' outputs.
const T_W = memory.data(256, 16);
const T_U = memory.data(64, 16);
const T_SUMS = memory.data(32, 16);
const T_SCALES = memory.data<f32>([1, 1, 1, 1, 1, 1, 1, 1], 16);
const T_Y = memory.data(64, 16);

/**
 * Whether `gemmQ7` in this build gives the exact integer sums on this engine: a block of 8 rows ×
 * 32 columns against one row (the 8×1 tile) and two (the 4×2 tile), checked against the scalar
 * sums. Engines may lower the relaxed dot-add wrongly (Node 20's V8 did: docs/benchmarks.md), so
 * the loaders take kernel-dotadd.wasm only where this holds.
 */
export function gemmQ7Exact(): bool {
  for (let i = 0; i < 256; i++) store<i8>(T_W + i, <i8>(((i * 37) % 255) - 127));
  for (let i = 0; i < 64; i++) store<u8>(T_U + i, <u8>(1 + ((i * 29) % 127)));
  for (let r = 0; r < 8; r++) {
    let sum = 0;
    for (let k = 0; k < 32; k++) sum += testWeight(r, k);
    store<i32>(T_SUMS + (r << 2), sum);
  }
  for (let n = 1; n <= 2; n++) {
    gemmQ7(T_W, T_SUMS, T_SCALES, 0, T_U, T_Y, 1, 2, n, 32, 8);
    for (let b = 0; b < n; b++) {
      for (let r = 0; r < 8; r++) {
        let total = 0;
        for (let k = 0; k < 32; k++) total += testWeight(r, k) * <i32>load<u8>(T_U + b * 32 + k);
        if (load<f32>(T_Y + ((b * 8 + r) << 2)) != <f32>(total - 64 * load<i32>(T_SUMS + (r << 2)))) return false;
      }
    }
  }
  return true;
}

/** Row r, column k of gemmQ7Exact's block, as packed: 16-column chunks of 8 rows × 16 bytes. */
@inline function testWeight(r: i32, k: i32): i32 {
  return <i32>load<i8>(T_W + ((k >> 4) << 7) + (r << 4) + (k & 15));
}
