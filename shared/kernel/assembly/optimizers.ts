// The optimizers' steps over a block of parameters (one thread's slice of it): SGD and Adam. AdamW's
// decoupled decay is `scale` (training.ts) before the step.
import { at, madd } from './simd';

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
