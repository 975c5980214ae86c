// The instruction ceilings the kernel runs against (npm run bench:ceiling). The float loops keep
// ten independent accumulator chains of one instruction busy, no memory traffic. The integer
// loops are the kernel's own inner sequences — weights loaded every iteration (from a 4 KiB ring
// that stays in L1, the addresses moving with the loop so nothing can be hoisted or reused), six
// accumulators, nothing spilled — so their rate is what the kernel's products can issue.

/** f32x4.relaxed_madd (fused multiply-add where the engine has relaxed SIMD): 10 chains × 4 lanes. */
export function fma(n: i32, p: usize): f32 {
  const x = v128.load(p),
    y = v128.load(p, 16);
  let a0 = x,
    a1 = x,
    a2 = x,
    a3 = x,
    a4 = x,
    a5 = x,
    a6 = x,
    a7 = x,
    a8 = x,
    a9 = x;
  for (let i = 0; i < n; i++) {
    a0 = f32x4.relaxed_madd(a0, y, x);
    a1 = f32x4.relaxed_madd(a1, y, x);
    a2 = f32x4.relaxed_madd(a2, y, x);
    a3 = f32x4.relaxed_madd(a3, y, x);
    a4 = f32x4.relaxed_madd(a4, y, x);
    a5 = f32x4.relaxed_madd(a5, y, x);
    a6 = f32x4.relaxed_madd(a6, y, x);
    a7 = f32x4.relaxed_madd(a7, y, x);
    a8 = f32x4.relaxed_madd(a8, y, x);
    a9 = f32x4.relaxed_madd(a9, y, x);
  }
  return f32x4.extract_lane(
    f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)), f32x4.add(a8, a9))),
    0,
  );
}

/** f32x4.mul + f32x4.add (portable SIMD: two roundings): 10 chains × 4 lanes. */
export function mulAdd(n: i32, p: usize): f32 {
  const x = v128.load(p),
    y = v128.load(p, 16);
  let a0 = x,
    a1 = x,
    a2 = x,
    a3 = x,
    a4 = x,
    a5 = x,
    a6 = x,
    a7 = x,
    a8 = x,
    a9 = x;
  for (let i = 0; i < n; i++) {
    a0 = f32x4.add(f32x4.mul(a0, y), x);
    a1 = f32x4.add(f32x4.mul(a1, y), x);
    a2 = f32x4.add(f32x4.mul(a2, y), x);
    a3 = f32x4.add(f32x4.mul(a3, y), x);
    a4 = f32x4.add(f32x4.mul(a4, y), x);
    a5 = f32x4.add(f32x4.mul(a5, y), x);
    a6 = f32x4.add(f32x4.mul(a6, y), x);
    a7 = f32x4.add(f32x4.mul(a7, y), x);
    a8 = f32x4.add(f32x4.mul(a8, y), x);
    a9 = f32x4.add(f32x4.mul(a9, y), x);
  }
  return f32x4.extract_lane(
    f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)), f32x4.add(a8, a9))),
    0,
  );
}

/** i32x4.dot_i16x8_s + i32x4.add (the int8 path's exact products): 8 chains × 8 products. */
export function dotI16(n: i32, p: usize): i32 {
  const x = v128.load(p),
    y0 = v128.load(p, 16),
    y1 = v128.load(p, 32),
    y2 = v128.load(p, 48),
    y3 = v128.load(p, 64);
  let a0 = x,
    a1 = x,
    a2 = x,
    a3 = x,
    a4 = x,
    a5 = x,
    a6 = x,
    a7 = x;
  for (let i = 0; i < n; i++) {
    a0 = i32x4.add(a0, i32x4.dot_i16x8_s(x, y0));
    a1 = i32x4.add(a1, i32x4.dot_i16x8_s(x, y1));
    a2 = i32x4.add(a2, i32x4.dot_i16x8_s(x, y2));
    a3 = i32x4.add(a3, i32x4.dot_i16x8_s(x, y3));
    a4 = i32x4.add(a4, i32x4.dot_i16x8_s(y0, y1));
    a5 = i32x4.add(a5, i32x4.dot_i16x8_s(y1, y2));
    a6 = i32x4.add(a6, i32x4.dot_i16x8_s(y2, y3));
    a7 = i32x4.add(a7, i32x4.dot_i16x8_s(y3, y0));
  }
  return i32x4.extract_lane(i32x4.add(i32x4.add(i32x4.add(a0, a1), i32x4.add(a2, a3)), i32x4.add(i32x4.add(a4, a5), i32x4.add(a6, a7))), 0);
}

