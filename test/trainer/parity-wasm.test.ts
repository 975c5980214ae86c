import { describe, expect, it } from 'vitest';
import { loadKernelNode } from '../../shared/platform/node.ts';
import { NativeEngine } from '../../trainer/engines/native.ts';
import { loadTfjs, TfjsEngine } from '../../trainer/engines/tfjs.ts';
import { randomModel, randomTokens } from '../helpers.ts';

// tfjs's wasm backend has no UnsortedSegmentSum (embedding gradients); the engine's one-hot input
// avoids it. Its own file: tfjs keeps one global backend per process.
describe("tfjs engine on tfjs's wasm backend", () => {
  it("trains with the native engine's loss and gradients (GRU)", async () => {
    const model = randomModel('gru', { hiddenSize: 8, scale: 1 });
    const tfjs = new TfjsEngine(await loadTfjs('wasm'), { arch: model.arch, batchSize: 4, numSteps: 5, optimizer: { name: 'sgd' } });
    const native = new NativeEngine(await loadKernelNode(), { arch: model.arch, batchSize: 4, numSteps: 5, optimizer: { name: 'sgd' } });
    expect(tfjs.backend).toBe('tfjs-wasm');
    for (const e of [tfjs, native]) e.setParams(model.params);
    const x = randomTokens(20, model.arch.vocabSize, 1);
    const y = randomTokens(20, model.arch.vocabSize, 2);
    expect(Math.abs((await tfjs.forwardBackward(x, y)) - (await native.forwardBackward(x, y))) / 20).toBeLessThan(1e-4);
    const [a, b] = [await tfjs.getGradients(), await native.getGradients()];
    for (const name of Object.keys(a)) a[name].forEach((v, i) => expect(Math.abs(v - b[name][i])).toBeLessThan(1e-4));
    tfjs.dispose();
  });
});
