// Training's loops besides the cells and the optimizers: the products of a window (gemmNN on
// B packed by packB8, register tile gemmF32_4x8__wasmsimd_splat: XNNPACK's broadcast form),
// transposes, the one-hot gathers (generation's gatherRows too), bias sums, the element-wise
// helpers of dropout and the threads' reduction, and softmax cross-entropy.
import { at, ld, madd, st } from './simd';

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
 * same bits for any M). Register tile 4 × 8 (`gemmF32_4x8__wasmsimd_splat`): 8 accumulators, 6 loads per 8
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
    for (; i + 4 <= M; i += 4) gemmF32_4x8__wasmsimd_splat(a + <usize>i * lda, lda, panel, c + <usize>i * ldc + (<usize>j << 2), ldc, K, w, accumulate);
    for (; i < M; i++) gemmF32_1x8__wasmsimd_splat(a + <usize>i * lda, panel, c + <usize>i * ldc + (<usize>j << 2), K, w, accumulate);
  }
}

/** C[0..3, 0..w) (+)= A[0..3, :] · panel: four rows of A (lda bytes apart) against one 8-column panel. */
@inline function gemmF32_4x8__wasmsimd_splat(a: usize, lda: usize, panel: usize, c: usize, ldc: usize, K: i32, w: i32, accumulate: bool): void {
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

/** `gemmF32_4x8__wasmsimd_splat` for one row of A. */
@inline function gemmF32_1x8__wasmsimd_splat(a: usize, panel: usize, c: usize, K: i32, w: i32, accumulate: bool): void {
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
          for (let j = j0; j < j1; j += 4) transpose_4x4__wasmsimd(src + <usize>i * sr + (<usize>j << 2), sr, dst + <usize>j * dr + (<usize>i << 2), dr);
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
@inline function transpose_4x4__wasmsimd(s: usize, sr: usize, d: usize, dr: usize): void {
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
