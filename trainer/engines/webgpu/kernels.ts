/**
 * The WebGPU engine's compute shaders (WGSL), one named module each, with the layout of its
 * uniform block: the host (engine.ts) packs a dispatch's parameters by these field lists, so a
 * shader and its caller cannot disagree on an offset.
 *
 * Every buffer is a flat `array<f32>` (token ids `array<u32>`) bound whole; a dispatch says where
 * its operands start with element offsets in its uniform block (storage bindings at arbitrary
 * offsets would need 256-byte alignment). Layouts are the native engine's (shard-layout.ts):
 * sequences time-major, row n = t·B + b; gates in PyTorch's order.
 *
 * Element-wise shaders run 256 threads per workgroup over a 2-D grid of workgroups (a grid
 * dimension holds at most 65,535): the flat index is (wg.y · nx + wg.x) · 256 + lane.
 */

/** A uniform field: a u32 or an f32. */
export type FieldType = 'u32' | 'f32';

export interface KernelSource {
  /** WGSL, entry point `main`. */
  code: string;
  /** The uniform block's fields in order (each 4 bytes). */
  fields: readonly (readonly [string, FieldType])[];
  /** Pipeline-overridable constants this shader declares (names → default). */
  overrides?: Record<string, number>;
}

/** Threads per workgroup of the element-wise shaders. */
export const THREADS = 256;

const struct = (fields: KernelSource['fields']) =>
  `struct Uniforms {\n${fields.map(([n, t]) => `  ${n}: ${t},`).join('\n')}\n}\n@group(0) @binding(0) var<uniform> p: Uniforms;\n`;

/** The flat index of an element-wise thread, and the activations every cell uses. */
const COMMON = /* wgsl */ `
fn flat(wg: vec3<u32>, nwg: vec3<u32>, lane: u32) -> u32 { return (wg.y * nwg.x + wg.x) * ${THREADS}u + lane; }
fn sigmoid(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
// tanh through exp(−2|x|), which cannot overflow (some backends' tanh is NaN past |x| ≈ 44).
fn tanh_(x: f32) -> f32 { let e = exp(-2.0 * abs(x)); return sign(x) * (1.0 - e) / (1.0 + e); }
`;

/** An element-wise shader's entry point, with `e` its thread's flat index. */
const ELEMENTWISE = `@compute @workgroup_size(${THREADS})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  let e = flat(wg, nwg, lane);
`;

/** A recurrent step's uniforms: B rows of H units; where step t's gates (t·B·GH) and states (t·B·H) start. */
const CELL_FIELDS: KernelSource['fields'] = [
  ['B', 'u32'],
  ['H', 'u32'],
  ['gOff', 'u32'],
  ['sOff', 'u32'],
];

function kernel(fields: KernelSource['fields'], body: string, overrides?: Record<string, number>): KernelSource {
  return { code: struct(fields) + COMMON + body, fields, overrides };
}

/** Rows and columns of a GEMM tile, the k-depth of a step, and each thread's block. */
export const GEMM_TILE = 64;
const GEMM_K = 16;

/**
 * C[M, N] (+)= op(A)[M, K] · op(B)[K, N] (+ bias[N]): every product of a window. A tile of
 * 64 × 64 outputs per workgroup of 16 × 16 threads, each thread a 4 × 4 block held in four vector
 * accumulators (an outer product of a 4-row and a 4-column vector per k: no indexed registers),
 * k in steps of 16 through workgroup memory. TRANS_A reads A as [K, M] (lda its row length), TRANS_B B as [N, K].
 * flags: 1 accumulate into C, 2 add bias.
 */
