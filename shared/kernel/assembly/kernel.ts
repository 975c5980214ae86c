// The deeprnn compute kernel, AssemblyScript → WebAssembly SIMD (128-bit).
//
// Every function works on f32 buffers in linear memory, addressed by byte pointers that the
// host (shared/kernel/kernel.ts) allocates. Matrices are row-major. The host runs the
// recurrence; this file holds only the loops that cost time: matrix products and the
// element-wise cells with their derivatives (d2l §9.3: H_t = φ(X_t W_xh + H_{t-1} W_hh + b)).

// ---------------------------------------------------------------------------------------------
// Multiply-add: fused in the training builds (relaxed SIMD: one instruction, one rounding), else
// mul + add. Chosen at compile time (`--use FUSED_MADD=1|0`): the generation builds never fuse,
// so their floats are the portable build's — kernel-dot.wasm has relaxed SIMD for the 7-bit
// integer products alone, and writes the portable build's texts.
@inline function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD && FUSED_MADD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

@inline function at(p: usize, i: i32): usize {
  return p + (<usize>i << 2);
}

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
 * runs gemmQ7 1.65–1.96× as fast as kernel-dot.wasm (Chromium 156, Sapphire Rapids); where it is a
 * sequence, it ran slower than that build (the same Chromium without AVX-VNNI: 28.9 against 33.2
 * GMAC/s at batch 1).
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
 * sums. Engines may lower the relaxed dot-add wrongly: V8 11.3 (Node 20) returned 120 for
 * 4 · 3 · 5 + 7 and twice the sums in the tiles. The loaders take kernel-dotadd.wasm only where this holds.
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

/**
 * acc + the 7-bit product of 16 int8 weights w and 16 states u ∈ [1, 127], four lanes of four:
 * one dot-add (kernel-dotadd.wasm), or the i16 dot widened by a dot with `ones` (i16x8 of 1s,
 * which the tile holds in a register). The same exact integers — the 7-bit operand is where every
 * lowering of both agrees. Widening with `extadd_pairwise_i16x8_s` is the same sum, but V8 11.3
 * reads its 1s from memory at every use and kept more of the 8×1 tile on the stack: batch 1's
 * step 22.5–23.6 → 19.2–19.4 µs with the register (Node 20, Sapphire Rapids).
 */
@inline function dot7(w: v128, u: v128, acc: v128, ones: v128): v128 {
  if (DOT_ADD) return i32x4.relaxed_dot_i8x16_i7x16_add_s(w, u, acc);
  return i32x4.add(acc, i32x4.dot_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(w, u), ones));
}

// ---------------------------------------------------------------------------------------------
// Products

/**
 * Rows of X at a time (generation's batched step): weights are read once per tile of this many
 * rows and reused from L1 for each row of the tile; the row tile itself stays in L1/L2.
 */
const ROW_TILE = 16;

/**
 * Y[r] = W X[r] (+ b) for rows r < n, W packed by `packRows8` (see shared/kernel/kernel.ts):
 * blocks of 8 rows whose 4-column chunks sit side by side, so one pointer walks a block and every
 * load is at a constant offset from it. Strides are in floats.
 *
 * Each output is computed by the same sequence of operations whatever n is — 8 accumulators
 * over the chunks in order, the same horizontal sum, then the bias — so a row of a batch is
 * bit-identical to the same row computed alone: who else is in the batch never changes a text.
 */
export function gemmPacked(wp: usize, bias: usize, x: usize, y: usize, blocks: i32, cols4: i32, n: i32, xStride: i32, yStride: i32): void {
  const blockBytes = <usize>cols4 << 7;
  const xBytes = <usize>xStride << 2;
  const yBytes = <usize>yStride << 2;
  for (let r0 = 0; r0 < n; r0 += ROW_TILE) {
    const r1 = min(r0 + ROW_TILE, n);
    for (let blk = 0; blk < blocks; blk++) {
      const wb = wp + <usize>blk * blockBytes;
      const bb = bias + (<usize>blk << 5);
      const yo = <usize>blk << 5;
      // As gemmQ8: two batch rows share each weight load (the 4×2 tile), then the last row alone.
      // Each output keeps its own accumulator over the chunks in order, so its bits do not move.
      let r = r0;
      for (; r + 2 <= r1; r += 2) {
        const xa = x + <usize>r * xBytes;
        const ya = y + <usize>r * yBytes + yo;
        for (let half: usize = 0; half < 2; half++) gemmF32Tile4x2(wb + (half << 6), xa, xa + xBytes, ya + (half << 4), ya + yBytes + (half << 4), cols4);
        if (bias) {
          addBias8(ya, bb);
          addBias8(ya + yBytes, bb);
        }
      }
      if (r < r1) {
        const xa = x + <usize>r * xBytes;
        const ya = y + <usize>r * yBytes + yo;
        for (let half: usize = 0; half < 2; half++) gemmF32Tile4x1(wb + (half << 6), xa, ya + (half << 4), cols4);
        if (bias) addBias8(ya, bb);
      }
    }
  }
}

/** 4 outputs of a packed 8-row f32 block (w: the block + 64·half) for batch rows a and b. */
@inline function gemmF32Tile4x2(w: usize, xa: usize, xb: usize, ya: usize, yb: usize, cols4: i32): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
  let p = w;
  const end = xa + (<usize>cols4 << 4);
  for (let pa = xa, pb = xb; pa < end; pa += 16, pb += 16, p += 128) {
    const u = v128.load(pa), v = v128.load(pb);
    let m = v128.load(p, 0);
    a0 = madd(m, u, a0); b0 = madd(m, v, b0);
    m = v128.load(p, 16);
    a1 = madd(m, u, a1); b1 = madd(m, v, b1);
    m = v128.load(p, 32);
    a2 = madd(m, u, a2); b2 = madd(m, v, b2);
    m = v128.load(p, 48);
    a3 = madd(m, u, a3); b3 = madd(m, v, b3);
  }
  storeSums(ya, a0, a1, a2, a3, false);
  storeSums(yb, b0, b1, b2, b3, false);
}

/** `gemmF32Tile4x2` for one batch row. */
@inline function gemmF32Tile4x1(w: usize, xa: usize, ya: usize, cols4: i32): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let p = w;
  const end = xa + (<usize>cols4 << 4);
  for (let pa = xa; pa < end; pa += 16, p += 128) {
    const u = v128.load(pa);
    a0 = madd(v128.load(p, 0), u, a0);
    a1 = madd(v128.load(p, 16), u, a1);
    a2 = madd(v128.load(p, 32), u, a2);
    a3 = madd(v128.load(p, 48), u, a3);
  }
  storeSums(ya, a0, a1, a2, a3, false);
}

/** y[0..7] += b[0..7], one row's 8-output block. */
@inline function addBias8(yb: usize, bb: usize): void {
  v128.store(yb, f32x4.add(v128.load(yb), v128.load(bb)));
  v128.store(yb, f32x4.add(v128.load(yb, 16), v128.load(bb, 16)), 16);
}

/**
 * The largest number of columns `gemmQ8` sums exactly: each i32 lane adds 4 products per
 * 16-column chunk, each at most 127 · 32767 in magnitude, and 4 · 129 · 127 · 32767 < 2^31 ≤
 * 4 · 130 · 127 · 32767. The host refuses int8 models with wider rows (shared/artifact.ts).
 */
export const Q8_MAX_COLUMNS: i32 = 129 * 16;

export function q8MaxColumns(): i32 {
  return Q8_MAX_COLUMNS;
}

/**
 * The int8 path, for models stored as int8: Y[r] = scale ⊙ (Q XQ[r]) (+ b), Q int8 packed by
 * `packRowsQ8` (blocks of 8 rows × 16-column chunks), XQ = round(32767 X) as int16 (`quantize16`),
 * the products summed exactly in i32, eight multiply-adds per instruction (i32x4.dot_i16x8_s).
 * Four times fewer weight bytes than f32 and integer arithmetic: fast, and the same on every
 * engine. Precondition: cols16 · 16 ≤ Q8_MAX_COLUMNS (else the i32 lanes could overflow).
 * As in `gemmPacked`, a row's result does not depend on the other rows. xqStride counts int16s.
 */
