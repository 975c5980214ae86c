/**
 * The reference forward pass: one time step of d2l's deep RNN at batch 1, in plain TypeScript.
 * Written to be read, not to be fast — it is the oracle every faster kernel is tested against.
 *
 *   H_t^(l) = φ(H_t^(l-1) W_xh^(l) + H_{t-1}^(l) W_hh^(l) + b_h^(l)),   O_t = H_t^(L) W_hq + b_q
 *
 * with PyTorch's cells in place of φ (weights are [G·H, in], so "x W" is W·x here).
 */
import { layerParams, type Architecture, type Model } from './model.ts';

/** Hidden state per layer (and the LSTM memory cell; empty for GRU and RNN). */
export interface RecurrentState {
  h: Float32Array[];
  c: Float32Array[];
}

/** d2l's `begin_state`: zeros. */
export function beginState(arch: Architecture): RecurrentState {
  const zeros = () => Array.from({ length: arch.numLayers }, () => new Float32Array(arch.hiddenSize));
  return { h: zeros(), c: arch.cell === 'lstm' ? zeros() : [] };
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** W·x + b for a [rows, cols] row-major W. */
function affine(w: Float32Array, x: Float32Array, b: Float32Array, rows: number, cols: number): Float64Array {
  const y = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = b[r];
    for (let j = 0; j < cols; j++) s += w[r * cols + j] * x[j];
    y[r] = s;
  }
  return y;
}

/** Feed token `token` (one-hot) through the stack; returns the logits and the next state. */
export function referenceStep(model: Model, state: RecurrentState, token: number): { logits: Float32Array; state: RecurrentState } {
  const { arch, params } = model;
  const H = arch.hiddenSize;
  const G = arch.cell === 'lstm' ? 4 : arch.cell === 'gru' ? 3 : 1;
  const next: RecurrentState = { h: [], c: [] };
  let x = new Float32Array(arch.vocabSize);
  x[token] = 1;

  layerParams(arch, params).forEach((p, l) => {
    const hPrev = state.h[l];
    const xi = affine(p.wIh, x, p.bIh, G * H, p.inSize); // W_ih x + b_ih
    const hh = affine(p.wHh, hPrev, p.bHh, G * H, H); // W_hh h + b_hh
    const h = new Float32Array(H);
    if (arch.cell === 'lstm') {
      const c = new Float32Array(H);
      for (let j = 0; j < H; j++) {
        const i = sigmoid(xi[j] + hh[j]);
        const f = sigmoid(xi[H + j] + hh[H + j]);
        const g = Math.tanh(xi[2 * H + j] + hh[2 * H + j]);
        const o = sigmoid(xi[3 * H + j] + hh[3 * H + j]);
        c[j] = f * state.c[l][j] + i * g;
        h[j] = o * Math.tanh(c[j]);
      }
      next.c.push(c);
    } else if (arch.cell === 'gru') {
      for (let j = 0; j < H; j++) {
        const r = sigmoid(xi[j] + hh[j]);
        const z = sigmoid(xi[H + j] + hh[H + j]);
        const n = Math.tanh(xi[2 * H + j] + r * hh[2 * H + j]); // PyTorch: r gates (W_hn h + b_hn)
        h[j] = (1 - z) * n + z * hPrev[j];
      }
    } else {
      for (let j = 0; j < H; j++) h[j] = Math.tanh(xi[j] + hh[j]);
    }
    next.h.push(h);
    x = h;
  });

  const logits = Float32Array.from(affine(params['linear.weight'], x, params['linear.bias'], arch.vocabSize, H));
  return { logits, state: next };
}
