// SIMD helpers every part of the kernel shares, and the layout of packed weights.
//
// Packed weights (shared/kernel/kernel.ts packs them) come in blocks of BLOCK_ROWS rows; a block
// is a run of column chunks, each chunk CHUNK_BYTES long: 8 rows × 4 f32 columns (gemmPacked),
// or 8 rows × 16 int8 columns (gemmQ8, gemmQ7). A tile of 4 outputs reads half a chunk.

/** Rows of a packed weight block: the outputs one block yields. */
export const BLOCK_ROWS: usize = 8;
/** Bytes of one column chunk of a block (8 rows × 4 f32, or 8 rows × 16 int8). */
export const CHUNK_BYTES: usize = 128;
/** Bytes of half a chunk: the 4 rows a 4-output tile reads. */
export const HALF_CHUNK_BYTES: usize = 64;
/** Bytes of a block's outputs (8 f32: outputs, biases, scales). */
export const BLOCK_OUT_BYTES: usize = 32;
/** Bytes of a 4-output tile's outputs (4 f32). */
export const TILE_OUT_BYTES: usize = 16;

// Multiply-add: fused in the training builds (relaxed SIMD: one instruction, one rounding), else
// mul + add. Chosen at compile time (`--use FUSED_MADD=1|0`): the generation builds never fuse,
// so their floats are the portable build's — kernel-dot.wasm has relaxed SIMD for the 7-bit
// integer products alone, and writes the portable build's texts.
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD && FUSED_MADD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

@inline export function at(p: usize, i: i32): usize {
  return p + (<usize>i << 2);
}

/** y[0..7] += b[0..7], one row's 8-output block. */
@inline export function addBias8(yb: usize, bb: usize): void {
  v128.store(yb, f32x4.add(v128.load(yb), v128.load(bb)));
  v128.store(yb, f32x4.add(v128.load(yb, 16), v128.load(bb, 16)), 16);
}

/** y[0..3] (+)= the horizontal sums of a, b, c, d — a 4×4 transpose, then three adds. */
@inline export function storeSums(y: usize, a: v128, b: v128, c: v128, d: v128, accumulate: bool): void {
  const ab0 = v128.shuffle<f32>(a, b, 0, 4, 1, 5);
  const ab1 = v128.shuffle<f32>(a, b, 2, 6, 3, 7);
  const cd0 = v128.shuffle<f32>(c, d, 0, 4, 1, 5);
  const cd1 = v128.shuffle<f32>(c, d, 2, 6, 3, 7);
  const s0 = f32x4.add(ab0, ab1); // a0+a2 b0+b2 a1+a3 b1+b3
  const s1 = f32x4.add(cd0, cd1);
  const lo = v128.shuffle<f32>(s0, s1, 0, 1, 4, 5);
  const hi = v128.shuffle<f32>(s0, s1, 2, 3, 6, 7);
  let sum = f32x4.add(lo, hi);
  if (accumulate) sum = f32x4.add(sum, v128.load(y));
  v128.store(y, sum);
}

@inline export function splat(x: f32): v128 {
  return f32x4.splat(x);
}

@inline export function ld(p: usize, i: i32): v128 {
  return v128.load(at(p, i));
}

@inline export function st(p: usize, i: i32, v: v128): void {
  v128.store(at(p, i), v);
}