export const GEMM = kernel(
  [
    ['M', 'u32'],
    ['N', 'u32'],
    ['K', 'u32'],
    ['aOff', 'u32'],
    ['lda', 'u32'],
    ['bOff', 'u32'],
    ['ldb', 'u32'],
    ['cOff', 'u32'],
    ['ldc', 'u32'],
    ['biasOff', 'u32'],
    ['flags', 'u32'],
  ],
  /* wgsl */ `
override TRANS_A: bool = false;
override TRANS_B: bool = false;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
// The tile's operands, k-major, 4 rows (As) or 4 columns (Bs) to a vector: As[k · 16 + m / 4].
var<workgroup> As: array<vec4<f32>, ${(GEMM_K * GEMM_TILE) / 4}>;
var<workgroup> Bs: array<vec4<f32>, ${(GEMM_K * GEMM_TILE) / 4}>;

fn a(m: u32, k: u32) -> f32 {
  if (m >= p.M || k >= p.K) { return 0.0; }
  if (TRANS_A) { return A[p.aOff + k * p.lda + m]; }
  return A[p.aOff + m * p.lda + k];
}
fn b(k: u32, n: u32) -> f32 {
  if (k >= p.K || n >= p.N) { return 0.0; }
  if (TRANS_B) { return B[p.bOff + n * p.ldb + k]; }
  return B[p.bOff + k * p.ldb + n];
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let m0 = wg.y * ${GEMM_TILE}u;
  let n0 = wg.x * ${GEMM_TILE}u;
  let t = lid.y * 16u + lid.x;
  var c0 = vec4<f32>(0.0);
  var c1 = vec4<f32>(0.0);
  var c2 = vec4<f32>(0.0);
  var c3 = vec4<f32>(0.0);
  for (var k0 = 0u; k0 < p.K; k0 += ${GEMM_K}u) {
    // 1,024 elements of each operand's tile, 4 per thread; neighbouring threads read neighbouring
    // addresses (along k where the operand is stored k-contiguous, else along m or n).
    for (var i = 0u; i < 4u; i++) {
      let e = i * 256u + t;
      var mm = e % ${GEMM_TILE}u;
      var kk = e / ${GEMM_TILE}u;
      if (!TRANS_A) { mm = e / ${GEMM_K}u; kk = e % ${GEMM_K}u; }
      As[kk * 16u + mm / 4u][mm % 4u] = a(m0 + mm, k0 + kk);
      var nn = e % ${GEMM_TILE}u;
      var kb = e / ${GEMM_TILE}u;
      if (TRANS_B) { nn = e / ${GEMM_K}u; kb = e % ${GEMM_K}u; }
      Bs[kb * 16u + nn / 4u][nn % 4u] = b(k0 + kb, n0 + nn);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${GEMM_K}u; kk++) {
      let av = As[kk * 16u + lid.y];
      let bv = Bs[kk * 16u + lid.x];
      c0 = fma(vec4<f32>(av.x), bv, c0);
      c1 = fma(vec4<f32>(av.y), bv, c1);
      c2 = fma(vec4<f32>(av.z), bv, c2);
      c3 = fma(vec4<f32>(av.w), bv, c3);
    }
    workgroupBarrier();
  }
  let rows = array<vec4<f32>, 4>(c0, c1, c2, c3);
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + lid.y * 4u + i;
    if (m >= p.M) { continue; }
    let row = rows[i];
    for (var j = 0u; j < 4u; j++) {
      let n = n0 + lid.x * 4u + j;
      if (n >= p.N) { continue; }
      var v = row[j];
      if ((p.flags & 2u) != 0u) { v += bias[p.biasOff + n]; }
      let c = p.cOff + m * p.ldc + n;
      if ((p.flags & 1u) != 0u) { v += C[c]; }
      C[c] = v;
    }
  }
}
`,
  { TRANS_A: 0, TRANS_B: 0 },
);

/** Layer 0's one-hot input: gx[n, g] = W_ih[g, token_n] + b_ih[g] (the column the one-hot vector selects). */
export const GATHER_COLUMNS = kernel(
  [
    ['rows', 'u32'],
    ['G', 'u32'],
    ['V', 'u32'],
    ['wOff', 'u32'],
    ['bOff', 'u32'],
  ],
  /* wgsl */ `
@group(0) @binding(1) var<storage, read> W: array<f32>;
@group(0) @binding(2) var<storage, read> tokens: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
${ELEMENTWISE}  let i = e;
  if (i >= p.rows * p.G) { return; }
  let n = i / p.G;
  let g = i % p.G;
  out[i] = W[p.wOff + g * p.V + tokens[n]] + W[p.bOff + g];
}
`,
);

