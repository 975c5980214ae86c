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