export function gemmQ8(wq: usize, scales: usize, bias: usize, xq: usize, y: usize, blocks: i32, cols16: i32, n: i32, xqStride: i32, yStride: i32): void {
  if (cols16 > Q8_MAX_COLUMNS / 16) unreachable();
  const blockBytes = <usize>cols16 << 7;
  const xBytes = <usize>xqStride << 1;
  const yBytes = <usize>yStride << 2;
  for (let r0 = 0; r0 < n; r0 += ROW_TILE) {
    const r1 = min(r0 + ROW_TILE, n);
    for (let blk = 0; blk < blocks; blk++) {
      const wb = wq + <usize>blk * blockBytes;
      const sb = scales + (<usize>blk << 5);
      const bb = bias + (<usize>blk << 5);
      const yo = <usize>blk << 5;
      // Two rows of the batch share each weight load and its widening (the 4×2 tile), then the
      // last row alone (4×1). Each output lane sums the same products in both: exact integers.
      let r = r0;
      for (; r + 2 <= r1; r += 2) {
        const xa = xq + <usize>r * xBytes;
        const ya = y + <usize>r * yBytes + yo;
        for (let half: usize = 0; half < 2; half++) {
          gemmQ8Tile4x2(wb + (half << 6), xa, xa + xBytes, ya + (half << 4), ya + yBytes + (half << 4), cols16);
        }
        finishQ8(ya, sb, bb, bias != 0);
        finishQ8(ya + yBytes, sb, bb, bias != 0);
      }
      if (r < r1) {
        const xa = xq + <usize>r * xBytes;
        const ya = y + <usize>r * yBytes + yo;
        for (let half: usize = 0; half < 2; half++) gemmQ8Tile4x1(wb + (half << 6), xa, ya + (half << 4), cols16);
        finishQ8(ya, sb, bb, bias != 0);
      }
    }
  }
}

/**
 * Outputs 4 rows of a packed 8-row int8 block (w: the block + 64·half) for batch rows a and b:
 * 8 accumulators, each weight vector loaded and widened once for both rows. Writes the exact
 * i32 sums' float conversions, horizontally summed, at ya[0..3] and yb[0..3].
 */
@inline function gemmQ8Tile4x2(w: usize, xa: usize, xb: usize, ya: usize, yb: usize, cols16: i32): void {
  let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
  let b0 = i32x4.splat(0), b1 = i32x4.splat(0), b2 = i32x4.splat(0), b3 = i32x4.splat(0);
  let p = w;
  const end = xa + (<usize>cols16 << 5);
  for (let pa = xa, pb = xb; pa < end; pa += 32, pb += 32, p += 128) {
    const xa0 = v128.load(pa), xa1 = v128.load(pa, 16);
    const xb0 = v128.load(pb), xb1 = v128.load(pb, 16);
    // load8x8_s loads eight int8 weights already widened to int16 (one instruction, where a
    // 16-byte load and its two extends were three or four).
    let lo = v128.load8x8_s(p, 0), hi = v128.load8x8_s(p, 8);
    a0 = i32x4.add(a0, i32x4.add(i32x4.dot_i16x8_s(lo, xa0), i32x4.dot_i16x8_s(hi, xa1)));
    b0 = i32x4.add(b0, i32x4.add(i32x4.dot_i16x8_s(lo, xb0), i32x4.dot_i16x8_s(hi, xb1)));
    lo = v128.load8x8_s(p, 16); hi = v128.load8x8_s(p, 24);
    a1 = i32x4.add(a1, i32x4.add(i32x4.dot_i16x8_s(lo, xa0), i32x4.dot_i16x8_s(hi, xa1)));
    b1 = i32x4.add(b1, i32x4.add(i32x4.dot_i16x8_s(lo, xb0), i32x4.dot_i16x8_s(hi, xb1)));
    lo = v128.load8x8_s(p, 32); hi = v128.load8x8_s(p, 40);
    a2 = i32x4.add(a2, i32x4.add(i32x4.dot_i16x8_s(lo, xa0), i32x4.dot_i16x8_s(hi, xa1)));
    b2 = i32x4.add(b2, i32x4.add(i32x4.dot_i16x8_s(lo, xb0), i32x4.dot_i16x8_s(hi, xb1)));
    lo = v128.load8x8_s(p, 48); hi = v128.load8x8_s(p, 56);
    a3 = i32x4.add(a3, i32x4.add(i32x4.dot_i16x8_s(lo, xa0), i32x4.dot_i16x8_s(hi, xa1)));
    b3 = i32x4.add(b3, i32x4.add(i32x4.dot_i16x8_s(lo, xb0), i32x4.dot_i16x8_s(hi, xb1)));
  }
  storeSums(ya, f32x4.convert_i32x4_s(a0), f32x4.convert_i32x4_s(a1), f32x4.convert_i32x4_s(a2), f32x4.convert_i32x4_s(a3), false);
  storeSums(yb, f32x4.convert_i32x4_s(b0), f32x4.convert_i32x4_s(b1), f32x4.convert_i32x4_s(b2), f32x4.convert_i32x4_s(b3), false);
}

/** `gemmQ8Tile4x2` for one batch row. */
@inline function gemmQ8Tile4x1(w: usize, xa: usize, ya: usize, cols16: i32): void {
  let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
  let p = w;
  const end = xa + (<usize>cols16 << 5);
  for (let pa = xa; pa < end; pa += 32, p += 128) {
    const x0 = v128.load(pa), x1 = v128.load(pa, 16);
    a0 = dotQ(p, 0, x0, x1, a0);
    a1 = dotQ(p, 16, x0, x1, a1);
    a2 = dotQ(p, 32, x0, x1, a2);
    a3 = dotQ(p, 48, x0, x1, a3);
  }
  storeSums(ya, f32x4.convert_i32x4_s(a0), f32x4.convert_i32x4_s(a1), f32x4.convert_i32x4_s(a2), f32x4.convert_i32x4_s(a3), false);
}

/** y[0..7] = scale ⊙ y (+ bias), for one row's 8-output block. */
@inline function finishQ8(yb: usize, sb: usize, bb: usize, hasBias: bool): void {
  v128.store(yb, f32x4.mul(v128.load(yb), v128.load(sb)));
  v128.store(yb, f32x4.mul(v128.load(yb, 16), v128.load(sb, 16)), 16);
  if (hasBias) addBias8(yb, bb);
}

/** acc + the exact products of the 16 int8 weights at p + offset with x0 ‖ x1. */
@inline function dotQ(p: usize, offset: usize, x0: v128, x1: v128, acc: v128): v128 {
  return i32x4.add(acc, i32x4.add(i32x4.dot_i16x8_s(v128.load8x8_s(p + offset), x0), i32x4.dot_i16x8_s(v128.load8x8_s(p + offset, 8), x1)));
}

/**
 * XQ[r] = round(32767 X[r]) as int16 for n values of each of `rows` rows, |x| clamped to 1 (every
 * product input here is a hidden state, inside [-1, 1]). xStride in floats, xqStride in int16s.
 * Eight at a time: 32767·x + 1.5·2^23 rounds to the nearest integer (ties to even, as `nearest`)
 * in the addition, and its bit pattern minus 0x4B400000 is that integer; the scalar tail rounds
 * with `nearest`, the same integers.
 */
