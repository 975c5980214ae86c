import { beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { decodeArtifact, encodeArtifact, int8Scale, MAX_INT8_COLUMNS, toInt8 } from '../../shared/artifact.ts';
import { generationKernel, hasRelaxedSimd, instantiateKernel, packRowsQ8, type Kernel } from '../../shared/kernel/kernel.ts';
import { loadKernelNode } from '../../shared/platform/node.ts';
import { KernelModel, kernelRows, loadKernelWeights, referenceRows, type RowStepper } from '../../shared/kernel/stepper.ts';
import type { Model } from '../../shared/model.ts';
import { Vocab } from '../../shared/vocab.ts';
import { FLAVORS, loadKernels, randomModel, randomTokens } from '../helpers.ts';

let kernels: Awaited<ReturnType<typeof loadKernels>>;
beforeAll(async () => {
  kernels = await loadKernels();
});

/** Row 0's logits after feeding `tokens` one at a time. */
function run(stepper: RowStepper, tokens: ArrayLike<number>, row = 0): number[][] {
  const V = stepper.vocabSize;
  return Array.from(tokens, (t) => Array.from(stepper.step(row, [t]).subarray(0, V)));
}

describe('WebAssembly kernel: the generation step', () => {
  for (const flavor of FLAVORS) {
    for (const cell of ['lstm', 'gru', 'rnn'] as const) {
      for (const H of [5, 8, 12]) {
        it(`${flavor} ${cell} H=${H}: logits equal the reference pass within 1e-5 over 60 steps`, () => {
          const model = randomModel(cell, { numLayers: 3, hiddenSize: H, seed: H, scale: 1.5 });
          const fast = kernelRows(loadKernelWeights(kernels[flavor], model), 1);
          const tokens = randomTokens(60, model.arch.vocabSize, 3);
          const a = run(fast, tokens);
          const b = run(referenceRows(model, 1), tokens);
          let worst = 0;
          a.forEach((row, i) => row.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - b[i][j])))));
          expect(worst).toBeLessThan(1e-5);
          fast.reset(0);
          expect(Array.from(fast.step(0, [2]))).toEqual(Array.from(kernelRows(loadKernelWeights(kernels[flavor], model), 1).step(0, [2])));
        });
      }
    }
  }

  it('works on float16 artifacts (decoded weights)', async () => {
    const model = await decodeArtifact(await encodeArtifact(randomModel('lstm', { hiddenSize: 16, scale: 1 }), 'float16'));
    const a = run(kernelRows(loadKernelWeights(kernels.simd, model), 1), [1, 4, 2, 7]);
    const b = run(referenceRows(model, 1), [1, 4, 2, 7]);
    a.forEach((row, i) => row.forEach((v, j) => expect(Math.abs(v - b[i][j])).toBeLessThan(1e-5)));
  });
});

describe('WebAssembly kernel: batched rows compute exactly as a batch of one', () => {
  const models: [string, () => Promise<Model>][] = [
    ['float32 lstm H=12', async () => randomModel('lstm', { numLayers: 2, hiddenSize: 12, seed: 4, scale: 1.2 })],
    ['float32 gru H=37 (rows past the SIMD tile)', async () => randomModel('gru', { numLayers: 2, hiddenSize: 37, seed: 5, scale: 0.8 })],
    ['int8 rnn H=24', async () => decodeArtifact(await encodeArtifact(randomModel('rnn', { numLayers: 2, hiddenSize: 24, seed: 6, scale: 0.8 }), 'int8'))],
    ['int8 lstm H=40', async () => decodeArtifact(await encodeArtifact(randomModel('lstm', { numLayers: 2, hiddenSize: 40, seed: 7, scale: 0.8 }), 'int8'))],
  ];
  for (const [name, make] of models) {
    it(`${name}: 37 rows stepped together, in shifting groups, give each row's batch-1 logits bit for bit`, async () => {
      const model = await make();
      const w = loadKernelWeights(kernels.simd, model);
      const R = 37; // more than one 16-row tile
      const T = 25;
      const V = model.arch.vocabSize;
      const streams = Array.from({ length: R }, (_, r) => randomTokens(T, V, 100 + r));
      const alone = streams.map((tokens) => run(kernelRows(w, 1), tokens));
      const batch = kernelRows(w, R);
      const got: number[][][] = streams.map(() => []);
      for (let t = 0; t < T; t++) {
        // Rows are stepped in groups whose boundaries move from step to step.
        for (let first = 0; first < R; ) {
          const n = Math.min(R - first, 1 + ((t * 7 + first) % 13));
          const logits = batch.step(
            first,
            streams.slice(first, first + n).map((s) => s[t]),
          );
          for (let i = 0; i < n; i++) got[first + i].push(Array.from(logits.subarray(i * batch.logitsStride, i * batch.logitsStride + V)));
          first += n;
        }
      }
      for (let r = 0; r < R; r++) expect(got[r]).toEqual(alone[r]);
    });
  }

  it('copies, gathers and resets rows', () => {
    const model = randomModel('lstm', { hiddenSize: 8, seed: 2 });
    const rows = kernelRows(loadKernelWeights(kernels.simd, model), 4);
    const V = model.arch.vocabSize;
    const tokens = randomTokens(10, V, 1);
    for (const t of tokens) rows.step(0, [t, 1, 2, 3]);
    const next = (r: number) => Array.from(rows.step(r, [5]).subarray(0, V));
    rows.copy(0, 3);
    rows.gather(0, [0, 0, 3, 2]);
    const expected = run(referenceRows(model, 1), [...tokens, 5])[10];
    for (const r of [0, 1]) next(r).forEach((v, j) => expect(Math.abs(v - expected[j])).toBeLessThan(1e-5));
    rows.reset(2);
    const fresh = run(referenceRows(model, 1), [5])[0];
    next(2).forEach((v, j) => expect(Math.abs(v - fresh[j])).toBeLessThan(1e-5));
  });
});