/** The one-hot input's gradient: dW_ih[g, v] += Σ over rows n with token_n = v of dG[n, g]; a thread per (g, v). */
export const SCATTER_COLUMNS = kernel(
  [
    ['rows', 'u32'],
    ['G', 'u32'],
    ['V', 'u32'],
    ['dwOff', 'u32'],
  ],
  /* wgsl */ `
@group(0) @binding(1) var<storage, read> dG: array<f32>;
@group(0) @binding(2) var<storage, read> tokens: array<u32>;
@group(0) @binding(3) var<storage, read_write> dW: array<f32>;
${ELEMENTWISE}  let i = e;
  if (i >= p.G * p.V) { return; }
  let g = i / p.V;
  let v = i % p.V;
  var s = 0.0;
  for (var n = 0u; n < p.rows; n++) { if (tokens[n] == v) { s += dG[n * p.G + g]; } }
  dW[p.dwOff + i] += s;
}
`,
);

/** One step of B rows of an LSTM layer (gates i, f, g, o): c = f⊙c_prev + i⊙g, h = o⊙tanh(c); keeps the gates and tanh(c). */
export const LSTM_FORWARD = kernel(
  CELL_FIELDS,
  /* wgsl */ `
@group(0) @binding(1) var<storage, read> gx: array<f32>;
@group(0) @binding(2) var<storage, read> gh: array<f32>;
@group(0) @binding(3) var<storage, read_write> acts: array<f32>;
@group(0) @binding(4) var<storage, read_write> cs: array<f32>;
@group(0) @binding(5) var<storage, read_write> hs: array<f32>;
@group(0) @binding(6) var<storage, read_write> tcs: array<f32>;
${ELEMENTWISE}  if (e >= p.B * p.H) { return; }
  let b = e / p.H;
  let j = e % p.H;
  let r = p.gOff + b * 4u * p.H; // this row's gates, in gx, gh and acts
  let s = p.sOff + e;            // this unit's state at t (c_prev), and t + 1 is s + B·H
  let i = sigmoid(gx[r + j] + gh[r + j]);
  let f = sigmoid(gx[r + p.H + j] + gh[r + p.H + j]);
  let g = tanh_(gx[r + 2u * p.H + j] + gh[r + 2u * p.H + j]);
  let o = sigmoid(gx[r + 3u * p.H + j] + gh[r + 3u * p.H + j]);
  acts[r + j] = i;
  acts[r + p.H + j] = f;
  acts[r + 2u * p.H + j] = g;
  acts[r + 3u * p.H + j] = o;
  let c = f * cs[s] + i * g;
  let t = tanh_(c);
  cs[s + p.B * p.H] = c;
  hs[s + p.B * p.H] = o * t;
  tcs[s] = t;
}
`,
);

/**
 * LSTM backward for one step: dh = dH_t + dh carried from t+1; dc carried in and out; writes the
 * gradient of the four gates' pre-activations.
 */