export function quantize16(x: usize, xq: usize, n: i32, rows: i32, xStride: i32, xqStride: i32): void {
  const lo = f32x4.splat(-1), hi = f32x4.splat(1), q = f32x4.splat(32767), magic = f32x4.splat(12582912.0), bias = i32x4.splat(0x4B400000);
  for (let r = 0; r < rows; r++) {
    const xr = x + ((<usize>r * <usize>xStride) << 2);
    const qr = xq + ((<usize>r * <usize>xqStride) << 1);
    let k = 0;
    for (; k + 8 <= n; k += 8) {
      const a = i32x4.sub(f32x4.add(f32x4.mul(f32x4.pmin(f32x4.pmax(ld(xr, k), lo), hi), q), magic), bias);
      const b = i32x4.sub(f32x4.add(f32x4.mul(f32x4.pmin(f32x4.pmax(ld(xr, k + 4), lo), hi), q), magic), bias);
      v128.store(qr + (<usize>k << 1), i16x8.narrow_i32x4_s(a, b));
    }
    for (; k < n; k++) {
      const v = min(max(load<f32>(at(xr, k)), -1), 1);
      store<i16>(qr + (<usize>k << 1), <i16>nearest<f32>(v * 32767));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The 7-bit state path, for int8 renditions that record it (model.json: weights.stateBits 7):
// hidden states enter the products as u = round(63·h) + 64 ∈ [1, 127], so that the relaxed
// dot product of int8 weights and 7-bit states (16 multiply-adds per instruction) is exact on
// every lowering; the zero point comes off exactly with each row's weight sum. Builds without
// relaxed SIMD compute the same integers with the standard dot product. Every output is its
// exact integer total, converted once: the same bits whichever instructions summed it.

/**
 * XU[r] = round(63·clamp(X[r], −1, 1)) + 64 as uint8 for n values of each of `rows` rows (ties to
 * even, as `nearest`), sixteen at a time, then a scalar tail giving the same integers. xStride in
 * floats, xuStride in bytes. The bytes after n are left as they are (zero: their weights are zero).
 */
export function quantize7(x: usize, xu: usize, n: i32, rows: i32, xStride: i32, xuStride: i32): void {
  const lo = f32x4.splat(-1), hi = f32x4.splat(1), q = f32x4.splat(63), magic = f32x4.splat(12582912.0), bias = i32x4.splat(0x4B400000 - 64);
  for (let r = 0; r < rows; r++) {
    const xr = x + ((<usize>r * <usize>xStride) << 2);
    const ur = xu + <usize>r * <usize>xuStride;
    let k = 0;
    for (; k + 16 <= n; k += 16) {
      const a = i32x4.sub(f32x4.add(f32x4.mul(f32x4.pmin(f32x4.pmax(ld(xr, k), lo), hi), q), magic), bias);
      const b = i32x4.sub(f32x4.add(f32x4.mul(f32x4.pmin(f32x4.pmax(ld(xr, k + 4), lo), hi), q), magic), bias);
      const c = i32x4.sub(f32x4.add(f32x4.mul(f32x4.pmin(f32x4.pmax(ld(xr, k + 8), lo), hi), q), magic), bias);
      const d = i32x4.sub(f32x4.add(f32x4.mul(f32x4.pmin(f32x4.pmax(ld(xr, k + 12), lo), hi), q), magic), bias);
      v128.store(ur + <usize>k, i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_s(a, b), i16x8.narrow_i32x4_s(c, d)));
    }
    for (; k < n; k++) {
      const v = min(max(load<f32>(at(xr, k)), -1), 1);
      store<u8>(ur + <usize>k, <u8>(<i32>nearest<f32>(v * 63) + 64));
    }
  }
}

/**
 * Y[r] = scale7 ⊙ (Q XU[r] − 64·rowsum) (+ b): the int8 product on 7-bit states. Q as `gemmQ8`
 * packs it (blocks of 8 rows × 16-column chunks), `rowsums` each packed row's Σ Q as i32,
 * `scales7` each row's scale over 63, XU from `quantize7` (xuStride in bytes). Precondition as
 * `gemmQ8`'s: cols16 · 16 ≤ Q8_MAX_COLUMNS (the totals stay far inside i32).
 */
export function gemmQ7(wq: usize, rowsums: usize, scales7: usize, bias: usize, xu: usize, y: usize, blocks: i32, cols16: i32, n: i32, xuStride: i32, yStride: i32): void {
  if (cols16 > Q8_MAX_COLUMNS / 16) unreachable();
  const blockBytes = <usize>cols16 << 7;
  const yBytes = <usize>yStride << 2;
  let r = 0;
  // With the relaxed dot product, two batch rows share each weight load (the 4×2 tile: 8
  // accumulators, 2 state vectors, a weight vector, the 1s and a product live — TurboFan in Node
  // 20 keeps one accumulator on the stack); the standard-SIMD build widens both operands and
  // steps rows one at a time. Same integers.
  if (ASC_FEATURE_RELAXED_SIMD) {
    for (; r + 2 <= n; r += 2) {
      const ua = xu + <usize>r * <usize>xuStride;
      const ya = y + <usize>r * yBytes;
      for (let blk = 0; blk < blocks; blk++) {
        const wb = wq + <usize>blk * blockBytes;
        for (let half: usize = 0; half < 2; half++) {
          const o = (<usize>blk << 3) + (half << 2);
          gemmQ7Tile4x2(wb + (half << 6), ua, ua + <usize>xuStride, ya + (o << 2), ya + yBytes + (o << 2), rowsums + (o << 2), scales7 + (o << 2), cols16);
        }
        if (bias != 0) {
          addBias8(ya + (<usize>blk << 5), bias + (<usize>blk << 5));
          addBias8(ya + yBytes + (<usize>blk << 5), bias + (<usize>blk << 5));
        }
      }
    }
  }
  for (; r < n; r++) {
    const ur = xu + <usize>r * <usize>xuStride;
    const yr = y + <usize>r * yBytes;
    for (let blk = 0; blk < blocks; blk++) {
      const wb = wq + <usize>blk * blockBytes;
      const o = <usize>blk << 3; // the block's first output
      if (ASC_FEATURE_RELAXED_SIMD) {
        gemmQ7Tile8x1(wb, ur, yr + (o << 2), rowsums + (o << 2), scales7 + (o << 2), cols16);
      } else {
        for (let half: usize = 0; half < 2; half++) {
          const at = (o + (half << 2)) << 2; // byte offset of these 4 outputs
          gemmQ7Tile4x1(wb + (half << 6), ur, yr + at, rowsums + at, scales7 + at, cols16);
        }
      }
      if (bias != 0) addBias8(yr + (<usize>blk << 5), bias + (<usize>blk << 5));
    }
  }
}

/**
 * All 8 outputs of a packed block for one batch row (relaxed builds): one state vector per
 * 16-column chunk serves 8 weight vectors — 8 accumulators, the state, a weight, the 1s and a
 * product live (12; TurboFan in Node 20 still keeps two accumulators on the stack, and hoists
 * weight loads into two more slots) — half the state loads and loop steps of two 4-output passes.
 */
@inline function gemmQ7Tile8x1(w: usize, ur: usize, y: usize, rowsums: usize, scales7: usize, cols16: i32): void {
  let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
  let a4 = i32x4.splat(0), a5 = i32x4.splat(0), a6 = i32x4.splat(0), a7 = i32x4.splat(0);
  let p = w;
  const end = ur + <usize>cols16 * 16;
  const ones = i16x8.splat(1);
  for (let pu = ur; pu < end; pu += 16, p += 128) {
    const u = v128.load(pu);
    a0 = dot7(v128.load(p), u, a0, ones);
    a1 = dot7(v128.load(p, 16), u, a1, ones);
    a2 = dot7(v128.load(p, 32), u, a2, ones);
    a3 = dot7(v128.load(p, 48), u, a3, ones);
    a4 = dot7(v128.load(p, 64), u, a4, ones);
    a5 = dot7(v128.load(p, 80), u, a5, ones);
    a6 = dot7(v128.load(p, 96), u, a6, ones);
    a7 = dot7(v128.load(p, 112), u, a7, ones);
  }
  storeQ7(y, a0, a1, a2, a3, rowsums, scales7);
  storeQ7(y + 16, a4, a5, a6, a7, rowsums + 16, scales7 + 16);
}

/** `gemmQ7Tile4x1` for two batch rows at once (relaxed builds). */
@inline function gemmQ7Tile4x2(w: usize, ua: usize, ub: usize, ya: usize, yb: usize, rowsums: usize, scales7: usize, cols16: i32): void {
  let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
  let b0 = i32x4.splat(0), b1 = i32x4.splat(0), b2 = i32x4.splat(0), b3 = i32x4.splat(0);
  let p = w;
  const end = ua + <usize>cols16 * 16;
  const ones = i16x8.splat(1);
  for (let pa = ua, pb = ub; pa < end; pa += 16, pb += 16, p += 128) {
    const u = v128.load(pa), v = v128.load(pb);
    let q = v128.load(p);
    a0 = dot7(q, u, a0, ones);
    b0 = dot7(q, v, b0, ones);
    q = v128.load(p, 16);
    a1 = dot7(q, u, a1, ones);
    b1 = dot7(q, v, b1, ones);
    q = v128.load(p, 32);
    a2 = dot7(q, u, a2, ones);
    b2 = dot7(q, v, b2, ones);
    q = v128.load(p, 48);
    a3 = dot7(q, u, a3, ones);
    b3 = dot7(q, v, b3, ones);
  }
  storeQ7(ya, a0, a1, a2, a3, rowsums, scales7);
  storeQ7(yb, b0, b1, b2, b3, rowsums, scales7);
}

/**
 * 4 outputs of a packed block (w: the block + 64·half) for one batch row, on standard SIMD (the
 * builds without relaxed SIMD): both operands widened to int16, `dot_i16x8_s`. Exact totals, converted once.
 */
@inline function gemmQ7Tile4x1(w: usize, ur: usize, y: usize, rowsums: usize, scales7: usize, cols16: i32): void {
  let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
  let p = w;
  const end = ur + <usize>cols16 * 16;
  for (let pu = ur; pu < end; pu += 16, p += 128) {
    const ulo = v128.load8x8_u(pu), uhi = v128.load8x8_u(pu, 8);
    a0 = dotQ(p, 0, ulo, uhi, a0);
    a1 = dotQ(p, 16, ulo, uhi, a1);
    a2 = dotQ(p, 32, ulo, uhi, a2);
    a3 = dotQ(p, 48, ulo, uhi, a3);
  }
  storeQ7(y, a0, a1, a2, a3, rowsums, scales7);
}

/** y[0..3] = scale7 ⊙ (the exact totals of a, b, c, d − 64 · rowsum): a 4×4 transpose and integer adds, then one conversion each. */
@inline function storeQ7(y: usize, a0: v128, a1: v128, a2: v128, a3: v128, rowsums: usize, scales7: usize): void {
  const ab0 = v128.shuffle<i32>(a0, a1, 0, 4, 1, 5);
  const ab1 = v128.shuffle<i32>(a0, a1, 2, 6, 3, 7);
  const cd0 = v128.shuffle<i32>(a2, a3, 0, 4, 1, 5);
  const cd1 = v128.shuffle<i32>(a2, a3, 2, 6, 3, 7);
  const s0 = i32x4.add(ab0, ab1);
  const s1 = i32x4.add(cd0, cd1);
  const total = i32x4.add(v128.shuffle<i32>(s0, s1, 0, 1, 4, 5), v128.shuffle<i32>(s0, s1, 2, 3, 6, 7));
  const centred = i32x4.sub(total, i32x4.shl(v128.load(rowsums), 6));
  v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(centred), v128.load(scales7)));
}