describe('WebAssembly kernel: the int8 path (models stored as int8)', () => {
  for (const cell of ['lstm', 'gru', 'rnn'] as const) {
    it(`${cell}: logits within 2e-3 of the reference pass, identical across kernel builds`, async () => {
      const model = await decodeArtifact(await encodeArtifact(randomModel(cell, { numLayers: 2, hiddenSize: 40, seed: 3, scale: 0.8 }), 'int8'));
      expect(model.storage).toBe('int8');
      const tokens = randomTokens(100, model.arch.vocabSize, 5);
      const [a, b] = FLAVORS.map((f) => run(kernelRows(loadKernelWeights(kernels[f], model), 1), tokens));
      expect(b).toEqual(a); // integer sums: no build-dependent rounding
      const ref = run(referenceRows(model, 1), tokens);
      let worst = 0;
      ref.forEach((row, i) => row.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - a[i][j])))));
      expect(worst).toBeLessThan(2e-3);
      expect(worst).toBeGreaterThan(0); // it really is the int8 path
    });
  }

  it(`sums rows of ${MAX_INT8_COLUMNS} columns exactly at the worst case (the bound the artifact enforces)`, async () => {
    expect(kernels.simd.k.q8MaxColumns()).toBe(MAX_INT8_COLUMNS);
    // One RNN layer whose W_hh rows are all +max and whose state is all +1 after the first step:
    // every product is 127 · 32767 and each i32 lane sums 4 · 129 of them, just under 2^31.
    const H = MAX_INT8_COLUMNS;
    const vocab = new Vocab(['<unk>', 'a']);
    const arch = { cell: 'rnn' as const, numLayers: 1, hiddenSize: H, vocabSize: 2, input: 'one-hot' as const };
    const params = {
      'rnn.weight_ih_l0': new Float32Array(H * 2).fill(10), // tanh(10 + …) = 1: the state saturates at +1
      'rnn.weight_hh_l0': new Float32Array(H * H).fill(0.01),
      'rnn.bias_ih_l0': new Float32Array(H),
      'rnn.bias_hh_l0': new Float32Array(H),
      'linear.weight': new Float32Array(2 * H).fill(1),
      'linear.bias': new Float32Array(2),
    };
    const model = await decodeArtifact(await encodeArtifact({ name: 'bound', arch, vocab, preprocessing: 'raw', params, training: null }, 'int8'));
    const km = new KernelModel(kernels.simd, model);
    const rows = km.acquire(1);
    rows.step(0, [1]);
    const logits = rows.step(0, [1]);
    // Σ_j 1 · 1 over H columns (up to int16 rounding of the state: 32767/32767 = 1).
    expect(Math.abs(logits[0] - H) / H).toBeLessThan(1e-3);
    km.release(rows);
    km.dispose();
  });
});

