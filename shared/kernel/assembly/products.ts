// Generation's products: one batched step's matrix products on f32 weights (gemmPacked), on int8
// weights with int16 states (gemmQ8) and with 7-bit states (gemmQ7), and the states' quantizers.
// Each driver walks packed blocks (simd.ts) and hands them to register tiles named, as XNNPACK
// names its microkernels, by operation, tile and instruction set:
//   gemmF32_4x2c4__wasmsimd       4 outputs × 2 batch rows, 4-column chunks, f32 multiply-adds
//   gemmQ8_4x2c16__wasmsimd_dot16 4 outputs × 2 rows, 16-column int8 chunks, i32x4.dot_i16x8_s
//   gemmQ7_8x1c16__wasmrelaxedsimd_dot7  8 outputs × 1 row, the relaxed 7-bit dot (or dot-add)
// and the 1-row variants. Every output is computed by the same operations whatever the batch,
// so a row's text never depends on who else is in the batch.
import { addBias8, at, BLOCK_OUT_BYTES, BLOCK_ROWS, CHUNK_BYTES, HALF_CHUNK_BYTES, ld, madd, storeSums, TILE_OUT_BYTES } from './simd';

/**
 * acc + the 7-bit product of 16 int8 weights w and 16 states u ∈ [1, 127], four lanes of four:
 * one dot-add (kernel-dotadd.wasm), or the i16 dot widened by a dot with `ones` (i16x8 of 1s,
 * which the tile holds in a register). The same exact integers — the 7-bit operand is where every
 * lowering of both agrees. Widening with `extadd_pairwise_i16x8_s` is the same sum, but V8 has
 * read its 1s from memory at every use and spilled more of the 8×1 tile (docs/benchmarks.md).
 */
@inline export function dot7(w: v128, u: v128, acc: v128, ones: v128): v128 {
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
  const blockBytes = <usize>cols4 * CHUNK_BYTES;
  const xBytes = <usize>xStride << 2;
  const yBytes = <usize>yStride << 2;
  for (let r0 = 0; r0 < n; r0 += ROW_TILE) {
    const r1 = min(r0 + ROW_TILE, n);
    for (let blk = 0; blk < blocks; blk++) {
      const wb = wp + <usize>blk * blockBytes;
      const bb = bias + <usize>blk * BLOCK_OUT_BYTES;
      const yo = <usize>blk * BLOCK_OUT_BYTES;
      // As gemmQ8: two batch rows share each weight load (the 4×2 tile), then the last row alone.
      // Each output keeps its own accumulator over the chunks in order, so its bits do not move.
      let r = r0;
      for (; r + 2 <= r1; r += 2) {
        const xa = x + <usize>r * xBytes;
        const ya = y + <usize>r * yBytes + yo;
        for (let half: usize = 0; half < 2; half++) gemmF32_4x2c4__wasmsimd(wb + half * HALF_CHUNK_BYTES, xa, xa + xBytes, ya + half * TILE_OUT_BYTES, ya + yBytes + half * TILE_OUT_BYTES, cols4);
        if (bias) {
          addBias8(ya, bb);
          addBias8(ya + yBytes, bb);
        }
      }
      if (r < r1) {
        const xa = x + <usize>r * xBytes;
        const ya = y + <usize>r * yBytes + yo;
        for (let half: usize = 0; half < 2; half++) gemmF32_4x1c4__wasmsimd(wb + half * HALF_CHUNK_BYTES, xa, ya + half * TILE_OUT_BYTES, cols4);
        if (bias) addBias8(ya, bb);
      }
    }
  }
}

