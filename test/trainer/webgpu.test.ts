/**
 * The WebGPU engine against the native engine, on every CI run: the loss and gradient norm of
 * every window, the gradients of the first three, and the weights, Adam's moments and the carried
 * state after 50 optimizer steps — LSTM, GRU and RNN, with dropout and weight drop, SGD with
 * clipping, Adam and AdamW — on Dawn in Node (SwiftShader's Vulkan driver here, a CPU emulation,
 * unless DEEPRNN_GPU_TESTS=hardware) and on Chromium's WebGPU. A missing adapter fails the test:
 * the setup (scripts/ensure-test-tools.sh) installs the Vulkan loader and SwiftShader.
 *
 * Tolerances, float32 throughout (stated in docs/training.md): loss and gradient norm 1e-5
 * relative; gradients 1e-5 absolute; weights and moments after 50 steps 1e-4 absolute; carried
 * state 1e-5 absolute. Summation orders differ (tiled GEMMs, tree reductions), so bits do not
 * agree; these bounds hold with two to three orders of magnitude to spare here.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Architecture, Model, Params } from '../../shared/model.ts';
import { loadKernelNode, readModelDir } from '../../shared/platform/node.ts';
import { main } from '../../trainer/cli.ts';
import type { EngineShape } from '../../trainer/engines/engine.ts';
import { NativeEngine } from '../../trainer/engines/native.ts';
import { WebGpuEngine } from '../../trainer/engines/webgpu/engine.ts';
import { openNodeGpu, SWIFTSHADER_ICD } from '../../trainer/engines/webgpu/node.ts';
import { launchWebGpuChromium, pageServer } from '../e2e/pages.ts';
import { randomModel } from '../helpers.ts';
import { maxDiff, runWindows, type WindowsPlan, type WindowsRecord } from './engine-windows.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
if (process.env.DEEPRNN_GPU_TESTS !== 'hardware') process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;

interface Case {
  name: string;
  model: Model;
  shape: EngineShape;
  plan: WindowsPlan;
}

/** Three networks, odd sizes included (H = 13, B = 3, three layers), every optimizer and dropout kind. */
const CASES: Case[] = (
  [
    ['lstm', 2, 8, 4, 5, { name: 'adam' }, 1, true],
    ['gru', 3, 13, 3, 7, { name: 'adam', weightDecay: 0.1 }, 1, true],
    ['rnn', 2, 8, 4, 5, { name: 'sgd' }, 0.05, false],
  ] as const
).map(([cell, layers, hidden, B, T, optimizer, clip, weightDrop]) => {
  const model = randomModel(cell, { numLayers: layers, hiddenSize: hidden, seed: 5, scale: 0.5 });
  const label = `${cell} ${layers}×${hidden}, batch ${B} × ${T}, ${optimizer.name}${'weightDecay' in optimizer ? 'W' : ''}, clip ${clip}${weightDrop ? ', dropout and weight drop' : ', dropout'}`;
  return {
    name: label,
    model,
    shape: { arch: model.arch, batchSize: B, numSteps: T, optimizer, weightDrop },
    plan: {
      batchSize: B,
      numSteps: T,
      vocabSize: model.arch.vocabSize,
      windows: 50,
      clip,
      lr: optimizer.name === 'sgd' ? 0.5 : 0.01,
      dropout: true,
      weightDrop,
      seed: 11,
    },
  };
});

async function native(c: Case): Promise<WindowsRecord> {
  const e = new NativeEngine(await loadKernelNode('simd'), c.shape);
  e.setParams(c.model.params);
  try {
    return await runWindows(e, c.plan);
  } finally {
    await e.dispose();
  }
}