export const LSTM_BACKWARD = kernel(
  CELL_FIELDS,
  /* wgsl */ `
@group(0) @binding(1) var<storage, read> acts: array<f32>;
@group(0) @binding(2) var<storage, read> cs: array<f32>;
@group(0) @binding(3) var<storage, read> tcs: array<f32>;
@group(0) @binding(4) var<storage, read> dH: array<f32>;
@group(0) @binding(5) var<storage, read_write> carry: array<f32>; // [dh carried (B·H) | dc (B·H)]
@group(0) @binding(6) var<storage, read_write> dG: array<f32>;
${ELEMENTWISE}  let n = p.B * p.H;
  if (e >= n) { return; }
  let b = e / p.H;
  let j = e % p.H;
  let r = p.gOff + b * 4u * p.H;
  let s = p.sOff + e;
  let i = acts[r + j];
  let f = acts[r + p.H + j];
  let g = acts[r + 2u * p.H + j];
  let o = acts[r + 3u * p.H + j];
  let t = tcs[s];
  let dh = dH[s] + carry[e];
  let dcs = carry[n + e] + dh * o * (1.0 - t * t);
  dG[r + j] = dcs * g * i * (1.0 - i);
  dG[r + p.H + j] = dcs * cs[s] * f * (1.0 - f);
  dG[r + 2u * p.H + j] = dcs * i * (1.0 - g * g);
  dG[r + 3u * p.H + j] = dh * t * o * (1.0 - o);
  carry[n + e] = dcs * f;
}
`,
);

/** One step of a GRU layer (gates r, z, n, PyTorch's equations): n = tanh(gx_n + r⊙gh_n), h = (1−z)⊙n + z⊙h_prev. */
export const GRU_FORWARD = kernel(
  CELL_FIELDS,
  /* wgsl */ `
@group(0) @binding(1) var<storage, read> gx: array<f32>;
@group(0) @binding(2) var<storage, read> gh: array<f32>;
@group(0) @binding(3) var<storage, read_write> acts: array<f32>;
@group(0) @binding(4) var<storage, read_write> hs: array<f32>;
${ELEMENTWISE}  if (e >= p.B * p.H) { return; }
  let b = e / p.H;
  let j = e % p.H;
  let r = p.gOff + b * 3u * p.H;
  let s = p.sOff + e;
  let rg = sigmoid(gx[r + j] + gh[r + j]);
  let z = sigmoid(gx[r + p.H + j] + gh[r + p.H + j]);
  let nn = tanh_(gx[r + 2u * p.H + j] + rg * gh[r + 2u * p.H + j]);
  acts[r + j] = rg;
  acts[r + p.H + j] = z;
  acts[r + 2u * p.H + j] = nn;
  hs[s + p.B * p.H] = (1.0 - z) * nn + z * hs[s];
}
`,
);

/**
 * GRU backward for one step. dGx and dGh differ in the n block only (gh_n sits behind r); the
 * carried dh becomes the direct path z⊙dh, to which the next product adds dGh W_hh.
 */
export const GRU_BACKWARD = kernel(
  CELL_FIELDS,
  /* wgsl */ `
@group(0) @binding(1) var<storage, read> acts: array<f32>;
@group(0) @binding(2) var<storage, read> gh: array<f32>;
@group(0) @binding(3) var<storage, read> hs: array<f32>;
@group(0) @binding(4) var<storage, read> dH: array<f32>;
@group(0) @binding(5) var<storage, read_write> carry: array<f32>;
@group(0) @binding(6) var<storage, read_write> dGx: array<f32>;
@group(0) @binding(7) var<storage, read_write> dGh: array<f32>;
${ELEMENTWISE}  if (e >= p.B * p.H) { return; }
  let b = e / p.H;
  let j = e % p.H;
  let r = p.gOff + b * 3u * p.H;
  let s = p.sOff + e;
  let rg = acts[r + j];
  let z = acts[r + p.H + j];
  let nn = acts[r + 2u * p.H + j];
  let dh = dH[s] + carry[e];
  let dN = dh * (1.0 - z) * (1.0 - nn * nn);
  let dZ = dh * (hs[s] - nn) * z * (1.0 - z);
  let dR = dN * gh[r + 2u * p.H + j] * rg * (1.0 - rg);
  dGx[r + j] = dR;
  dGx[r + p.H + j] = dZ;
  dGx[r + 2u * p.H + j] = dN;
  dGh[r + j] = dR;
  dGh[r + p.H + j] = dZ;
  dGh[r + 2u * p.H + j] = dN * rg;
  carry[e] = dh * z;
}
`,
);