describe('WebAssembly kernel: 7-bit states on the relaxed dot product (int8 renditions with stateBits 7)', () => {
  /** Every build: portable (standard SIMD), kernel-dot (relaxed dot product), kernel-dotadd (relaxed dot-add), and the training build. */
  let builds: Kernel[];
  beforeAll(async () => {
    const chosen = await loadKernelNode('simd'); // switches relaxed SIMD on in this Node
    const build = async (name: string) =>
      instantiateKernel(await WebAssembly.compile(readFileSync(new URL(`../../shared/kernel/build/${name}`, import.meta.url))));
    const dotAdd = await build('kernel-dotadd.wasm');
    builds = [await loadKernelNode('portable'), await build('kernel-dot.wasm'), kernels['relaxed-simd']];
    expect(builds.map((k) => k.build)).toEqual(['kernel.wasm', 'kernel-dot.wasm', 'kernel-relaxed.wasm']);
    expect(builds.map((k) => k.k.gemmQ7Exact())).toEqual([1, 1, 1]);
    // The dot-add build joins where this engine computes it exactly (Node 20's V8 does not), and
    // Node generates on it only where its dot-add is also the one-instruction kind.
    if (dotAdd.k.gemmQ7Exact()) builds.push(dotAdd);
    expect(chosen.build).toBe(dotAdd.k.gemmQ7Exact() && dotAdd.k.dotAddUnsaturated() ? 'kernel-dotadd.wasm' : 'kernel-dot.wasm');
  });

  it("catches an engine's wrong dot-add (Node 20's V8), and the loader then never takes that build", async () => {
    const bytes = (name: string) => new Uint8Array(readFileSync(new URL(`../../shared/kernel/build/${name}`, import.meta.url)));
    const dotAdd = await instantiateKernel(await WebAssembly.compile(bytes('kernel-dotadd.wasm')));
    // V8 11.3 lowers i32x4.relaxed_dot_i8x16_i7x16_add_s wrongly (120 for 4 · 3 · 5 + 7; twice the sums in gemmQ7's tiles).
    if (process.versions.v8.startsWith('11.')) expect(dotAdd.k.gemmQ7Exact()).toBe(0);
    const picked = await generationKernel({ portable: bytes('kernel.wasm'), dot: bytes('kernel-dot.wasm'), dotAdd: bytes('kernel-dotadd.wasm') });
    expect(picked.build).toBe(dotAdd.k.gemmQ7Exact() && dotAdd.k.dotAddUnsaturated() ? 'kernel-dotadd.wasm' : 'kernel-dot.wasm');
    // Without relaxed builds, the portable one.
    expect((await generationKernel({ portable: bytes('kernel.wasm') })).build).toBe('kernel.wasm');
  });

  it('gemmQ7 is the exact integer product, less the zero point, converted once: the same bits on every build', () => {
    const rows = 24,
      cols = 70,
      S = 80,
      n = 3;
    const w = Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i * 1.7) * (1 + (i % 5)));
    const x = Float32Array.from({ length: n * S }, (_, i) => (i % S < cols ? Math.cos(i * 0.91) * 1.2 : 0)); // some past ±1: clamped
    const { q, scales7, rowsums } = packRowsQ8(w, rows, cols);
    const outs = builds.map((k) => {
      const [wp, sp, rp, xp, up, yp] = [k.putBytes(q), k.put(scales7), k.putBytes(new Uint8Array(rowsums.buffer)), k.put(x), k.alloc(n * S), k.alloc(n * rows)];
      k.k.quantize7(xp, up, cols, n, S, S);
      k.k.gemmQ7(wp, rp, sp, 0, up, yp, rows / 8, S / 16, n, S, rows);
      const u = Array.from(new Uint8Array(k.k.memory.buffer, up, n * S));
      const y = Array.from(k.f32(yp, n * rows));
      for (const p of [wp, sp, rp, xp, up, yp]) k.free(p);
      return { u, y };
    });
    for (const o of outs.slice(1)) expect(o).toEqual(outs[0]);
    // u = round(63·clamp(x)) + 64, ties to even; the padding stays 0.
    const nearest = (v: number) => (Math.abs(v % 1) === 0.5 ? 2 * Math.round(v / 2) : Math.round(v));
    expect(outs[0].u).toEqual(Array.from(x, (v, i) => (i % S < cols ? nearest(Math.max(-1, Math.min(1, v)) * 63) + 64 : 0)));
    for (let r = 0; r < n; r++) {
      for (let o = 0; o < rows; o++) {
        const s = int8Scale(w, o * cols, cols);
        let total = 0;
        for (let c = 0; c < cols; c++) total += toInt8(w[o * cols + c], s) * (outs[0].u[r * S + c] - 64);
        expect(outs[0].y[r * rows + o]).toBe(Math.fround(Math.fround(total) * Math.fround(s / 63)));
      }
    }
  });

  it('a 7-bit rendition: one text on every build, within 0.5% of the float32 perplexity; the int16 rendition keeps its own texts', async () => {
    const float = randomModel('lstm', { numLayers: 2, hiddenSize: 48, seed: 8, scale: 0.9 });
    const u7 = await decodeArtifact(await encodeArtifact(float, 'int8', 7));
    const i16 = await decodeArtifact(await encodeArtifact(float, 'int8'));
    expect([u7.stateBits, i16.stateBits]).toEqual([7, undefined]);
    const tokens = randomTokens(300, float.arch.vocabSize, 2);
    const logits = builds.map((k) => run(kernelRows(loadKernelWeights(k, u7), 1), tokens));
    for (const l of logits.slice(1)) expect(l).toEqual(logits[0]);
    const nll = (rows: number[][]) => rows.slice(0, -1).reduce((a, l, i) => a + Math.log(l.reduce((z, v) => z + Math.exp(v), 0)) - l[tokens[i + 1]], 0);
    const ref = nll(run(referenceRows(float, 1), tokens));
    expect(Math.abs(Math.exp((nll(logits[0]) - ref) / 299) - 1)).toBeLessThan(0.005);
    expect(run(kernelRows(loadKernelWeights(builds[0], i16), 1), tokens)).not.toEqual(logits[0]);
  });
});