/** y[0..3] (+)= the horizontal sums of a, b, c, d — a 4×4 transpose, then three adds. */
@inline function storeSums(y: usize, a: v128, b: v128, c: v128, d: v128, accumulate: bool): void {
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

/**
 * The B operand of `gemmNN`, packed: panels of 8 columns, panel p holding B[k, 8p … 8p+7] for
 * k = 0 … K−1 contiguously (the last panel zero-padded), ⌈N/8⌉ · K · 8 floats. The micro-kernel
 * then walks B sequentially and a panel (8 KB at K = 256) stays in L1 for every row tile of A;
 * row-major B with a 4 KB row stride put all K rows of a strip in one L1 set instead.
 * `transposed`: src is [N, K] and B = srcᵀ (the forward products X Wᵀ, on the stored W).
 */
export function packB8(src: usize, dst: usize, K: i32, N: i32, transposed: bool): void {
  if (K < 0 || N < 0) unreachable();
  const panels = (N + 7) >> 3;
  for (let p = 0; p < panels; p++) {
    const j0 = p << 3;
    const w = min(8, N - j0);
    const panel = dst + ((<usize>p * <usize>K) << 5);
    if (transposed) {
      for (let c = 0; c < 8; c++) {
        const out = panel + (<usize>c << 2);
        if (c >= w) {
          for (let k = 0; k < K; k++) store<f32>(out + (<usize>k << 5), 0);
          continue;
        }
        const row = src + ((<usize>(j0 + c) * <usize>K) << 2);
        for (let k = 0; k < K; k++) store<f32>(out + (<usize>k << 5), load<f32>(at(row, k)));
      }
    } else if (w == 8) {
      for (let k = 0; k < K; k++) {
        const from = src + ((<usize>k * <usize>N + <usize>j0) << 2);
        const to = panel + (<usize>k << 5);
        v128.store(to, v128.load(from));
        v128.store(to, v128.load(from, 16), 16);
      }
    } else {
      for (let k = 0; k < K; k++) {
        const from = src + ((<usize>k * <usize>N + <usize>j0) << 2);
        const to = panel + (<usize>k << 5);
        for (let c = 0; c < 8; c++) store<f32>(at(to, c), c < w ? load<f32>(at(from, c)) : 0);
      }
    }
  }
}

/**
 * C[M,N] (+)= A[M,K] · B[K,N] — every product of training (forward X W_ihᵀ, H W_hhᵀ; backward
 * dG W, dGᵀ X), A and C row-major, B packed by `packB8`. The outer-product form: each step of k
 * broadcasts one element of each of A's rows and multiplies a row of B's panel, so no output
 * needs a horizontal sum, and each output keeps one chain of multiply-adds over k in order (the
 * same bits for any M). Register tile 4 × 8 (`gemmF32Tile4x8`): 8 accumulators, 6 loads per 8
 * multiply-adds.
 */
export function gemmNN(a: usize, bp: usize, c: usize, M: i32, N: i32, K: i32, accumulate: bool): void {
  if (M < 0 || N < 0 || K < 0) unreachable();
  const lda = <usize>K << 2;
  const ldc = <usize>N << 2;
  const panelBytes = <usize>K << 5;
  for (let j = 0; j < N; j += 8) {
    const w = min(8, N - j);
    const panel = bp + <usize>(j >> 3) * panelBytes;
    let i = 0;
    for (; i + 4 <= M; i += 4) gemmF32Tile4x8(a + <usize>i * lda, lda, panel, c + <usize>i * ldc + (<usize>j << 2), ldc, K, w, accumulate);
    for (; i < M; i++) gemmF32Tile1x8(a + <usize>i * lda, panel, c + <usize>i * ldc + (<usize>j << 2), K, w, accumulate);
  }
}

/** C[0..3, 0..w) (+)= A[0..3, :] · panel: four rows of A (lda bytes apart) against one 8-column panel. */
@inline function gemmF32Tile4x8(a: usize, lda: usize, panel: usize, c: usize, ldc: usize, K: i32, w: i32, accumulate: bool): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  let a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda;
  let pb = panel;
  const end = a + (<usize>K << 2);
  for (; a0 < end; a0 += 4, a1 += 4, a2 += 4, a3 += 4, pb += 32) {
    const b0 = v128.load(pb), b1 = v128.load(pb, 16);
    let s = v128.load32_splat(a0);
    c00 = madd(s, b0, c00); c01 = madd(s, b1, c01);
    s = v128.load32_splat(a1);
    c10 = madd(s, b0, c10); c11 = madd(s, b1, c11);
    s = v128.load32_splat(a2);
    c20 = madd(s, b0, c20); c21 = madd(s, b1, c21);
    s = v128.load32_splat(a3);
    c30 = madd(s, b0, c30); c31 = madd(s, b1, c31);
  }
  storeRow8(c, c00, c01, w, accumulate);
  storeRow8(c + ldc, c10, c11, w, accumulate);
  storeRow8(c + 2 * ldc, c20, c21, w, accumulate);
  storeRow8(c + 3 * ldc, c30, c31, w, accumulate);
}