/** One step of a plain RNN layer: h = tanh(gx + gh). */
export const RNN_FORWARD = kernel(
  CELL_FIELDS,
  /* wgsl */ `
@group(0) @binding(1) var<storage, read> gx: array<f32>;
@group(0) @binding(2) var<storage, read> gh: array<f32>;
@group(0) @binding(3) var<storage, read_write> hs: array<f32>;
${ELEMENTWISE}  if (e >= p.B * p.H) { return; }
  hs[p.sOff + e + p.B * p.H] = tanh_(gx[p.gOff + e] + gh[p.gOff + e]);
}
`,
);

/** RNN backward for one step: dG = dh ⊙ (1 − h²), dh = dH_t + dh carried. */
export const RNN_BACKWARD = kernel(
  CELL_FIELDS,
  /* wgsl */ `
@group(0) @binding(1) var<storage, read> hs: array<f32>;
@group(0) @binding(2) var<storage, read> dH: array<f32>;
@group(0) @binding(3) var<storage, read> carry: array<f32>;
@group(0) @binding(4) var<storage, read_write> dG: array<f32>;
${ELEMENTWISE}  if (e >= p.B * p.H) { return; }
  let h = hs[p.sOff + e + p.B * p.H];
  dG[p.gOff + e] = (dH[p.sOff + e] + carry[e]) * (1.0 - h * h);
}
`,
);

/**
 * Softmax cross-entropy, a workgroup per row of logits [N, V]: the row's loss (nats) into
 * loss[n], and the gradient of (Σ loss) · gradScale into dLogits.
 */
export const SOFTMAX_CROSS_ENTROPY = kernel(
  [
    ['N', 'u32'],
    ['V', 'u32'],
    ['gradScale', 'f32'],
  ],
  /* wgsl */ `
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<u32>;
@group(0) @binding(3) var<storage, read_write> dLogits: array<f32>;
@group(0) @binding(4) var<storage, read_write> loss: array<f32>;
var<workgroup> red: array<f32, 64>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  let n = wg.y * nwg.x + wg.x;
  if (n >= p.N) { return; } // uniform across the workgroup
  let row = n * p.V;
  var mx = -3.4e38;
  for (var k = lane; k < p.V; k += 64u) { mx = max(mx, logits[row + k]); }
  red[lane] = mx;
  workgroupBarrier();
  for (var w = 32u; w > 0u; w >>= 1u) {
    if (lane < w) { red[lane] = max(red[lane], red[lane + w]); }
    workgroupBarrier();
  }
  mx = red[0];
  workgroupBarrier();
  var sum = 0.0;
  for (var k = lane; k < p.V; k += 64u) {
    let e = exp(logits[row + k] - mx);
    dLogits[row + k] = e;
    sum += e;
  }
  red[lane] = sum;
  workgroupBarrier();
  for (var w = 32u; w > 0u; w >>= 1u) {
    if (lane < w) { red[lane] += red[lane + w]; }
    workgroupBarrier();
  }
  sum = red[0];
  let t = targets[n];
  let inv = 1.0 / sum;
  for (var k = lane; k < p.V; k += 64u) {
    var d = dLogits[row + k] * inv * p.gradScale;
    if (k == t) { d -= p.gradScale; }
    dLogits[row + k] = d;
  }
  if (lane == 0u) { loss[n] = log(sum) - (logits[row + t] - mx); }
}
`,
);

/** out[off + c] += Σ_r x[r · cols + c] (bias gradients), a thread per column. */
export const COLUMN_SUMS = kernel(
  [
    ['rows', 'u32'],
    ['cols', 'u32'],
    ['outOff', 'u32'],
  ],
  /* wgsl */ `
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
${ELEMENTWISE}  let c = e;
  if (c >= p.cols) { return; }
  var s = 0.0;
  for (var r = 0u; r < p.rows; r++) { s += x[r * p.cols + c]; }
  out[p.outOff + c] += s;
}
`,
);