/** 4 outputs of a packed 8-row f32 block (w: the block + 64·half) for batch rows a and b. */
@inline function gemmF32_4x2c4__wasmsimd(w: usize, xa: usize, xb: usize, ya: usize, yb: usize, cols4: i32): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
  let p = w;
  const end = xa + (<usize>cols4 << 4);
  for (let pa = xa, pb = xb; pa < end; pa += 16, pb += 16, p += CHUNK_BYTES) {
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

/** `gemmF32_4x2c4__wasmsimd` for one batch row. */
@inline function gemmF32_4x1c4__wasmsimd(w: usize, xa: usize, ya: usize, cols4: i32): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let p = w;
  const end = xa + (<usize>cols4 << 4);
  for (let pa = xa; pa < end; pa += 16, p += CHUNK_BYTES) {
    const u = v128.load(pa);
    a0 = madd(v128.load(p, 0), u, a0);
    a1 = madd(v128.load(p, 16), u, a1);
    a2 = madd(v128.load(p, 32), u, a2);
    a3 = madd(v128.load(p, 48), u, a3);
  }
  storeSums(ya, a0, a1, a2, a3, false);
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
  const blockBytes = <usize>cols16 * CHUNK_BYTES;
  const xBytes = <usize>xqStride << 1;
  const yBytes = <usize>yStride << 2;
  for (let r0 = 0; r0 < n; r0 += ROW_TILE) {
    const r1 = min(r0 + ROW_TILE, n);
    for (let blk = 0; blk < blocks; blk++) {
      const wb = wq + <usize>blk * blockBytes;
      const sb = scales + <usize>blk * BLOCK_OUT_BYTES;
      const bb = bias + <usize>blk * BLOCK_OUT_BYTES;
      const yo = <usize>blk * BLOCK_OUT_BYTES;
      // Two rows of the batch share each weight load and its widening (the 4×2 tile), then the
      // last row alone (4×1). Each output lane sums the same products in both: exact integers.
      let r = r0;
      for (; r + 2 <= r1; r += 2) {
        const xa = xq + <usize>r * xBytes;
        const ya = y + <usize>r * yBytes + yo;
        for (let half: usize = 0; half < 2; half++) {
          gemmQ8_4x2c16__wasmsimd_dot16(wb + half * HALF_CHUNK_BYTES, xa, xa + xBytes, ya + half * TILE_OUT_BYTES, ya + yBytes + half * TILE_OUT_BYTES, cols16);
        }
        finishQ8(ya, sb, bb, bias != 0);
        finishQ8(ya + yBytes, sb, bb, bias != 0);
      }
      if (r < r1) {
        const xa = xq + <usize>r * xBytes;
        const ya = y + <usize>r * yBytes + yo;
        for (let half: usize = 0; half < 2; half++) gemmQ8_4x1c16__wasmsimd_dot16(wb + half * HALF_CHUNK_BYTES, xa, ya + half * TILE_OUT_BYTES, cols16);
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
@inline function gemmQ8_4x2c16__wasmsimd_dot16(w: usize, xa: usize, xb: usize, ya: usize, yb: usize, cols16: i32): void {
  let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
  let b0 = i32x4.splat(0), b1 = i32x4.splat(0), b2 = i32x4.splat(0), b3 = i32x4.splat(0);
  let p = w;
  const end = xa + (<usize>cols16 << 5);
  for (let pa = xa, pb = xb; pa < end; pa += 32, pb += 32, p += CHUNK_BYTES) {
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

/** `gemmQ8_4x2c16__wasmsimd_dot16` for one batch row. */
@inline function gemmQ8_4x1c16__wasmsimd_dot16(w: usize, xa: usize, ya: usize, cols16: i32): void {
  let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
  let p = w;
  const end = xa + (<usize>cols16 << 5);
  for (let pa = xa; pa < end; pa += 32, p += CHUNK_BYTES) {
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
  const blockBytes = <usize>cols16 * CHUNK_BYTES;
  const yBytes = <usize>yStride << 2;
  let r = 0;
  // With the relaxed dot product, two batch rows share each weight load (the 4×2 tile: 8
  // accumulators, 2 state vectors, a weight vector, the 1s and a product live); the standard-SIMD
  // build widens both operands and steps rows one at a time. Same integers.
  if (ASC_FEATURE_RELAXED_SIMD) {
    for (; r + 2 <= n; r += 2) {
      const ua = xu + <usize>r * <usize>xuStride;
      const ya = y + <usize>r * yBytes;
      for (let blk = 0; blk < blocks; blk++) {
        const wb = wq + <usize>blk * blockBytes;
        for (let half: usize = 0; half < 2; half++) {
          const o = <usize>blk * BLOCK_ROWS + half * 4; // the tile's first output
          gemmQ7_4x2c16__wasmrelaxedsimd_dot7(wb + half * HALF_CHUNK_BYTES, ua, ua + <usize>xuStride, ya + (o << 2), ya + yBytes + (o << 2), rowsums + (o << 2), scales7 + (o << 2), cols16);
        }
        if (bias != 0) {
          addBias8(ya + <usize>blk * BLOCK_OUT_BYTES, bias + <usize>blk * BLOCK_OUT_BYTES);
          addBias8(ya + yBytes + <usize>blk * BLOCK_OUT_BYTES, bias + <usize>blk * BLOCK_OUT_BYTES);
        }
      }
    }
  }
  for (; r < n; r++) {
    const ur = xu + <usize>r * <usize>xuStride;
    const yr = y + <usize>r * yBytes;
    for (let blk = 0; blk < blocks; blk++) {
      const wb = wq + <usize>blk * blockBytes;
      const o = <usize>blk * BLOCK_ROWS; // the block's first output
      if (ASC_FEATURE_RELAXED_SIMD) {
        gemmQ7_8x1c16__wasmrelaxedsimd_dot7(wb, ur, yr + (o << 2), rowsums + (o << 2), scales7 + (o << 2), cols16);
      } else {
        for (let half: usize = 0; half < 2; half++) {
          const at = (o + (half << 2)) << 2; // byte offset of these 4 outputs
          gemmQ7_4x1c16__wasmsimd_dot16(wb + half * HALF_CHUNK_BYTES, ur, yr + at, rowsums + at, scales7 + at, cols16);
        }
      }
      if (bias != 0) addBias8(yr + <usize>blk * BLOCK_OUT_BYTES, bias + <usize>blk * BLOCK_OUT_BYTES);
    }
  }
}

/**
 * All 8 outputs of a packed block for one batch row (relaxed builds): one state vector per
 * 16-column chunk serves 8 weight vectors — 8 accumulators, the state, a weight, the 1s and a
 * product live (12 registers of 16) — half the state loads and loop steps of two 4-output passes.
 */
@inline function gemmQ7_8x1c16__wasmrelaxedsimd_dot7(w: usize, ur: usize, y: usize, rowsums: usize, scales7: usize, cols16: i32): void {
  let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
  let a4 = i32x4.splat(0), a5 = i32x4.splat(0), a6 = i32x4.splat(0), a7 = i32x4.splat(0);
  let p = w;
  const end = ur + <usize>cols16 * 16;
  const ones = i16x8.splat(1);
  for (let pu = ur; pu < end; pu += 16, p += CHUNK_BYTES) {
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

/** `gemmQ7_4x1c16__wasmsimd_dot16` for two batch rows at once (relaxed builds). */
@inline function gemmQ7_4x2c16__wasmrelaxedsimd_dot7(w: usize, ua: usize, ub: usize, ya: usize, yb: usize, rowsums: usize, scales7: usize, cols16: i32): void {
  let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
  let b0 = i32x4.splat(0), b1 = i32x4.splat(0), b2 = i32x4.splat(0), b3 = i32x4.splat(0);
  let p = w;
  const end = ua + <usize>cols16 * 16;
  const ones = i16x8.splat(1);
  for (let pa = ua, pb = ub; pa < end; pa += 16, pb += 16, p += CHUNK_BYTES) {
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
@inline function gemmQ7_4x1c16__wasmsimd_dot16(w: usize, ur: usize, y: usize, rowsums: usize, scales7: usize, cols16: i32): void {
  let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
  let p = w;
  const end = ur + <usize>cols16 * 16;
  for (let pu = ur; pu < end; pu += 16, p += CHUNK_BYTES) {
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