/** The record of a WebGPU run against the native engine's, within the stated tolerances. */
function expectParity(gpu: WindowsRecord, cpu: WindowsRecord): void {
  const relative = (a: number, b: number) => Math.abs(a - b) / Math.max(1e-12, Math.abs(b));
  expect(gpu.losses.length).toBe(cpu.losses.length);
  for (const [i, l] of gpu.losses.entries()) expect(relative(l, cpu.losses[i]), `loss of window ${i + 1}`).toBeLessThan(1e-5);
  for (const [i, n] of gpu.norms.entries()) expect(relative(n, cpu.norms[i]), `gradient norm of window ${i + 1}`).toBeLessThan(1e-5);
  for (const [i, g] of gpu.grads.entries()) expect(maxDiff(g, cpu.grads[i]), `gradients of window ${i + 1}`).toBeLessThan(1e-5);
  expect(maxDiff(gpu.params, cpu.params), 'weights after 50 steps').toBeLessThan(1e-4);
  if (cpu.moments) {
    expect(maxDiff(gpu.moments!.m, cpu.moments.m), "Adam's first moments").toBeLessThan(1e-4);
    expect(maxDiff(gpu.moments!.v, cpu.moments.v), "Adam's second moments").toBeLessThan(1e-4);
  }
  expect(maxDiff({ c: gpu.carry }, { c: cpu.carry }), 'carried state').toBeLessThan(1e-5);
  // The engines trained: the weights moved well past the tolerance.
  expect(maxDiff(cpu.params, CASES[0].model.params)).toBeGreaterThan(1e-2);
}

describe('the WebGPU engine on Dawn (Node) equals the native engine', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const gpu = await openNodeGpu(); // no adapter: fails, with what is missing
      const e = new WebGpuEngine(gpu, c.shape);
      console.info(`WebGPU adapter: ${e.backend}`);
      expect(e.backend).toMatch(/\S/);
      e.setParams(c.model.params);
      try {
        expectParity(await runWindows(e, c.plan), await native(c));
      } finally {
        await e.dispose();
      }
    }, 120_000);
  }

  it('refuses a window of the wrong size and a token outside the vocabulary, in one line', async () => {
    const c = CASES[0];
    const e = new WebGpuEngine(await openNodeGpu(), c.shape);
    try {
      await expect(e.forwardBackward(new Int32Array(3), new Int32Array(3))).rejects.toThrow(/a window must hold 4×5 tokens/);
      const bad = new Int32Array(20).fill(1);
      bad[7] = 99;
      await expect(e.forwardBackward(bad, new Int32Array(20))).rejects.toThrow(/token id 99 is outside the vocabulary/);
    } finally {
      await e.dispose();
    }
  });
});

describe('deeprnn train --engine webgpu', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'deeprnn-webgpu-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("names the engine and the adapter in the run's first line, and writes a model every runtime reads", async () => {
    const out: string[] = [];
    const err: string[] = [];
    const args = ['train', '--corpus', join(ROOT, 'data/timemachine.txt'), '--preset', 'd2l', '--max-tokens', '1200', '--hidden', '16', '--layers', '1'];
    const code = await main(
      [...args, '--epochs', '1', '--batch-size', '4', '--num-steps', '8', '--engine', 'webgpu', '--out', join(dir, 'run')],
      (s) => out.push(s),
      (s) => err.push(s),
    );
    expect(err.join('\n')).toBe('');
    expect(code).toBe(0);
    expect(out[0]).toMatch(/^training on webgpu: /);
    if (process.env.DEEPRNN_GPU_TESTS !== 'hardware') expect(out[0]).toMatch(/swiftshader.*a CPU emulation for tests/i);
    const model = await readModelDir(join(dir, 'run'));
    expect(model.training).toMatchObject({ engine: 'webgpu', backend: expect.stringMatching(/\S/) });
  }, 120_000);

  it('resumes exactly: two epochs in one run, or one and then --resume for the second, give the same weights', async () => {
    const args = [
      'train',
      '--corpus',
      join(ROOT, 'data/timemachine.txt'),
      '--preset',
      'd2l',
      '--max-tokens',
      '700',
      '--hidden',
      '16',
      '--layers',
      '1',
      '--batch-size',
      '4',
    ];
    const quiet = { out: () => {}, err: () => {} };
    const run = (a: string[]) => main(a, quiet.out, quiet.err);
    const settings = ['--num-steps', '8', '--optimizer', 'adam', '--lr', '0.01', '--dropout', '0.2', '--engine', 'webgpu'];
    expect(await run([...args, ...settings, '--epochs', '2', '--out', join(dir, 'whole')])).toBe(0);
    expect(await run([...args, ...settings, '--epochs', '1', '--out', join(dir, 'half')])).toBe(0);
    expect(await run(['train', '--resume', join(dir, 'half'), '--epochs', '2'])).toBe(0);
    const [whole, half] = await Promise.all([readModelDir(join(dir, 'whole')), readModelDir(join(dir, 'half'))]);
    expect(maxDiff(half.params, whole.params)).toBe(0);
  }, 180_000);

  it('without an adapter: one line saying what is missing, and how to get it', async () => {
    const r = spawnSync(
      process.execPath,
      [
        join(ROOT, 'bin/deeprnn.js'),
        'train',
        '--corpus',
        join(ROOT, 'data/timemachine.txt'),
        '--engine',
        'webgpu',
        '--epochs',
        '1',
        '--out',
        join(dir, 'none'),
      ],
      {
        env: { ...process.env, VK_ICD_FILENAMES: join(dir, 'no-such-driver.json') },
        encoding: 'utf8',
      },
    );
    expect(r.status).not.toBe(0);
    const lines = r.stderr
      .trim()
      .split('\n')
      .filter((l) => !/^(error|warning): XDG_RUNTIME_DIR/.test(l));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /--engine webgpu found no GPU adapter: no Vulkan driver answered: install your GPU's driver .*NVIDIA_DRIVER_CAPABILITIES must include graphics/,
    );
  }, 60_000);
});

