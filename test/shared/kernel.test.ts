import { beforeAll, describe, expect, it } from 'vitest';
import { decodeArtifact, encodeArtifact } from '../../shared/artifact.ts';
import { referenceStepper } from '../../shared/generate.ts';
import { kernelStepper, loadKernelWeights } from '../../shared/kernel/stepper.ts';
import { FLAVORS, loadKernels, randomModel, randomTokens } from '../helpers.ts';

let kernels: Awaited<ReturnType<typeof loadKernels>>;
beforeAll(async () => {
  kernels = await loadKernels();
});

describe('WebAssembly kernel: batch-1 generation step', () => {
  for (const flavor of FLAVORS) {
    for (const cell of ['lstm', 'gru', 'rnn'] as const) {
      for (const H of [5, 8, 12]) {
        it(`${flavor} ${cell} H=${H}: logits equal the reference pass within 1e-5 over 60 steps`, () => {
          const model = randomModel(cell, { numLayers: 3, hiddenSize: H, seed: H, scale: 1.5 });
          const fast = kernelStepper(loadKernelWeights(kernels[flavor], model));
          const ref = referenceStepper(model);
          const tokens = randomTokens(60, model.arch.vocabSize, 3);
          let worst = 0;
          for (const t of tokens) {
            const a = fast.step(t);
            const b = ref.step(t);
            for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
          }
          expect(worst).toBeLessThan(1e-5);
          fast.reset();
          expect(Array.from(fast.step(2))).toEqual(Array.from(kernelStepper(loadKernelWeights(kernels[flavor], model)).step(2)));
        });
      }
    }
  }

  it('works on float16 artifacts (decoded weights)', async () => {
    const model = await decodeArtifact(await encodeArtifact(randomModel('lstm', { hiddenSize: 16, scale: 1 }), 'float16'));
    const fast = kernelStepper(loadKernelWeights(kernels.simd, model));
    const ref = referenceStepper(model);
    for (const t of [1, 4, 2, 7]) {
      const a = fast.step(t);
      const b = ref.step(t);
      a.forEach((v, i) => expect(Math.abs(v - b[i])).toBeLessThan(1e-5));
    }
  });
});


describe('WebAssembly kernel: the int8 path (models stored as int8)', () => {
  for (const cell of ['lstm', 'gru', 'rnn'] as const) {
    it(`${cell}: logits within 2e-3 of the reference pass, identical across kernel builds`, async () => {
      const model = await decodeArtifact(await encodeArtifact(randomModel(cell, { numLayers: 2, hiddenSize: 40, seed: 3, scale: 0.8 }), 'int8'));
      expect(model.storage).toBe('int8');
      const tokens = randomTokens(100, model.arch.vocabSize, 5);
      const [a, b] = FLAVORS.map((f) => kernelStepper(loadKernelWeights(kernels[f], model)));
      const ref = referenceStepper(model);
      let worst = 0;
      for (const t of tokens) {
        const x = Array.from(a.step(t));
        expect(Array.from(b.step(t))).toEqual(x); // integer sums: no build-dependent rounding
        ref.step(t).forEach((v, i) => (worst = Math.max(worst, Math.abs(v - x[i]))));
      }
      expect(worst).toBeLessThan(2e-3);
      expect(worst).toBeGreaterThan(0); // it really is the int8 path
    });
  }
});
