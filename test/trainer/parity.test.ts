import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kernel } from '../../shared/kernel/kernel.ts';
import { loadKernelNode } from '../../shared/platform/node.ts';
import { Rng } from '../../shared/rng.ts';
import type { Model, Params } from '../../shared/model.ts';
import type { OptimizerName } from '../../trainer/engines/engine.ts';
import { NativeEngine } from '../../trainer/engines/native.ts';
import { loadTfjs, TfjsEngine } from '../../trainer/engines/tfjs.ts';
import { randomModel } from '../helpers.ts';

// The GPU path (tfjs-node-gpu) runs the tfjs engine's ops; on tfjs's cpu backend the same ops
// must give the native engine's loss and gradients. That is what makes the GPU path trustworthy
// on machines where it cannot run.
let kernel: Kernel;
let tf: Awaited<ReturnType<typeof loadTfjs>>;
beforeAll(async () => {
  kernel = await loadKernelNode('simd');
  tf = await loadTfjs('cpu');
});

function tokens(n: number, V: number, seed: number): Int32Array {
  const rng = new Rng(seed);
  return Int32Array.from({ length: n }, () => rng.randint(0, V - 1));
}

function maxDiff(a: Params, b: Params): number {
  let worst = 0;
  for (const name of Object.keys(a)) a[name].forEach((v, i) => (worst = Math.max(worst, Math.abs(v - b[name][i]))));
  return worst;
}

