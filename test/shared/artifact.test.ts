import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeArtifact, encodeArtifact, MAX_INT8_COLUMNS, sha256Hex, type ModelJson } from '../../shared/artifact.ts';
import { ArtifactError } from '../../shared/errors.ts';
import { fromFloat16Bits, toFloat16Bits } from '../../shared/float16.ts';
import { beginState, referenceStep } from '../../shared/reference.ts';
import { readModelDir, writeModelDir } from '../../shared/platform/node.ts';
import type { Model } from '../../shared/model.ts';
import { randomModel } from '../helpers.ts';

const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'deeprnn-artifact-'));
  dirs.push(d);
  return d;
}

function logits(model: Model, tokens: number[]): number[] {
  let state = beginState(model.arch);
  const out: number[] = [];
  for (const t of tokens) {
    const r = referenceStep(model, state, t);
    state = r.state;
    out.push(...r.logits);
  }
  return out;
}

describe('model artifact v1', () => {
  for (const cell of ['lstm', 'gru', 'rnn'] as const) {
    it(`round-trips a ${cell} through files: same tensors, same logits`, async () => {
      const model = randomModel(cell, { numLayers: 2, hiddenSize: 5, seed: 7 });
      model.training = { epochs: 3, trainPerplexity: 4.5, engine: 'test' };
      const dir = await tempDir();
      await writeModelDir(dir, model);
      const back = await readModelDir(dir);
      expect(back.arch).toEqual(model.arch);
      expect(back.vocab.tokens).toEqual(model.vocab.tokens);
      expect(back.training).toEqual(model.training);
      for (const name of Object.keys(model.params)) expect(back.params[name]).toEqual(model.params[name]);
      expect(logits(back, [1, 2, 3, 0, 4])).toEqual(logits(model, [1, 2, 3, 0, 4]));
    });
  }

  it('writes PyTorch state_dict names, shapes and back-to-back offsets', async () => {
    const files = await encodeArtifact(randomModel('lstm', { numLayers: 2, hiddenSize: 4 }));
    const json = JSON.parse(files.modelJson) as ModelJson;
    expect(json.weights.tensors.map((t) => `${t.name}${JSON.stringify(t.shape)}@${t.offset}`)).toEqual([
      'rnn.weight_ih_l0[16,12]@0',
      'rnn.weight_hh_l0[16,4]@768',
      'rnn.bias_ih_l0[16]@1024',
      'rnn.bias_hh_l0[16]@1088',
      'rnn.weight_ih_l1[16,4]@1152',
      'rnn.weight_hh_l1[16,4]@1408',
      'rnn.bias_ih_l1[16]@1664',
      'rnn.bias_hh_l1[16]@1728',
      'linear.weight[12,4]@1792',
      'linear.bias[12]@1984',
    ]);
    expect(json.weights.byteLength).toBe(2032);
    expect(json.weights.sha256).toBe(await sha256Hex(files.weights));
  });

  it('stores float16 at half the size, logits within float16 precision', async () => {
    const model = randomModel('gru', { hiddenSize: 6, scale: 1 });
    const f32 = await encodeArtifact(model, 'float32');
    const f16 = await encodeArtifact(model, 'float16');
    expect(f16.weights.length * 2).toBe(f32.weights.length);
    const back = await decodeArtifact(f16);
    const a = logits(model, [1, 5, 2]);
    const b = logits(back, [1, 5, 2]);
    a.forEach((v, i) => expect(Math.abs(v - b[i])).toBeLessThan(5e-3));
  });

  it('stores int8 with per-row float32 scales: a quarter of the size, each weight within half a step', async () => {
    const model = randomModel('lstm', { hiddenSize: 8, scale: 1 });
    const f32 = await encodeArtifact(model, 'float32');
    const i8 = await encodeArtifact(model, 'int8');
    expect(i8.weights.length).toBeLessThan(f32.weights.length / 2); // scales weigh more in a tiny model
    const back = await decodeArtifact(i8);
    const w = model.params['rnn.weight_hh_l1'];
    const cols = 8;
    for (let r = 0; r < 32; r++) {
      const row = w.subarray(r * cols, (r + 1) * cols);
      const step = Math.max(...row.map(Math.abs)) / 127;
      row.forEach((v, c) => expect(Math.abs(back.params['rnn.weight_hh_l1'][r * cols + c] - v)).toBeLessThanOrEqual(step / 2 + 1e-7));
    }
    const json = JSON.parse(i8.modelJson) as ModelJson;
    expect(json.weights.dtype).toBe('int8');
    expect(json.weights.tensors[1].offset).toBe(32 * 4 + 32 * 12); // [32, 12] int8 after its 32 scales
  });

  it('converts float16 exactly where representable and rounds to nearest even', () => {
    for (const v of [0, -0, 1, -2, 0.5, 65504, 2 ** -24, 2 ** -14, Infinity, -Infinity]) expect(fromFloat16Bits(toFloat16Bits(v))).toBe(v);
    expect(Number.isNaN(fromFloat16Bits(toFloat16Bits(NaN)))).toBe(true);
    expect(toFloat16Bits(1 + 2 ** -11)).toBe(0x3c00); // halfway: ties to even (down)
    expect(toFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // halfway: ties to even (up)
    expect(fromFloat16Bits(toFloat16Bits(1e6))).toBe(Infinity);
    expect(fromFloat16Bits(toFloat16Bits(0.1))).toBeCloseTo(0.0999755859375, 12);
  });
});

describe('loading refuses a corrupt model, naming the problem', () => {
  async function files() {
    return encodeArtifact(randomModel('lstm', { hiddenSize: 3 }));
  }
  async function withJson(edit: (j: ModelJson) => void) {
    const f = await files();
    const j = JSON.parse(f.modelJson) as ModelJson;
    edit(j);
    return { modelJson: JSON.stringify(j), weights: f.weights };
  }
  async function refusal(p: Promise<unknown>): Promise<ArtifactError> {
    const e = await p.then(
      () => null,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(ArtifactError);
    return e as ArtifactError;
  }

  it('missing files', async () => {
    const dir = await tempDir();
    expect((await refusal(readModelDir(dir))).message).toMatch(/model\.json does not exist/);
    const f = await files();
    await writeFile(join(dir, 'model.json'), f.modelJson);
    const e = await refusal(readModelDir(dir));
    expect(e.code).toBe('missing_file');
    expect(e.message).toMatch(/weights\.bin does not exist/);
  });

  it('invalid JSON, wrong format, wrong version', async () => {
    const f = await files();
    expect((await refusal(decodeArtifact({ modelJson: '{"format":', weights: f.weights }))).message).toMatch(/not valid JSON/);
    expect((await refusal(decodeArtifact(await withJson((j) => (j.format = 'onnx' as never))))).code).toBe('bad_format');
    const e = await refusal(decodeArtifact(await withJson((j) => (j.version = 2 as never))));
    expect(e.code).toBe('unsupported_version');
    expect(e.message).toMatch(/version 2 is not supported/);
  });

  it('truncated and oversize weights', async () => {
    const f = await files();
    const t = await refusal(decodeArtifact({ modelJson: f.modelJson, weights: f.weights.slice(0, f.weights.length - 4) }));
    expect(t.code).toBe('weights_truncated');
    const big = new Uint8Array(f.weights.length + 1);
    big.set(f.weights);
    expect((await refusal(decodeArtifact({ modelJson: f.modelJson, weights: big }))).code).toBe('weights_oversize');
  });

  it('a flipped byte (hash mismatch)', async () => {
    const f = await files();
    const w = f.weights.slice();
    w[10] ^= 1;
    const e = await refusal(decodeArtifact({ modelJson: f.modelJson, weights: w }));
    expect(e.code).toBe('weights_hash_mismatch');
    expect(e.message).toMatch(/SHA-256/);
  });

  it('tensor shapes that disagree with the architecture', async () => {
    const e = await refusal(decodeArtifact(await withJson((j) => (j.architecture.hiddenSize = 4))));
    expect(e.code).toBe('tensor_shape_mismatch');
    expect(e.message).toMatch(/rnn\.weight_ih_l0 has shape \[12,12\]; the architecture needs \[16, 12\]/);
    expect((await refusal(decodeArtifact(await withJson((j) => (j.architecture.numLayers = 3))))).code).toBe('tensor_mismatch');
    expect((await refusal(decodeArtifact(await withJson((j) => (j.weights.tensors[1].name = 'rnn.weight_xx'))))).message).toMatch(/expected rnn\.weight_hh_l0/);
    expect((await refusal(decodeArtifact(await withJson((j) => (j.weights.tensors[2].offset += 4))))).message).toMatch(/starts at byte/);
  });

  it('vocabulary size mismatch and bad vocabulary', async () => {
    const e = await refusal(decodeArtifact(await withJson((j) => j.vocabulary.tokens.pop())));
    expect(e.code).toBe('vocab_size_mismatch');
    expect((await refusal(decodeArtifact(await withJson((j) => (j.vocabulary.tokens[0] = 'x'))))).code).toBe('bad_vocabulary');
    expect((await refusal(decodeArtifact(await withJson((j) => (j.vocabulary.preprocessing = 'lower' as never))))).message).toMatch(
      /preprocessing must be one of d2l, raw/,
    );
  });

  it('wrong types anywhere', async () => {
    expect((await refusal(decodeArtifact(await withJson((j) => (j.architecture.cell = 'transformer' as never))))).message).toMatch(/architecture\.cell/);
    expect((await refusal(decodeArtifact(await withJson((j) => (j.architecture.hiddenSize = 2.5))))).message).toMatch(/hiddenSize must be an integer/);
    expect((await refusal(decodeArtifact(await withJson((j) => (j.weights.dtype = 'int4' as never))))).message).toMatch(/weights\.dtype/);
    expect((await refusal(decodeArtifact(await withJson((j) => (j.weights.sha256 = 'abc'))))).message).toMatch(/sha256/);
    expect((await refusal(decodeArtifact(await withJson((j) => (j.training = 'yes' as never))))).message).toMatch(/training must be an object/);
    expect((await refusal(decodeArtifact(await withJson((j) => (j.weights.stateBits = 8 as never))))).message).toMatch(
      /weights\.stateBits must be one of 16, 7, got 8/,
    );
    // 7-bit states belong to int8 weights (these are float32).
    expect((await refusal(decodeArtifact(await withJson((j) => (j.weights.stateBits = 7))))).message).toMatch(
      /stateBits 7 applies to int8 weights, not float32/,
    );
  });

  it('records 7-bit states for int8 renditions that use them; older int8 renditions have none', async () => {
    const model = randomModel('gru', { hiddenSize: 16 });
    const u7 = await encodeArtifact(model, 'int8', 7);
    const i16 = await encodeArtifact(model, 'int8');
    expect((JSON.parse(u7.modelJson) as ModelJson).weights.stateBits).toBe(7);
    expect('stateBits' in (JSON.parse(i16.modelJson) as ModelJson).weights).toBe(false);
    expect(u7.weights).toEqual(i16.weights); // the same weights; only the arithmetic differs
    expect([(await decodeArtifact(u7)).stateBits, (await decodeArtifact(i16)).stateBits]).toEqual([7, undefined]);
    await expect(encodeArtifact(model, 'float16', 7)).rejects.toThrow(/stateBits 7 applies to int8 weights/);
  });

  it('weights that are NaN or ±Inf, even under a recomputed SHA-256', async () => {
    for (const [dtype, bad] of [
      ['float32', NaN],
      ['float32', Infinity],
      ['float16', -Infinity],
    ] as const) {
      const f = await encodeArtifact(randomModel('lstm', { hiddenSize: 3 }), dtype);
      const w = f.weights.slice();
      const view = new DataView(w.buffer);
      if (dtype === 'float32') view.setFloat32(8, bad, true);
      else view.setUint16(8, 0xfc00, true); // float16 −Inf
      const j = JSON.parse(f.modelJson) as ModelJson;
      j.weights.sha256 = await sha256Hex(w);
      const e = await refusal(decodeArtifact({ modelJson: JSON.stringify(j), weights: w }));
      expect(e.code).toBe('non_finite_weights');
      expect(e.message).toMatch(/rnn\.weight_ih_l0\[[24]\] is (NaN|-?Infinity): the weights are not all finite/);
    }
    const m = randomModel('gru', { hiddenSize: 3 });
    m.params['linear.bias'][1] = NaN;
    await expect(encodeArtifact(m, 'int8')).rejects.toThrow(/linear\.bias\[1\] is NaN/);
  });

  it('int8 where the kernel could not sum a row exactly (wider than its 32-bit bound)', async () => {
    const tokens = ['<unk>', 'a', 'b'];
    const wide = {
      name: 'wide',
      arch: { cell: 'rnn' as const, numLayers: 1, hiddenSize: MAX_INT8_COLUMNS + 1, vocabSize: 3, input: 'one-hot' as const },
      vocab: new (await import('../../shared/vocab.ts')).Vocab(tokens),
      preprocessing: 'raw' as const,
      training: null,
      params: {} as Record<string, Float32Array>,
    };
    await expect(encodeArtifact(wide, 'int8')).rejects.toThrow(/int8 weights support hidden sizes up to 2064/);
  });

  it('is written so that a crash never leaves a readable half-model', async () => {
    const dir = await tempDir();
    await writeModelDir(dir, randomModel('rnn', { seed: 1 }));
    const oldJson = await readFile(join(dir, 'model.json'), 'utf8');
    await writeModelDir(dir, randomModel('rnn', { seed: 2 }));
    await writeFile(join(dir, 'model.json'), oldJson); // new weights, stale model.json
    expect((await refusal(readModelDir(dir))).code).toBe('weights_hash_mismatch');
  });
});