/** `gemmF32Tile4x8` for one row of A. */
@inline function gemmF32Tile1x8(a: usize, panel: usize, c: usize, K: i32, w: i32, accumulate: bool): void {
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0);
  let pb = panel;
  const end = a + (<usize>K << 2);
  for (let pa = a; pa < end; pa += 4, pb += 32) {
    const s = v128.load32_splat(pa);
    c0 = madd(s, v128.load(pb), c0);
    c1 = madd(s, v128.load(pb, 16), c1);
  }
  storeRow8(c, c0, c1, w, accumulate);
}

/** c[0..w) (+)= (lo, hi)[0..w): a tile row, all 8 lanes but at the last panel. */
@inline function storeRow8(c: usize, lo: v128, hi: v128, w: i32, accumulate: bool): void {
  if (w == 8) {
    v128.store(c, accumulate ? f32x4.add(v128.load(c), lo) : lo);
    v128.store(c, accumulate ? f32x4.add(v128.load(c, 16), hi) : hi, 16);
    return;
  }
  for (let q = 0; q < w; q++) {
    const v = q < 4 ? lane(lo, q) : lane(hi, q - 4);
    const p = at(c, q);
    store<f32>(p, accumulate ? load<f32>(p) + v : v);
  }
}

@inline function lane(v: v128, q: i32): f32 {
  if (q == 0) return f32x4.extract_lane(v, 0);
  if (q == 1) return f32x4.extract_lane(v, 1);
  if (q == 2) return f32x4.extract_lane(v, 2);
  return f32x4.extract_lane(v, 3);
}

/**
 * dst[cols, rows] = src[rows, cols]ᵀ, in 16×16 tiles so both sides stay in cache, each tile as
 * 4×4 blocks transposed in registers (four loads, eight shuffles, four stores) where the tile is
 * whole; ragged edges go one element at a time.
 */
export function transpose(src: usize, dst: usize, rows: i32, cols: i32): void {
  const sr = <usize>cols << 2; // bytes per source row
  const dr = <usize>rows << 2; // bytes per destination row
  for (let i0 = 0; i0 < rows; i0 += 16) {
    const i1 = min(i0 + 16, rows);
    for (let j0 = 0; j0 < cols; j0 += 16) {
      const j1 = min(j0 + 16, cols);
      if (i1 - i0 == 16 && j1 - j0 == 16) {
        for (let i = i0; i < i1; i += 4) {
          for (let j = j0; j < j1; j += 4) transpose4x4(src + <usize>i * sr + (<usize>j << 2), sr, dst + <usize>j * dr + (<usize>i << 2), dr);
        }
        continue;
      }
      for (let i = i0; i < i1; i++) {
        for (let j = j0; j < j1; j++) store<f32>(at(dst, j * rows + i), load<f32>(at(src, i * cols + j)));
      }
    }
  }
}

/** The 4×4 block at s (rows sr bytes apart), transposed into d (rows dr bytes apart). */
@inline function transpose4x4(s: usize, sr: usize, d: usize, dr: usize): void {
  const r0 = v128.load(s), r1 = v128.load(s + sr), r2 = v128.load(s + 2 * sr), r3 = v128.load(s + 3 * sr);
  const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5); // r00 r10 r01 r11
  const t1 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5); // r20 r30 r21 r31
  const t2 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7); // r02 r12 r03 r13
  const t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7); // r22 r32 r23 r33
  v128.store(d, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
  v128.store(d + dr, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7));
  v128.store(d + 2 * dr, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5));
  v128.store(d + 3 * dr, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7));
}

// ---------------------------------------------------------------------------------------------
// Small helpers the host uses around the products

/** x[r, :] += b for each of `rows` rows (bias broadcast). */
export function addRows(x: usize, b: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    const xr = x + ((<usize>r * <usize>cols) << 2);
    let k = 0;
    for (; k + 4 <= cols; k += 4) v128.store(at(xr, k), f32x4.add(v128.load(at(xr, k)), v128.load(at(b, k))));
    for (; k < cols; k++) store<f32>(at(xr, k), load<f32>(at(xr, k)) + load<f32>(at(b, k)));
  }
}

/** out[:] += Σ_r x[r, :] (bias gradients). */
export function addColumnSums(x: usize, out: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    const xr = x + ((<usize>r * <usize>cols) << 2);
    let k = 0;
    for (; k + 4 <= cols; k += 4) v128.store(at(out, k), f32x4.add(v128.load(at(out, k)), v128.load(at(xr, k))));
    for (; k < cols; k++) store<f32>(at(out, k), load<f32>(at(out, k)) + load<f32>(at(xr, k)));
  }
}

/**
 * One-hot input: out[r, :] = W[:, token_r] + b for W [G, V] — the column of W_ih that the
 * one-hot vector selects, so layer 0 never multiplies by zeros. Output rows are outStride apart.
 */
export function gatherColumns(w: usize, tokens: usize, b: usize, out: usize, rows: i32, G: i32, V: i32, outStride: i32): void {
  for (let r = 0; r < rows; r++) {
    const t = load<i32>(tokens + (<usize>r << 2));
    const o = out + ((<usize>r * <usize>outStride) << 2);
    for (let g = 0; g < G; g++) store<f32>(at(o, g), load<f32>(at(w, g * V + t)) + load<f32>(at(b, g)));
  }
}

/**
 * One-hot input from a transposed W_ih: out[r, :] = Wt[token_r, :] + b for Wt [V, G] — the row
 * generation keeps for each token, so the gather is contiguous and four lanes at a time (the
 * same sums as `gatherColumns`, one addition each). Output rows are outStride apart.
 */
export function gatherRows(wt: usize, tokens: usize, b: usize, out: usize, rows: i32, G: i32, outStride: i32): void {
  for (let r = 0; r < rows; r++) {
    const t = load<i32>(tokens + (<usize>r << 2));
    const w = wt + ((<usize>t * <usize>G) << 2);
    const o = out + ((<usize>r * <usize>outStride) << 2);
    let g = 0;
    for (; g + 4 <= G; g += 4) st(o, g, f32x4.add(ld(w, g), ld(b, g)));
    for (; g < G; g++) store<f32>(at(o, g), load<f32>(at(w, g)) + load<f32>(at(b, g)));
  }
}

/** dW[:, token_r] += dG[r, :] — the gradient of the one-hot gather. */
export function scatterColumns(dg: usize, tokens: usize, dw: usize, rows: i32, G: i32, V: i32): void {
  for (let r = 0; r < rows; r++) {
    const t = load<i32>(tokens + (<usize>r << 2));
    const d = dg + ((<usize>r * <usize>G) << 2);
    for (let g = 0; g < G; g++) {
      const p = at(dw, g * V + t);
      store<f32>(p, load<f32>(p) + load<f32>(at(d, g)));
    }
  }
}

/** Σ x² over n floats, in f64 (gradient clipping's global norm). */
export function sumSquares(x: usize, n: i32): f64 {
  let s: f64 = 0;
  for (let k = 0; k < n; k++) {
    const v = <f64>load<f32>(at(x, k));
    s += v * v;
  }
  return s;
}