describe("the WebGPU engine in Chromium's WebGPU equals the native engine", () => {
  let browser: Browser;
  let close: () => void = () => {};
  let url = '';
  beforeAll(async () => {
    const bundle = await build({
      entryPoints: [join(ROOT, 'test/trainer/webgpu-page.ts')],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      write: false,
      logLevel: 'warning',
    });
    const script = bundle.outputFiles[0].text;
    const p = await pageServer({
      '/': `<!doctype html><body></body>`,
      '/parity.js': (res) => res.writeHead(200, { 'content-type': 'text/javascript' }).end(script),
    });
    close = () => p.server.close();
    url = p.url.replace('localhost', '127.0.0.1');
    browser = await launchWebGpuChromium();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    close();
  });

  type Flat = Omit<WindowsRecord, 'grads' | 'params' | 'moments' | 'carry'> & {
    grads: Record<string, number[]>[];
    params: Record<string, number[]>;
    moments: { m: Record<string, number[]>; v: Record<string, number[]> } | null;
    carry: number[];
    adapter: string;
  };
  const toParams = (p: Record<string, number[]>): Params => Object.fromEntries(Object.entries(p).map(([k, v]) => [k, Float32Array.from(v)]));

  for (const c of CASES) {
    it(c.name, async () => {
      const page = await browser.newPage();
      try {
        await page.goto(`${url}/`);
        await page.addScriptTag({ url: `${url}/parity.js`, type: 'module' });
        await page.waitForFunction(() => (window as unknown as { parity?: unknown }).parity !== undefined);
        const flat = await page.evaluate(
          ({ arch, params, shape, plan }) =>
            (
              window as unknown as {
                parity: (a: {
                  arch: Architecture;
                  params: Record<string, number[]>;
                  shape: Omit<EngineShape, 'arch'>;
                  plan: WindowsPlan;
                }) => Promise<Flat | string>;
              }
            ).parity({ arch, params, shape, plan }),
          {
            arch: c.model.arch,
            params: Object.fromEntries(Object.entries(c.model.params).map(([k, v]) => [k, [...v]])),
            shape: { batchSize: c.shape.batchSize, numSteps: c.shape.numSteps, optimizer: c.shape.optimizer, weightDrop: c.shape.weightDrop },
            plan: c.plan,
          },
        );
        if (typeof flat === 'string') throw new Error(`in Chromium: ${flat}`);
        console.info(`Chromium's WebGPU adapter: ${flat.adapter}`);
        expect(flat.adapter).toMatch(/\S/);
        const gpu: WindowsRecord = {
          losses: flat.losses,
          norms: flat.norms,
          grads: flat.grads.map(toParams),
          params: toParams(flat.params),
          moments: flat.moments ? { m: toParams(flat.moments.m), v: toParams(flat.moments.v) } : null,
          carry: Float32Array.from(flat.carry),
        };
        expectParity(gpu, await native(c));
      } finally {
        await page.close();
      }
    }, 120_000);
  }
});

it('runs where the setup put its tools: Chromium and SwiftShader (scripts/ensure-test-tools.sh)', () => {
  expect(existsSync('/usr/bin/chromium')).toBe(true);
  expect(existsSync(SWIFTSHADER_ICD)).toBe(true);
});
