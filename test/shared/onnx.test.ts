import * as ort from 'onnxruntime-web';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { kernelRows, loadKernelWeights } from '../../shared/kernel/stepper.ts';
import { exportOnnx, onnxRunner, onnxState } from '../../shared/onnx.ts';
import { loadKernelNode, writeModelDir } from '../../shared/platform/node.ts';
import { Rng } from '../../shared/rng.ts';
import { main } from '../../trainer/cli.ts';
import { randomModel } from '../helpers.ts';

describe('ONNX export, run by onnxruntime-web (wasm)', () => {
  for (const cell of ['lstm', 'gru', 'rnn'] as const) {
    it(`${cell}: logits equal the native kernel within 1e-4 over 200 characters, in one call or chained calls`, async () => {
      const model = randomModel(cell, { numLayers: 2, hiddenSize: 32, seed: 17, scale: 0.6 });
      const session = await ort.InferenceSession.create(exportOnnx(model));
      const rng = new Rng(4);
      const tokens = Array.from({ length: 200 }, () => rng.randint(0, model.arch.vocabSize - 1));
      const native = kernelRows(loadKernelWeights(await loadKernelNode(), model), 1);
      const expected = tokens.flatMap((t) => [...native.step(0, [t]).subarray(0, model.arch.vocabSize)]);
      const V = model.arch.vocabSize;
      const state = Object.fromEntries(onnxState(model.arch).map((n) => [n.input, new ort.Tensor('float32', new Float32Array(32), [1, 1, 32])]));
      const ids = new ort.Tensor('int64', BigInt64Array.from(tokens.map(BigInt)), [200, 1]);
      const whole = (await session.run({ tokens: ids, ...state })).logits.data as Float32Array; // every position at once
      expect(whole.length).toBe(expected.length);
      let worst = 0;
      expected.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - whole[i]))));
      expect(worst).toBeLessThan(1e-4);
      // the runner: 150 characters in one call, then one call per character, state carried
      const run = onnxRunner(ort, session, model.arch);
      const after150 = await run(tokens.slice(0, 150));
      after150.forEach((v, i) => expect(Math.abs(v - whole[149 * V + i])).toBeLessThan(1e-5));
      for (let t = 150; t < 200; t++) (await run([tokens[t]])).forEach((v, i) => expect(Math.abs(v - whole[t * V + i])).toBeLessThan(1e-5));
    });
  }

  it('deeprnn export --format onnx writes the file; --dtype is refused with it; an existing file is kept unless --force', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'deeprnn-onnx-'));
    try {
      const model = randomModel('gru', { hiddenSize: 8 });
      await writeModelDir(join(dir, 'm'), model);
      expect(
        await main(
          ['export', '--format', 'onnx', '--model', join(dir, 'm'), '--out', join(dir, 'm.onnx')],
          () => {},
          () => {},
        ),
      ).toBe(0);
      const session = await ort.InferenceSession.create(new Uint8Array(await readFile(join(dir, 'm.onnx'))));
      expect(session.inputNames).toEqual(['tokens', 'h0_l0', 'h0_l1']);
      expect(session.outputNames).toEqual(['logits', 'hn_l0', 'hn_l1']);
      let err = '';
      expect(
        await main(
          ['export', '--format', 'onnx', '--dtype', 'int8', '--model', join(dir, 'm'), '--out', join(dir, 'x.onnx')],
          () => {},
          (s) => (err = s),
        ),
      ).toBe(2);
      expect(err).toMatch(/--dtype applies to artifacts/);
      const mine = join(dir, 'mine.onnx');
      await writeFile(mine, 'a file of the user');
      const onnx = (out: string, ...more: string[]) =>
        main(
          ['export', '--format', 'onnx', '--model', join(dir, 'm'), '--out', out, ...more],
          () => {},
          (s) => (err = s),
        );
      expect(await onnx(mine)).toBe(1);
      expect(err).toMatch(/mine\.onnx exists: choose another --out, or pass --force/);
      expect(await readFile(mine, 'utf8')).toBe('a file of the user');
      expect(await onnx(dir)).toBe(1);
      expect(err).toMatch(/is a folder: give a file name/);
      expect(await onnx(mine, '--force')).toBe(0);
      expect(await readFile(mine)).toEqual(await readFile(join(dir, 'm.onnx')));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