/** out[outOff + i] = x[xOff + i] ⊙ m[mOff + i] (dropout on a sequence, weight drop on W_hh). */
export const MUL = kernel(
  [
    ['n', 'u32'],
    ['xOff', 'u32'],
    ['mOff', 'u32'],
    ['outOff', 'u32'],
  ],
  /* wgsl */ `
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
${ELEMENTWISE}  let i = e;
  if (i >= p.n) { return; }
  out[p.outOff + i] = x[p.xOff + i] * m[p.mOff + i];
}
`,
);

/** x[xOff + i] *= m[mOff + i], in place (a gradient through a mask). */
export const MUL_IN_PLACE = kernel(
  [
    ['n', 'u32'],
    ['xOff', 'u32'],
    ['mOff', 'u32'],
  ],
  /* wgsl */ `
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> m: array<f32>;
${ELEMENTWISE}  let i = e;
  if (i >= p.n) { return; }
  x[p.xOff + i] *= m[p.mOff + i];
}
`,
);

/** x[dst + i] = x[src + i] within one buffer, ranges apart (the state carried to the next window). */
export const COPY_WITHIN = kernel(
  [
    ['n', 'u32'],
    ['src', 'u32'],
    ['dst', 'u32'],
  ],
  /* wgsl */ `
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
${ELEMENTWISE}  let i = e;
  if (i >= p.n) { return; }
  x[p.dst + i] = x[p.src + i];
}
`,
);

/** Partial sums of x[xOff, xOff + n) (squared with `square`), one per workgroup, into out[outOff + workgroup]: a reduction takes two passes. */
export const REDUCE_PARTIAL = kernel(
  [
    ['n', 'u32'],
    ['xOff', 'u32'],
    ['square', 'u32'],
    ['outOff', 'u32'],
  ],
  /* wgsl */ `
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
var<workgroup> red: array<f32, ${THREADS}>;
@compute @workgroup_size(${THREADS})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  let stride = nwg.x * ${THREADS}u;
  var s = 0.0;
  for (var i = wg.x * ${THREADS}u + lane; i < p.n; i += stride) {
    let v = x[p.xOff + i];
    s += select(v, v * v, p.square != 0u);
  }
  red[lane] = s;
  workgroupBarrier();
  for (var w = ${THREADS / 2}u; w > 0u; w >>= 1u) {
    if (lane < w) { red[lane] += red[lane + w]; }
    workgroupBarrier();
  }
  if (lane == 0u) { out[p.outOff + wg.x] = red[0]; }
}
`,
);

/** The optimizer's step over every parameter: AdamW's decay first, then SGD or Adam on the clipped gradient s · g. */
export const OPTIMIZER_STEP = kernel(
  [
    ['n', 'u32'],
    ['adam', 'u32'],
    ['lr', 'f32'],
    ['scale', 'f32'],
    ['decay', 'f32'],
    ['b1', 'f32'],
    ['b2', 'f32'],
    ['eps', 'f32'],
    ['c1', 'f32'],
    ['c2', 'f32'],
  ],
  /* wgsl */ `
@group(0) @binding(1) var<storage, read_write> P: array<f32>;
@group(0) @binding(2) var<storage, read> G: array<f32>;
@group(0) @binding(3) var<storage, read_write> M: array<f32>;
@group(0) @binding(4) var<storage, read_write> V2: array<f32>;
${ELEMENTWISE}  let i = e;
  if (i >= p.n) { return; }
  var w = P[i];
  if (p.decay != 1.0) { w *= p.decay; }
  let g = G[i] * p.scale;
  if (p.adam != 0u) {
    let m = p.b1 * M[i] + (1.0 - p.b1) * g;
    let v = p.b2 * V2[i] + (1.0 - p.b2) * g * g;
    M[i] = m;
    V2[i] = v;
    w -= (p.lr * (m / p.c1)) / (sqrt(v / p.c2) + p.eps);
  } else {
    w -= p.lr * g;
  }
  P[i] = w;
}
`,
);
