import { beforeAll, describe, expect, it } from 'vitest';
import { beginState, referenceStep, type RecurrentState } from '../../shared/reference.ts';
import { Vocab } from '../../shared/vocab.ts';
import type { Model, Params } from '../../shared/model.ts';
import { nodeHelpers } from '../../trainer/engines/index.ts';
import { NativeEngine } from '../../trainer/engines/native.ts';
import { loadKernels, randomModel, randomTokens } from '../helpers.ts';

const CELLS = ['lstm', 'gru', 'rnn'] as const;
let kernels: Awaited<ReturnType<typeof loadKernels>>;
beforeAll(async () => {
  kernels = await loadKernels();
});

/** Mean cross-entropy of the reference pass over windows x, y [B, T], in f64, state carried per row. */
function referenceLoss(model: Model, windows: { x: Int32Array; y: Int32Array }[], B: number, T: number): number[] {
  const states: RecurrentState[] = Array.from({ length: B }, () => beginState(model.arch));
  return windows.map(({ x, y }) => {
    let sum = 0;
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        const r = referenceStep(model, states[b], x[b * T + t]);
        states[b] = r.state;
        const max = Math.max(...r.logits);
        const lse = max + Math.log(r.logits.reduce((s, v) => s + Math.exp(v - max), 0));
        sum += lse - r.logits[y[b * T + t]];
      }
    }
    return sum / (B * T);
  });
}