/** out = a ⊙ b (dropout masks) */
export function mul(a: usize, b: usize, out: usize, n: i32): void {
  let k = 0;
  for (; k + 4 <= n; k += 4) v128.store(at(out, k), f32x4.mul(v128.load(at(a, k)), v128.load(at(b, k))));
  for (; k < n; k++) store<f32>(at(out, k), load<f32>(at(a, k)) * load<f32>(at(b, k)));
}

/** x *= s */
export function scale(x: usize, n: i32, s: f32): void {
  const v = f32x4.splat(s);
  let k = 0;
  for (; k + 4 <= n; k += 4) v128.store(at(x, k), f32x4.mul(v128.load(at(x, k)), v));
  for (; k < n; k++) store<f32>(at(x, k), load<f32>(at(x, k)) * s);
}

/** dst += src over n floats (summing the threads' gradients, in a fixed order). */
export function addInto(dst: usize, src: usize, n: i32): void {
  let k = 0;
  for (; k + 4 <= n; k += 4) v128.store(at(dst, k), f32x4.add(v128.load(at(dst, k)), v128.load(at(src, k))));
  for (; k < n; k++) store<f32>(at(dst, k), load<f32>(at(dst, k)) + load<f32>(at(src, k)));
}

/** SGD, d2l's `sgd`: θ -= lr · (s · g), s the clipping factor (1 when not clipped). */
export function sgd(p: usize, g: usize, n: i32, lr: f32, s: f32): void {
  const v = f32x4.splat(-lr);
  const sv = f32x4.splat(s);
  let k = 0;
  for (; k + 4 <= n; k += 4) v128.store(at(p, k), madd(f32x4.mul(v128.load(at(g, k)), sv), v, v128.load(at(p, k))));
  for (; k < n; k++) store<f32>(at(p, k), load<f32>(at(p, k)) - lr * (load<f32>(at(g, k)) * s));
}

/**
 * Adam (Kingma & Ba), as torch.optim.Adam without weight decay, on the clipped gradient s · g;
 * c1, c2 = 1 − β^t. Four lanes at a time; the square root and division are IEEE-exact in SIMD,
 * so every lane computes what the scalar loop would.
 */
export function adam(p: usize, g: usize, m: usize, v: usize, n: i32, lr: f32, b1: f32, b2: f32, eps: f32, c1: f32, c2: f32, s: f32): void {
  const B1 = f32x4.splat(b1), B1c = f32x4.splat(1 - b1), B2 = f32x4.splat(b2), B2c = f32x4.splat(1 - b2);
  const LR = f32x4.splat(lr), C1 = f32x4.splat(c1), C2 = f32x4.splat(c2), EPS = f32x4.splat(eps), S = f32x4.splat(s);
  let k = 0;
  for (; k + 4 <= n; k += 4) {
    const gk = f32x4.mul(v128.load(at(g, k)), S);
    const mk = f32x4.add(f32x4.mul(B1, v128.load(at(m, k))), f32x4.mul(B1c, gk));
    const vk = f32x4.add(f32x4.mul(B2, v128.load(at(v, k))), f32x4.mul(f32x4.mul(B2c, gk), gk));
    v128.store(at(m, k), mk);
    v128.store(at(v, k), vk);
    const step = f32x4.div(f32x4.mul(LR, f32x4.div(mk, C1)), f32x4.add(f32x4.sqrt(f32x4.div(vk, C2)), EPS));
    v128.store(at(p, k), f32x4.sub(v128.load(at(p, k)), step));
  }
  for (; k < n; k++) {
    const gk = load<f32>(at(g, k)) * s;
    const mk = b1 * load<f32>(at(m, k)) + (1 - b1) * gk;
    const vk = b2 * load<f32>(at(v, k)) + (1 - b2) * gk * gk;
    store<f32>(at(m, k), mk);
    store<f32>(at(v, k), vk);
    store<f32>(at(p, k), load<f32>(at(p, k)) - (lr * (mk / c1)) / (Mathf.sqrt(vk / c2) + eps));
  }
}

// ---------------------------------------------------------------------------------------------
// Cells. gx = X W_ihᵀ + b_ih and gh = H W_hhᵀ + b_hh, each [B, G·H], gate blocks in PyTorch order.

@inline function sigmoid(x: f32): f32 {
  return 1 / (1 + Mathf.exp(-x));
}

@inline function splat(x: f32): v128 {
  return f32x4.splat(x);
}

// The activations' constants, as 16-byte vectors in linear memory: V8 rebuilds a splatted
// constant at every use with three instructions through a general register (42 of expv's 80
// instructions were that), where a load from memory is one.
const E_LO = memory.data<f32>([-87.0, -87.0, -87.0, -87.0], 16);
const E_HI = memory.data<f32>([88.0, 88.0, 88.0, 88.0], 16);
const E_LOG2E = memory.data<f32>([1.44269504088896341, 1.44269504088896341, 1.44269504088896341, 1.44269504088896341], 16);
const E_LN2_HI = memory.data<f32>([0.693359375, 0.693359375, 0.693359375, 0.693359375], 16);
const E_LN2_LO = memory.data<f32>([-2.12194440e-4, -2.12194440e-4, -2.12194440e-4, -2.12194440e-4], 16);
const E_P0 = memory.data<f32>([1.9875691500e-4, 1.9875691500e-4, 1.9875691500e-4, 1.9875691500e-4], 16);
const E_P1 = memory.data<f32>([1.3981999507e-3, 1.3981999507e-3, 1.3981999507e-3, 1.3981999507e-3], 16);
const E_P2 = memory.data<f32>([8.3334519073e-3, 8.3334519073e-3, 8.3334519073e-3, 8.3334519073e-3], 16);
const E_P3 = memory.data<f32>([4.1665795894e-2, 4.1665795894e-2, 4.1665795894e-2, 4.1665795894e-2], 16);
const E_P4 = memory.data<f32>([1.6666665459e-1, 1.6666665459e-1, 1.6666665459e-1, 1.6666665459e-1], 16);
const E_P5 = memory.data<f32>([5.0000001201e-1, 5.0000001201e-1, 5.0000001201e-1, 5.0000001201e-1], 16);
const E_ONE = memory.data<f32>([1.0, 1.0, 1.0, 1.0], 16);
const E_TWO = memory.data<f32>([2.0, 2.0, 2.0, 2.0], 16);
const E_MAGIC = memory.data<f32>([12582912.0, 12582912.0, 12582912.0, 12582912.0], 16); // 1.5 · 2^23
const E_BIAS = memory.data<i32>([127 - 0x4B400000, 127 - 0x4B400000, 127 - 0x4B400000, 127 - 0x4B400000], 16);

/**
 * e^x on four lanes (Cephes' expf: range reduction by ln 2, degree-6 polynomial, 2^n by
 * exponent bits), within 2 ulp of Mathf.exp on [-87, 88]. The scalar library calls were most
 * of a generation step's time.
 */
@inline function expv(x: v128): v128 {
  // pmin/pmax are one instruction each where min/max are a NaN- and ±0-exact sequence; against
  // these constants they give the same bits (a NaN input stays NaN).
  x = f32x4.pmin(f32x4.pmax(x, v128.load(E_LO)), v128.load(E_HI));
  const n = f32x4.nearest(f32x4.mul(x, v128.load(E_LOG2E)));
  let r = f32x4.sub(x, f32x4.mul(n, v128.load(E_LN2_HI)));
  r = f32x4.sub(r, f32x4.mul(n, v128.load(E_LN2_LO)));
  let p = v128.load(E_P0);
  p = f32x4.add(f32x4.mul(p, r), v128.load(E_P1));
  p = f32x4.add(f32x4.mul(p, r), v128.load(E_P2));
  p = f32x4.add(f32x4.mul(p, r), v128.load(E_P3));
  p = f32x4.add(f32x4.mul(p, r), v128.load(E_P4));
  p = f32x4.add(f32x4.mul(p, r), v128.load(E_P5));
  p = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(p, r), r), r), v128.load(E_ONE));
  // 2^n from n's bits: n + 1.5·2^23 holds the integer n in its low mantissa bits, so its bit
  // pattern minus 0x4B400000 is n (|n| ≤ 127) — three cheap ops where trunc_sat is a long sequence.
  const scale = i32x4.shl(i32x4.add(f32x4.add(n, v128.load(E_MAGIC)), v128.load(E_BIAS)), 23);
  return f32x4.mul(p, scale);
}

