// The recurrent cells, forward and backward: LSTM, GRU and plain RNN on the pre-activations
// gx = X W_ihᵀ + b_ih and gh = H W_hhᵀ + b_hh, each [B, G·H], gate blocks in PyTorch order; and
// the vector activations they share (expv, sigmoidv, tanhv). Generation and training both run them.
import { at, ld, splat, st } from './simd';

@inline function sigmoid(x: f32): f32 {
  return 1 / (1 + Mathf.exp(-x));
}


// The activations' constants, as 16-byte vectors in linear memory: V8 rebuilds a splatted
// constant at every use with three instructions through a general register, where a load from
// memory is one.
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