describe('native engine: training', () => {
  const B = 3;
  const T = 4;

  for (const cell of CELLS) {
    it(`${cell}: the window loss equals the reference pass, and the state carries across windows`, async () => {
      const model = randomModel(cell, { numLayers: 2, hiddenSize: 6, seed: 2, scale: 1.5 });
      const V = model.arch.vocabSize;
      const engine = new NativeEngine(kernels['relaxed-simd'], { arch: model.arch, batchSize: B, numSteps: T, optimizer: { name: 'sgd' } });
      engine.setParams(model.params);
      engine.resetState();
      const windows = [1, 2, 3].map((s) => ({ x: randomTokens(B * T, V, s), y: randomTokens(B * T, V, s + 10) }));
      const expected = referenceLoss(model, windows, B, T);
      for (const [i, w] of windows.entries()) {
        const loss = await engine.forwardBackward(w.x, w.y);
        expect(loss / (B * T)).toBeCloseTo(expected[i], 5);
      }
    });

    it(`${cell}: gradients of every tensor match finite differences`, async () => {
      const model = randomModel(cell, { numLayers: 2, hiddenSize: 3, tokens: ['<unk>', 'a', 'b', 'c', 'd'], seed: 5, scale: 1.5 });
      const V = model.arch.vocabSize;
      const x = randomTokens(B * T, V, 1);
      const y = randomTokens(B * T, V, 2);
      const engine = new NativeEngine(kernels.simd, { arch: model.arch, batchSize: B, numSteps: T, optimizer: { name: 'sgd' } });
      engine.setParams(model.params);
      engine.resetState();
      await engine.forwardBackward(x, y);
      const grads = await engine.getGradients();
      for (const [name, tensor] of Object.entries(model.params)) {
        let worst = 0;
        let scale = 0;
        for (let i = 0; i < tensor.length; i++) {
          const orig = tensor[i];
          tensor[i] = orig + 1e-3;
          const hi = tensor[i];
          const lp = referenceLoss(model, [{ x, y }], B, T)[0];
          tensor[i] = orig - 1e-3;
          const lo = tensor[i];
          const lm = referenceLoss(model, [{ x, y }], B, T)[0];
          tensor[i] = orig;
          const fd = (lp - lm) / (hi - lo);
          worst = Math.max(worst, Math.abs(fd - grads[name][i]));
          scale = Math.max(scale, Math.abs(fd));
        }
        expect(worst, `${cell} ${name}: max |fd − grad| (max |fd| = ${scale})`).toBeLessThan(2e-4 + 1e-2 * scale);
        expect(scale, `${name} has a non-trivial gradient`).toBeGreaterThan(1e-4);
      }
    });
  }

  describe('one SGD step equals a step computed by hand (1-layer RNN, H=1, V=2)', () => {
    const p = (): Params => ({
      'rnn.weight_ih_l0': Float32Array.of(0.3, -0.4),
      'rnn.weight_hh_l0': Float32Array.of(0.7),
      'rnn.bias_ih_l0': Float32Array.of(0.1),
      'rnn.bias_hh_l0': Float32Array.of(-0.2),
      'linear.weight': Float32Array.of(0.5, -1.5),
      'linear.bias': Float32Array.of(0.05, 0.1),
    });
    // x = token 1, target 0, state zero: h = tanh(W_ih[0,1] + b_ih + b_hh)
    const h = Math.tanh(-0.4 + 0.1 - 0.2);
    const o = [0.5 * h + 0.05, -1.5 * h + 0.1];
    const z = Math.exp(o[0]) + Math.exp(o[1]);
    const dO = [Math.exp(o[0]) / z - 1, Math.exp(o[1]) / z];
    const dA = (0.5 * dO[0] - 1.5 * dO[1]) * (1 - h * h);
    const grad: Record<string, number[]> = {
      'rnn.weight_ih_l0': [0, dA],
      'rnn.weight_hh_l0': [0], // h_{-1} = 0
      'rnn.bias_ih_l0': [dA],
      'rnn.bias_hh_l0': [dA],
      'linear.weight': [dO[0] * h, dO[1] * h],
      'linear.bias': dO,
    };
    const norm = Math.sqrt(
      Object.values(grad)
        .flat()
        .reduce((s, g) => s + g * g, 0),
    );
    const arch = { cell: 'rnn', numLayers: 1, hiddenSize: 1, vocabSize: 2, input: 'one-hot' } as const;

    for (const theta of [10, 0.05]) {
      it(`lr 0.5, clip θ = ${theta} (${theta > norm ? 'no clipping' : 'clipped'})`, async () => {
        expect(new Vocab(['<unk>', 'a']).size).toBe(2);
        const engine = new NativeEngine(kernels.simd, { arch, batchSize: 1, numSteps: 1, optimizer: { name: 'sgd' } });
        const before = p();
        engine.setParams(before);
        engine.resetState();
        const loss = await engine.forwardBackward(Int32Array.of(1), Int32Array.of(0));
        expect(loss).toBeCloseTo(Math.log(z) - o[0], 6);
        expect(engine.clipGradients(theta)).toBeCloseTo(norm, 6);
        engine.step(0.5);
        const after = await engine.getParams();
        const f = Math.min(1, theta / norm);
        for (const [name, g] of Object.entries(grad)) g.forEach((gi, i) => expect(after[name][i]).toBeCloseTo(before[name][i] - 0.5 * f * gi, 6));
      });
    }

    it('Adam: the first step moves each weight by lr · g / (|g| + ε) (bias-corrected moments)', async () => {
      const engine = new NativeEngine(kernels.simd, { arch, batchSize: 1, numSteps: 1, optimizer: { name: 'adam' } });
      const before = p();
      engine.setParams(before);
      engine.resetState();
      await engine.forwardBackward(Int32Array.of(1), Int32Array.of(0));
      engine.clipGradients(1e9);
      engine.step(0.01);
      const after = await engine.getParams();
      for (const [name, g] of Object.entries(grad))
        g.forEach((gi, i) => expect(after[name][i]).toBeCloseTo(before[name][i] - (0.01 * gi) / (Math.abs(gi) + 1e-8), 6));
      const state = await engine.getOptimizerState();
      expect(state.step).toBe(1);
      expect(state.moments!.m['linear.bias'][0]).toBeCloseTo(0.1 * dO[0], 6);
      expect(state.moments!.v['linear.bias'][0] / (0.001 * dO[0] * dO[0])).toBeCloseTo(1, 4); // 1 − β2 is not exact in f32
    });
  });

  for (const cell of CELLS) {
    it(`${cell}: data-parallel threads (uneven shards) give the one-thread results up to the summing order, and a thread count always gives the same bits`, async () => {
      const model = randomModel(cell, { numLayers: 2, hiddenSize: 24, seed: 8, scale: 0.5 });
      const V = model.arch.vocabSize;
      const run = async (threads: number) => {
        const e = new NativeEngine(
          kernels['relaxed-simd'],
          { arch: model.arch, batchSize: 7, numSteps: 6, optimizer: { name: 'adam' }, threads, weightDrop: true },
          nodeHelpers,
        );
        e.setParams(model.params);
        e.resetState();
        const losses: number[] = [];
        for (let w = 0; w < 3; w++) {
          losses.push(
            await e.forwardBackward(
              randomTokens(42, V, w),
              randomTokens(42, V, w + 5),
              cell === 'lstm' ? { p: 0.3, output: 0.2, recurrent: 0.25, seed: w } : cell === 'gru' ? { p: 0, output: 0, recurrent: 0.25, seed: w } : undefined,
            ),
          );
          e.clipGradients(0.5);
          e.step(0.01);
        }
        const out = { losses, grads: await e.getGradients(), params: await e.getParams(), carry: await e.getCarry(), backend: e.backend };
        await e.dispose();
        return out;
      };
      const one = await run(1);
      const three = await run(3);
      expect(three.backend).toMatch(/×3 threads/);
      expect(await run(3)).toEqual(three); // exactly reproducible for a given thread count
      three.losses.forEach((l, i) => expect(Math.abs(l - one.losses[i]) / 42).toBeLessThan(1e-5));
      for (const name of Object.keys(one.params)) one.params[name].forEach((v, i) => expect(Math.abs(v - three.params[name][i])).toBeLessThan(1e-4));
      three.carry.forEach((v, i) => expect(Math.abs(v - one.carry[i])).toBeLessThan(1e-4));
    });
  }

  it('carries the state between windows, and restores it from getCarry', async () => {
    const model = randomModel('lstm', { hiddenSize: 6, seed: 3 });
    const V = model.arch.vocabSize;
    const [a, b] = [2, 2].map(
      () => new NativeEngine(kernels['relaxed-simd'], { arch: model.arch, batchSize: 4, numSteps: 3, optimizer: { name: 'sgd' }, threads: 2 }, nodeHelpers),
    );
    for (const e of [a, b]) e.setParams(model.params);
    await a.forwardBackward(randomTokens(12, V, 1), randomTokens(12, V, 2));
    b.setCarry(await a.getCarry());
    const x = randomTokens(12, V, 3);
    expect(await b.forwardBackward(x, x)).toBe(await a.forwardBackward(x, x));
    expect(() => b.setCarry(new Float32Array(3))).toThrow(/carried state has 3 values/);
    await Promise.all([a.dispose(), b.dispose()]);
  });

  it('refuses token ids outside the vocabulary and windows of the wrong size', async () => {
    const model = randomModel('lstm', { hiddenSize: 4 });
    const engine = new NativeEngine(kernels.simd, { arch: model.arch, batchSize: 2, numSteps: 2, optimizer: { name: 'sgd' } });
    engine.setParams(model.params);
    await expect(engine.forwardBackward(Int32Array.of(0, 1, 2, 99), Int32Array.of(0, 1, 2, 3))).rejects.toThrow(/outside the vocabulary/);
    await expect(engine.forwardBackward(Int32Array.of(0, 1, 2), Int32Array.of(0, 1, 2))).rejects.toThrow(/2×2 tokens/);
  });
});