describe('int8 renditions without stateBits (exported before 2026-12-05)', () => {
  it("keep today's path and today's texts, on every generation build", async () => {
    const { readModelDir } = await import('../../shared/platform/node.ts');
    const { predict } = await import('../../shared/generate.ts');
    const float = await readModelDir(new URL('../../models/timemachine-deep-lstm', import.meta.url).pathname);
    const old = await decodeArtifact(await encodeArtifact(float, 'int8')); // no stateBits: int16 states
    for (const k of [await loadKernelNode('portable'), await loadKernelNode('simd')]) {
      // The text the shipped int8 rendition wrote before it was exported with 7-bit states.
      expect(predict(old, { prefix: 'time traveller', numChars: 60, temperature: 0.8, seed: 42 }, new KernelModel(k, old)).text).toBe(
        'time traveller and there will i was seemed the morlocks there was companib',
      );
    }
  });
});

describe('loading the training build', () => {
  it('a damaged build is an error naming it, never a quiet fall back to the portable one (other floats)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'deeprnn-kernels-'));
    try {
      const src = new URL('../../shared/kernel/build/', import.meta.url);
      for (const f of ['kernel.wasm', 'kernel-relaxed.wasm']) copyFileSync(new URL(f, src), join(dir, f));
      const url = pathToFileURL(`${dir}/`);
      expect((await loadKernelNode('fastest', url)).flavor).toBe('relaxed-simd');
      expect(hasRelaxedSimd()).toBe(true);
      const whole = readFileSync(join(dir, 'kernel-relaxed.wasm'));
      writeFileSync(join(dir, 'kernel-relaxed.wasm'), whole.subarray(0, whole.length >> 1)); // as a build half-way through writing it
      await expect(loadKernelNode('fastest', url)).rejects.toThrow(
        /^the WebAssembly kernel kernel-relaxed\.wasm is damaged \(.*\): run "npm run build:kernel"$/,
      );
      rmSync(join(dir, 'kernel-relaxed.wasm'));
      await expect(loadKernelNode('fastest', url)).rejects.toThrow(
        'the WebAssembly kernel kernel-relaxed.wasm is not built: run "npm run build:kernel" (npm install does it)',
      );
      writeFileSync(join(dir, 'kernel.wasm'), 'not wasm');
      await expect(loadKernelNode('portable', url)).rejects.toThrow(/kernel\.wasm is damaged/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('kernel memory', () => {
  it('pooled steppers and freed models reuse the same bytes', async () => {
    const kernel = (await loadKernels()).simd;
    const model = randomModel('lstm', { hiddenSize: 32, seed: 9 });
    const before = kernel.allocatedBytes;
    for (let i = 0; i < 5; i++) {
      const km = new KernelModel(kernel, model);
      for (let j = 0; j < 20; j++) km.release(km.acquire(8));
      km.dispose();
    }
    expect(kernel.allocatedBytes).toBe(before);
    const size = kernel.k.memory.buffer.byteLength;
    for (let i = 0; i < 20; i++) new KernelModel(kernel, model).dispose();
    expect(kernel.k.memory.buffer.byteLength).toBe(size);
  });
});