describe('tfjs engine (cpu backend) equals the native engine', () => {
  const engines: { dispose(): void | Promise<void> }[] = [];
  afterAll(() => Promise.all(engines.map((e) => e.dispose())));

  /** Both engines on the same model and window shape, from the same weights and a zero state. */
  function pair(model: Model, B: number, T: number, optimizer: OptimizerName = 'sgd', weightDecay = 0): [NativeEngine, TfjsEngine] {
    const native = new NativeEngine(kernel, { arch: model.arch, batchSize: B, numSteps: T, optimizer: { name: optimizer, weightDecay }, weightDrop: true });
    const tfjs = new TfjsEngine(tf, { arch: model.arch, batchSize: B, numSteps: T, optimizer: { name: optimizer, weightDecay } });
    engines.push(native, tfjs);
    for (const e of [native, tfjs]) {
      e.setParams(model.params);
      e.resetState();
    }
    return [native, tfjs];
  }

  for (const cell of ['lstm', 'gru', 'rnn'] as const) {
    it(`${cell}: same loss and gradients within 1e-4 over three windows and Adam updates`, async () => {
      const B = 4;
      const T = 5;
      const model = randomModel(cell, { numLayers: 2, hiddenSize: 8, seed: 21, scale: 1 });
      const [native, tfjs] = pair(model, B, T, 'adam');
      expect(tfjs.backend).toBe('tfjs-cpu');
      for (let w = 0; w < 3; w++) {
        const x = tokens(B * T, model.arch.vocabSize, w);
        const y = tokens(B * T, model.arch.vocabSize, w + 7);
        const [a, b] = [await native.forwardBackward(x, y), await tfjs.forwardBackward(x, y)];
        expect(Math.abs(a - b) / (B * T)).toBeLessThan(1e-4);
        expect(maxDiff(await native.getGradients(), await tfjs.getGradients())).toBeLessThan(1e-4);
        expect(Math.abs(native.clipGradients(0.5) - tfjs.clipGradients(0.5))).toBeLessThan(1e-4);
        native.step(0.1);
        tfjs.step(0.1);
      }
      expect(maxDiff(await native.getParams(), await tfjs.getParams())).toBeLessThan(1e-4);
      expect(maxDiff({ c: await native.getCarry() }, { c: await tfjs.getCarry() })).toBeLessThan(1e-4); // the state carried to the next window
    });
  }

  for (const cell of ['lstm', 'gru'] as const) {
    it(`${cell}: with dropout between 3 layers, on the output and on W_hh, the same loss and gradients (autodiff checks the hand-written mask backward)`, async () => {
      const B = 3;
      const T = 4;
      const model = randomModel(cell, { numLayers: 3, hiddenSize: 6, seed: 8, scale: 1 });
      const [native, tfjs] = pair(model, B, T);
      const x = tokens(B * T, model.arch.vocabSize, 3);
      const y = tokens(B * T, model.arch.vocabSize, 4);
      const losses: number[] = [];
      const masks = [
        { p: 0.4, output: 0, recurrent: 0, seed: 11 },
        { p: 0.4, output: 0.3, recurrent: 0, seed: 11 },
        { p: 0, output: 0.3, recurrent: 0, seed: 11 },
        { p: 0, output: 0, recurrent: 0.5, seed: 11 },
        { p: 0.4, output: 0.3, recurrent: 0.5, seed: 11 },
      ];
      for (const dropout of masks) {
        native.resetState();
        tfjs.resetState();
        const [a, b] = [await native.forwardBackward(x, y, dropout), await tfjs.forwardBackward(x, y, dropout)];
        expect(Math.abs(a - b) / (B * T)).toBeLessThan(1e-4);
        expect(maxDiff(await native.getGradients(), await tfjs.getGradients())).toBeLessThan(1e-4);
        losses.push(a);
      }
      native.resetState();
      const plain = await native.forwardBackward(x, y);
      for (const l of losses) expect(Math.abs(plain - l)).toBeGreaterThan(1e-4); // every mask does something
      expect(Math.abs(losses[0] - losses[1])).toBeGreaterThan(1e-3); // the output mask too
      expect(Math.abs(losses[1] - losses[4])).toBeGreaterThan(1e-3); // and the weight mask
      native.resetState();
      expect(await native.forwardBackward(x, y, { p: 0, output: 0, recurrent: 0, seed: 11 })).toBe(plain); // p = 0 is no dropout
      native.resetState();
      await native.forwardBackward(x, y, { p: 0, output: 0, recurrent: 0.5, seed: 11 });
      const dropped = await native.getGradients();
      for (let l = 0; l < 3; l++) {
        const g = dropped[`rnn.weight_hh_l${l}`];
        const zeros = g.filter((v) => v === 0).length;
        expect(zeros / g.length).toBeGreaterThan(0.3); // a dropped weight gets no gradient
        expect(zeros / g.length).toBeLessThan(0.7);
      }
      expect(await native.getParams()).toEqual(model.params); // the stored weights are not the dropped ones
    });
  }

  for (const optimizer of ['adam', 'sgd'] as const) {
    it(`${optimizer} with decoupled weight decay: the same weights after three steps, each shrunk by lr·λ before the step`, async () => {
      const B = 2;
      const T = 3;
      const model = randomModel('lstm', { numLayers: 2, hiddenSize: 5, seed: 4, scale: 1 });
      const [native, tfjs] = pair(model, B, T, optimizer, 0.5);
      const [plain] = pair(model, B, T, optimizer, 0);
      const x = tokens(B * T, model.arch.vocabSize, 1);
      const y = tokens(B * T, model.arch.vocabSize, 2);
      const lr = 0.05;
      for (let w = 0; w < 3; w++) {
        for (const e of [native, tfjs, plain]) {
          await e.forwardBackward(x, y);
          e.clipGradients(1);
          e.step(lr);
        }
      }
      expect(maxDiff(await native.getParams(), await tfjs.getParams())).toBeLessThan(1e-5);
      expect(maxDiff(await native.getParams(), await plain.getParams())).toBeGreaterThan(1e-3);
      // One step from the same weights and gradients: decayed = plain − lr·λ·w.
      const [d1, p1] = pair(model, B, T, optimizer, 0.5)
        .slice(0, 1)
        .concat(pair(model, B, T, optimizer, 0).slice(0, 1));
      for (const e of [d1, p1]) {
        await e.forwardBackward(x, y);
        e.clipGradients(1);
        e.step(lr);
      }
      const w0 = model.params['rnn.weight_hh_l1'];
      const [wd, wp] = [(await d1.getParams())['rnn.weight_hh_l1'], (await p1.getParams())['rnn.weight_hh_l1']];
      wd.forEach((v, i) => expect(v).toBeCloseTo(wp[i] - lr * 0.5 * w0[i], 6));
    });
  }

  it('says how to install tfjs-node-gpu when it is asked for and missing', async () => {
    await expect(loadTfjs('tensorflow-gpu')).rejects.toThrow(/npm install @tensorflow\/tfjs-node-gpu .*CUDA 11\.2 and cuDNN 8\.1/);
  });
});