@inline function sigmoidv(x: v128): v128 {
  const one = v128.load(E_ONE);
  return f32x4.div(one, f32x4.add(one, expv(f32x4.neg(x))));
}

/** tanh x = 1 − 2 / (1 + e^{2x}): absolute error ~1e-7, which is what the cells need. */
@inline function tanhv(x: v128): v128 {
  const one = v128.load(E_ONE);
  return f32x4.sub(one, f32x4.div(v128.load(E_TWO), f32x4.add(one, expv(f32x4.add(x, x)))));
}

@inline function ld(p: usize, i: i32): v128 {
  return v128.load(at(p, i));
}

@inline function st(p: usize, i: i32, v: v128): void {
  v128.store(at(p, i), v);
}

/**
 * out[k] = σ(x[k] + y[k]), or tanh with `tanh`, over n floats, eight at a time: two independent
 * chains of expv's polynomial in flight per iteration, which its latency needs. Whatever the
 * unrolling, element k takes the vector path iff k + 4 ≤ n (its bits do not depend on n's other
 * elements). Inlined with a constant `tanh`, so each call site keeps one activation and no branch.
 */
@inline function activateSum(x: usize, y: usize, out: usize, n: i32, tanh: bool): void {
  let k = 0;
  for (; k + 8 <= n; k += 8) {
    const u = f32x4.add(ld(x, k), ld(y, k));
    const v = f32x4.add(ld(x, k + 4), ld(y, k + 4));
    const a = tanh ? tanhv(u) : sigmoidv(u);
    const b = tanh ? tanhv(v) : sigmoidv(v);
    st(out, k, a);
    st(out, k + 4, b);
  }
  for (; k + 4 <= n; k += 4) {
    const u = f32x4.add(ld(x, k), ld(y, k));
    st(out, k, tanh ? tanhv(u) : sigmoidv(u));
  }
  for (; k < n; k++) {
    const u = load<f32>(at(x, k)) + load<f32>(at(y, k));
    store<f32>(at(out, k), tanh ? Mathf.tanh(u) : sigmoid(u));
  }
}

/** LSTM's memory for four units at j: c = f⊙c_prev + i⊙g, stored at c + s and returned. */
@inline function lstmCell4(acts: usize, row: i32, H: i32, cPrev: usize, c: usize, s: i32, j: i32): v128 {
  const cj = f32x4.add(f32x4.mul(ld(acts, row + H + j), ld(cPrev, s)), f32x4.mul(ld(acts, row + j), ld(acts, row + 2 * H + j)));
  st(c, s, cj);
  return cj;
}

/**
 * LSTM (gates i, f, g, o): c = f⊙c_prev + i⊙g, h = o⊙tanh(c). `acts` keeps the activated gates
 * for the backward pass (it may alias gx), and `tc` (when not 0) tanh(c), which the backward pass
 * then reads instead of recomputing it. Gate rows (gx, gh, acts) are gStride floats apart,
 * state rows (c, h) sStride apart: training packs them (4H, H), generation pads them for SIMD.
 * Every row is computed alone, the same way for any B.
 *
 * Two passes per row: each gate block activated on its own, then the cell. One loop doing all
 * five activations of four units was one long chain of dependent polynomial steps per iteration,
 * which the CPU could not overlap; short loops of one activation each it can (2-3× faster, the
 * same bits: every element goes through the same operations either way).
 */
export function lstmForward(gx: usize, gh: usize, acts: usize, cPrev: usize, c: usize, h: usize, B: i32, H: i32, gStride: i32, sStride: i32, tc: usize): void {
  for (let b = 0; b < B; b++) {
    const row = b * gStride;
    const s0 = b * sStride;
    activateSum(at(gx, row), at(gh, row), at(acts, row), H, false); // i
    activateSum(at(gx, row + H), at(gh, row + H), at(acts, row + H), H, false); // f
    activateSum(at(gx, row + 2 * H), at(gh, row + 2 * H), at(acts, row + 2 * H), H, true); // g
    activateSum(at(gx, row + 3 * H), at(gh, row + 3 * H), at(acts, row + 3 * H), H, false); // o
    let j = 0;
    for (; j + 8 <= H; j += 8) {
      const ta = tanhv(lstmCell4(acts, row, H, cPrev, c, s0 + j, j));
      const tb = tanhv(lstmCell4(acts, row, H, cPrev, c, s0 + j + 4, j + 4));
      st(h, s0 + j, f32x4.mul(ld(acts, row + 3 * H + j), ta));
      st(h, s0 + j + 4, f32x4.mul(ld(acts, row + 3 * H + j + 4), tb));
      if (tc) {
        st(tc, s0 + j, ta);
        st(tc, s0 + j + 4, tb);
      }
    }
    for (; j + 4 <= H; j += 4) {
      const t = tanhv(lstmCell4(acts, row, H, cPrev, c, s0 + j, j));
      st(h, s0 + j, f32x4.mul(ld(acts, row + 3 * H + j), t));
      if (tc) st(tc, s0 + j, t);
    }
    for (; j < H; j++) {
      const cj = load<f32>(at(acts, row + H + j)) * load<f32>(at(cPrev, s0 + j)) + load<f32>(at(acts, row + j)) * load<f32>(at(acts, row + 2 * H + j));
      store<f32>(at(c, s0 + j), cj);
      const t = Mathf.tanh(cj);
      store<f32>(at(h, s0 + j), load<f32>(at(acts, row + 3 * H + j)) * t);
      if (tc) store<f32>(at(tc, s0 + j), t);
    }
  }
}

/**
 * LSTM backward for one step. In: dh (from above and from t+1), dc (from t+1; overwritten with
 * the gradient for c_prev), tc = tanh(c) kept by the forward pass. Out: dGates [B, 4H], the
 * gradient of the pre-activations. Element-wise products only: four lanes at a time give the
 * scalar loop's results exactly.
 */
export function lstmBackward(acts: usize, cPrev: usize, tc: usize, dh: usize, dc: usize, dGates: usize, B: i32, H: i32): void {
  const one = splat(1);
  for (let b = 0; b < B; b++) {
    const row = b * 4 * H;
    let j = 0;
    for (; j + 4 <= H; j += 4) {
      const s = b * H + j;
      const i = ld(acts, row + j);
      const f = ld(acts, row + H + j);
      const g = ld(acts, row + 2 * H + j);
      const o = ld(acts, row + 3 * H + j);
      const t = ld(tc, s);
      const dhs = ld(dh, s);
      const dcs = f32x4.add(ld(dc, s), f32x4.mul(f32x4.mul(dhs, o), f32x4.sub(one, f32x4.mul(t, t))));
      st(dGates, row + j, f32x4.mul(f32x4.mul(f32x4.mul(dcs, g), i), f32x4.sub(one, i)));
      st(dGates, row + H + j, f32x4.mul(f32x4.mul(f32x4.mul(dcs, ld(cPrev, s)), f), f32x4.sub(one, f)));
      st(dGates, row + 2 * H + j, f32x4.mul(f32x4.mul(dcs, i), f32x4.sub(one, f32x4.mul(g, g))));
      st(dGates, row + 3 * H + j, f32x4.mul(f32x4.mul(f32x4.mul(dhs, t), o), f32x4.sub(one, o)));
      st(dc, s, f32x4.mul(dcs, f));
    }
    for (; j < H; j++) {
      const s = b * H + j;
      const i = load<f32>(at(acts, row + j));
      const f = load<f32>(at(acts, row + H + j));
      const g = load<f32>(at(acts, row + 2 * H + j));
      const o = load<f32>(at(acts, row + 3 * H + j));
      const t = load<f32>(at(tc, s));
      const dhs = load<f32>(at(dh, s));
      const dcs = load<f32>(at(dc, s)) + dhs * o * (1 - t * t);
      store<f32>(at(dGates, row + j), dcs * g * i * (1 - i));
      store<f32>(at(dGates, row + H + j), dcs * load<f32>(at(cPrev, s)) * f * (1 - f));
      store<f32>(at(dGates, row + 2 * H + j), dcs * i * (1 - g * g));
      store<f32>(at(dGates, row + 3 * H + j), dhs * t * o * (1 - o));
      store<f32>(at(dc, s), dcs * f);
    }
  }
}