/** i32x4.relaxed_dot_i8x16_i7x16_add_s (8-bit × 7-bit, relaxed SIMD): 8 chains × 16 products. */
export function dotI8(n: i32, p: usize): i32 {
  const x = v128.load(p),
    y0 = v128.load(p, 16),
    y1 = v128.load(p, 32),
    y2 = v128.load(p, 48),
    y3 = v128.load(p, 64);
  let a0 = x,
    a1 = x,
    a2 = x,
    a3 = x,
    a4 = x,
    a5 = x,
    a6 = x,
    a7 = x;
  for (let i = 0; i < n; i++) {
    a0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(x, y0, a0);
    a1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(x, y1, a1);
    a2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(x, y2, a2);
    a3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(x, y3, a3);
    a4 = i32x4.relaxed_dot_i8x16_i7x16_add_s(y0, y1, a4);
    a5 = i32x4.relaxed_dot_i8x16_i7x16_add_s(y1, y2, a5);
    a6 = i32x4.relaxed_dot_i8x16_i7x16_add_s(y2, y3, a6);
    a7 = i32x4.relaxed_dot_i8x16_i7x16_add_s(y3, y0, a7);
  }
  return i32x4.extract_lane(i32x4.add(i32x4.add(i32x4.add(a0, a1), i32x4.add(a2, a3)), i32x4.add(i32x4.add(a4, a5), i32x4.add(a6, a7))), 0);
}

/** The int16 path as gemmQ8 runs it at batch 1: load8x8_s (int8 weights widened) + dot_i16x8_s + add, weights loaded every iteration. 6 × 8 products. */
export function dotI16Loaded(n: i32, p: usize): i32 {
  const x0 = v128.load(p),
    x1 = v128.load(p, 16);
  let a0 = i32x4.splat(0),
    a1 = i32x4.splat(0),
    a2 = i32x4.splat(0),
    a3 = i32x4.splat(0),
    a4 = i32x4.splat(0),
    a5 = i32x4.splat(0);
  for (let i = 0; i < n; i++) {
    const q = p + 128 + ((<usize>i & 63) << 6);
    a0 = i32x4.add(a0, i32x4.dot_i16x8_s(v128.load8x8_s(q, 0), x0));
    a1 = i32x4.add(a1, i32x4.dot_i16x8_s(v128.load8x8_s(q, 8), x1));
    a2 = i32x4.add(a2, i32x4.dot_i16x8_s(v128.load8x8_s(q, 16), x0));
    a3 = i32x4.add(a3, i32x4.dot_i16x8_s(v128.load8x8_s(q, 24), x1));
    a4 = i32x4.add(a4, i32x4.dot_i16x8_s(v128.load8x8_s(q, 32), x0));
    a5 = i32x4.add(a5, i32x4.dot_i16x8_s(v128.load8x8_s(q, 40), x1));
  }
  return i32x4.extract_lane(i32x4.add(i32x4.add(i32x4.add(a0, a1), i32x4.add(a2, a3)), i32x4.add(a4, a5)), 0);
}

/** The 7-bit path as gemmQ7 runs it: v128.load + relaxed_dot_i8x16_i7x16_s + extadd_pairwise + add, weights loaded every iteration. 6 × 16 products. */
export function dotI7Loaded(n: i32, p: usize): i32 {
  const u = v128.load(p);
  let a0 = i32x4.splat(0),
    a1 = i32x4.splat(0),
    a2 = i32x4.splat(0),
    a3 = i32x4.splat(0),
    a4 = i32x4.splat(0),
    a5 = i32x4.splat(0);
  for (let i = 0; i < n; i++) {
    const q = p + 128 + ((<usize>i & 31) << 7);
    a0 = i32x4.add(a0, i32x4.extadd_pairwise_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(q, 0), u)));
    a1 = i32x4.add(a1, i32x4.extadd_pairwise_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(q, 16), u)));
    a2 = i32x4.add(a2, i32x4.extadd_pairwise_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(q, 32), u)));
    a3 = i32x4.add(a3, i32x4.extadd_pairwise_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(q, 48), u)));
    a4 = i32x4.add(a4, i32x4.extadd_pairwise_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(q, 64), u)));
    a5 = i32x4.add(a5, i32x4.extadd_pairwise_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(q, 80), u)));
  }
  return i32x4.extract_lane(i32x4.add(i32x4.add(i32x4.add(a0, a1), i32x4.add(a2, a3)), i32x4.add(a4, a5)), 0);
}
