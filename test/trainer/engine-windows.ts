/**
 * One engine through a run of windows, recorded for a parity test: the loss and the gradient norm
 * of every window, the gradients of the first three, the weights, Adam's moments and the carried
 * state after the last. Windows and dropout masks come from seeds, so Node (the native engine,
 * the WebGPU engine on Dawn) and a page (the WebGPU engine in Chromium) run the same ones.
 * Imports nothing of Node: the browser test bundles it.
 */
import type { Params } from '../../shared/model.ts';
import { Rng } from '../../shared/rng.ts';
import type { Dropout } from '../../trainer/engines/dropout.ts';
import type { Engine } from '../../trainer/engines/engine.ts';

export interface WindowsPlan {
  batchSize: number;
  numSteps: number;
  vocabSize: number;
  windows: number;
  clip: number;
  lr: number;
  /** Odd windows drop: dropout between layers and on the output, and (with weightDrop) W_hh's entries. */
  dropout: boolean;
  weightDrop: boolean;
  seed: number;
}

export interface WindowsRecord {
  losses: number[];
  norms: number[];
  /** The first three windows' gradients (before clipping). */
  grads: Params[];
  params: Params;
  moments: { m: Params; v: Params } | null;
  carry: Float32Array;
}

export async function runWindows(engine: Engine, plan: WindowsPlan): Promise<WindowsRecord> {
  const { batchSize: B, numSteps: T, vocabSize: V } = plan;
  const rng = new Rng(plan.seed);
  const out: WindowsRecord = { losses: [], norms: [], grads: [], params: {}, moments: null, carry: new Float32Array() };
  engine.resetState();
  for (let w = 0; w < plan.windows; w++) {
    const x = Int32Array.from({ length: B * T }, () => rng.randint(0, V - 1));
    const y = Int32Array.from({ length: B * T }, () => rng.randint(0, V - 1));
    const dropout: Dropout | undefined =
      plan.dropout && w % 2 === 1 ? { p: 0.3, output: 0.2, recurrent: plan.weightDrop ? 0.25 : 0, seed: plan.seed * 1000 + w } : undefined;
    out.losses.push(await engine.forwardBackward(x, y, dropout));
    if (w < 3) out.grads.push(await engine.getGradients());
    out.norms.push(engine.clipGradients(plan.clip));
    engine.step(plan.lr);
  }
  out.params = await engine.getParams();
  out.moments = (await engine.getOptimizerState()).moments;
  out.carry = await engine.getCarry();
  return out;
}

/** The largest absolute difference between two sets of tensors. */
export function maxDiff(a: Params, b: Params): number {
  let worst = 0;
  for (const name of Object.keys(a)) {
    const x = a[name];
    const y = b[name];
    if (!y || y.length !== x.length) return Infinity;
    for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i] - y[i]));
  }
  return worst;
}