/**
 * GRU (gates r, z, n, PyTorch's equations): n = tanh(gx_n + r⊙gh_n), h = (1−z)⊙n + z⊙h_prev.
 * `acts` keeps r, z, n; gh must be kept too (gh_n enters the backward pass). Strides as for
 * `lstmForward`; h may alias hPrev.
 */
export function gruForward(gx: usize, gh: usize, acts: usize, hPrev: usize, h: usize, B: i32, H: i32, gStride: i32, sStride: i32): void {
  for (let b = 0; b < B; b++) {
    const row = b * gStride;
    const s0 = b * sStride;
    activateSum(at(gx, row), at(gh, row), at(acts, row), H, false); // r (two passes, as lstmForward)
    activateSum(at(gx, row + H), at(gh, row + H), at(acts, row + H), H, false); // z
    let j = 0;
    for (; j + 4 <= H; j += 4) {
      const n = tanhv(f32x4.add(ld(gx, row + 2 * H + j), f32x4.mul(ld(acts, row + j), ld(gh, row + 2 * H + j))));
      const z = ld(acts, row + H + j);
      st(acts, row + 2 * H + j, n);
      st(h, s0 + j, f32x4.add(f32x4.mul(f32x4.sub(splat(1), z), n), f32x4.mul(z, ld(hPrev, s0 + j))));
    }
    for (; j < H; j++) {
      const n = Mathf.tanh(load<f32>(at(gx, row + 2 * H + j)) + load<f32>(at(acts, row + j)) * load<f32>(at(gh, row + 2 * H + j)));
      const z = load<f32>(at(acts, row + H + j));
      store<f32>(at(acts, row + 2 * H + j), n);
      store<f32>(at(h, s0 + j), (1 - z) * n + z * load<f32>(at(hPrev, s0 + j)));
    }
  }
}

/**
 * GRU backward for one step. dGx and dGh are the gradients of gx and gh (they differ only in the
 * n block, where gh_n sits behind r). dhPrev receives the direct path z⊙dh; the host adds dGh W_hh.
 */
export function gruBackward(acts: usize, gh: usize, hPrev: usize, dh: usize, dGx: usize, dGh: usize, dhPrev: usize, B: i32, H: i32): void {
  const one = f32x4.splat(1);
  for (let b = 0; b < B; b++) {
    const row = b * 3 * H;
    let j = 0;
    // Four lanes at a time: element-wise products and differences only, so the lanes compute
    // exactly what the scalar loop below does.
    for (; j + 4 <= H; j += 4) {
      const s = b * H + j;
      const r = ld(acts, row + j);
      const z = ld(acts, row + H + j);
      const n = ld(acts, row + 2 * H + j);
      const dhs = ld(dh, s);
      const dN = f32x4.mul(f32x4.mul(dhs, f32x4.sub(one, z)), f32x4.sub(one, f32x4.mul(n, n)));
      const dZ = f32x4.mul(f32x4.mul(f32x4.mul(dhs, f32x4.sub(ld(hPrev, s), n)), z), f32x4.sub(one, z));
      const dR = f32x4.mul(f32x4.mul(f32x4.mul(dN, ld(gh, row + 2 * H + j)), r), f32x4.sub(one, r));
      st(dGx, row + j, dR);
      st(dGx, row + H + j, dZ);
      st(dGx, row + 2 * H + j, dN);
      st(dGh, row + j, dR);
      st(dGh, row + H + j, dZ);
      st(dGh, row + 2 * H + j, f32x4.mul(dN, r));
      st(dhPrev, s, f32x4.mul(dhs, z));
    }
    for (; j < H; j++) {
      const s = b * H + j;
      const r = load<f32>(at(acts, row + j));
      const z = load<f32>(at(acts, row + H + j));
      const n = load<f32>(at(acts, row + 2 * H + j));
      const dhs = load<f32>(at(dh, s));
      const dN = dhs * (1 - z) * (1 - n * n);
      const dZ = dhs * (load<f32>(at(hPrev, s)) - n) * z * (1 - z);
      const dR = dN * load<f32>(at(gh, row + 2 * H + j)) * r * (1 - r);
      store<f32>(at(dGx, row + j), dR);
      store<f32>(at(dGx, row + H + j), dZ);
      store<f32>(at(dGx, row + 2 * H + j), dN);
      store<f32>(at(dGh, row + j), dR);
      store<f32>(at(dGh, row + H + j), dZ);
      store<f32>(at(dGh, row + 2 * H + j), dN * r);
      store<f32>(at(dhPrev, s), dhs * z);
    }
  }
}

/** Plain RNN: h = tanh(gx + gh). Strides as for `lstmForward`. */
export function rnnForward(gx: usize, gh: usize, h: usize, B: i32, H: i32, gStride: i32, sStride: i32): void {
  for (let b = 0; b < B; b++) {
    const row = b * gStride;
    const s0 = b * sStride;
    let j = 0;
    for (; j + 4 <= H; j += 4) st(h, s0 + j, tanhv(f32x4.add(ld(gx, row + j), ld(gh, row + j))));
    for (; j < H; j++) store<f32>(at(h, s0 + j), Mathf.tanh(load<f32>(at(gx, row + j)) + load<f32>(at(gh, row + j))));
  }
}

/** dG = dh ⊙ (1 − h²) */
export function rnnBackward(h: usize, dh: usize, dG: usize, B: i32, H: i32): void {
  const n = B * H;
  const one = f32x4.splat(1);
  let k = 0;
  for (; k + 4 <= n; k += 4) {
    const hk = ld(h, k);
    st(dG, k, f32x4.mul(ld(dh, k), f32x4.sub(one, f32x4.mul(hk, hk))));
  }
  for (; k < n; k++) {
    const hk = load<f32>(at(h, k));
    store<f32>(at(dG, k), load<f32>(at(dh, k)) * (1 - hk * hk));
  }
}

/**
 * Mean cross-entropy over N rows of logits [N, V] with integer targets. Writes the gradient of
 * (Σ loss) · gradScale into dLogits and returns Σ loss (f64), so the host can form perplexity.
 */
export function softmaxCrossEntropy(logits: usize, targets: usize, dLogits: usize, N: i32, V: i32, gradScale: f32): f64 {
  let total: f64 = 0;
  for (let r = 0; r < N; r++) {
    const lr = logits + ((<usize>r * <usize>V) << 2);
    const dr = dLogits + ((<usize>r * <usize>V) << 2);
    let mx = load<f32>(lr);
    for (let k = 1; k < V; k++) mx = max(mx, load<f32>(at(lr, k)));
    let sum: f64 = 0;
    for (let k = 0; k < V; k++) {
      const e = Mathf.exp(load<f32>(at(lr, k)) - mx);
      store<f32>(at(dr, k), e);
      sum += <f64>e;
    }
    const t = load<i32>(targets + (<usize>r << 2));
    total += Math.log(sum) - <f64>(load<f32>(at(lr, t)) - mx);
    const inv = <f32>(1 / sum);
    for (let k = 0; k < V; k++) store<f32>(at(dr, k), load<f32>(at(dr, k)) * inv * gradScale);
    store<f32>(at(dr, t), load<f32>(at(dr, t)) - gradScale);
  }
  return total;
}
