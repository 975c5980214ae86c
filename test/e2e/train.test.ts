/**
 * Training in the page: /static/deeprnn.js's train() on a page of another origin, in Chromium —
 * the same weights, bit for bit, as `deeprnn train` in Node for the same text and options; stop()
 * still gives a model; bad input rejects with the CLI's message.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNodeServer, type NodeServer } from '../../edge/node.ts';
import { parseOptions } from '../../trainer/argv.ts';
import { TRAIN_OPTIONS } from '../../trainer/commands/train.ts';
import { trainConfig } from '../../trainer/config.ts';
import { train } from '../../trainer/train-files.ts';
import { EDGE_MODEL_DIR } from '../edge/samples.ts';
import { decodeArtifact } from '../../shared/artifact.ts';
import { predict } from '../../shared/generate.ts';
import { CROSS_ORIGIN_ISOLATED, launchChromium, launchWebGpuChromium, modulePage, pageServer } from './pages.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const SMALL = { hidden: 16, layers: 1, batchSize: 4, numSteps: 8, epochs: 2, seed: 3, maxTokens: 4000, threads: 1 };

let browser: Browser;
let server: NodeServer;
let pages: Server;
let pageUrl = '';
let dir = '';
let text = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'deeprnn-page-train-'));
  text = (await readFile(join(ROOT, 'data/timemachine.txt'), 'utf8')).slice(0, 6000);
  server = await startNodeServer({ modelDir: EDGE_MODEL_DIR, port: 0, host: '127.0.0.1', workers: 1 });
  const p = await pageServer({ '/': modulePage(server.url), '/isolated': { html: modulePage(server.url), headers: CROSS_ORIGIN_ISOLATED } });
  pages = p.server;
  pageUrl = `${p.url}/`;
  browser = await launchChromium();
}, 120_000);
afterAll(async () => {
  await browser?.close();
  pages?.close();
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

type PageResult = { ok: true; sha256: string; stoppedBy: string; backend: string; modelJson: string; epochs: number[] } | { ok: false; message: string };
/** train() in a page; the weights come back as their SHA-256. */
async function trainInPage(page: Page, input: Record<string, unknown>, stopAt?: { epoch: number; window: number }): Promise<PageResult> {
  return page.evaluate(
    async ({ input, stopAt }) => {
      const d = (
        window as unknown as {
          deeprnn: { train: (i: unknown) => { stop(): void; result: Promise<{ modelJson: string; weights: Uint8Array; stoppedBy: string; backend: string }> } };
        }
      ).deeprnn;
      const epochs: number[] = [];
      let run: { stop(): void } | null = null;
      try {
        run = d.train({
          ...input,
          onProgress: (p: { kind: string; epoch: number; window: number }) => {
            if (p.kind === 'epoch') epochs.push(p.epoch);
            if (stopAt && p.kind === 'window' && p.epoch === stopAt.epoch && p.window === stopAt.window) run!.stop();
          },
        });
        const r = await (run as unknown as { result: Promise<{ modelJson: string; weights: Uint8Array; stoppedBy: string; backend: string }> }).result;
        const digest = await crypto.subtle.digest('SHA-256', new Uint8Array(r.weights));
        return {
          ok: true as const,
          sha256: [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join(''),
          stoppedBy: r.stoppedBy,
          backend: r.backend,
          modelJson: r.modelJson,
          epochs,
        };
      } catch (e) {
        return { ok: false as const, message: (e as Error).message };
      }
    },
    { input, stopAt },
  );
}

describe('train() in a page of another origin (Chromium)', () => {
  it('gives the weights deeprnn train gives in Node, bit for bit, and model.json as it writes it', async () => {
    const file = join(dir, 'corpus.txt');
    await writeFile(file, text);
    const args = Object.entries(SMALL).flatMap(([k, v]) => [`--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`, String(v)]);
    const out = join(dir, 'cli');
    await train(trainConfig(parseOptions(TRAIN_OPTIONS, ['--corpus', file, ...args]).values), out, { log: () => {} });
    const expected = createHash('sha256')
      .update(await readFile(join(out, 'weights.bin')))
      .digest('hex');
    const page = await browser.newPage();
    await page.goto(pageUrl);
    await page.waitForFunction(() => document.body.dataset.ready === '1');
    const r = await trainInPage(page, { corpus: text, ...SMALL });
    if (!r.ok) throw new Error(r.message);
    expect(r.backend).toBe('wasm-relaxed-simd');
    expect(r.sha256).toBe(expected);
    expect(r.epochs).toEqual([1, 2]);
    expect(JSON.parse(r.modelJson).weights.sha256).toBe(expected);
    await page.close();
  });

  it('on a cross-origin isolated page, 2 threads give the weights deeprnn train --threads 2 gives', async () => {
    const file = join(dir, 'corpus2.txt');
    await writeFile(file, text);
    const args = Object.entries({ ...SMALL, threads: 2 }).flatMap(([k, v]) => [`--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`, String(v)]);
    const out = join(dir, 'cli2');
    await train(trainConfig(parseOptions(TRAIN_OPTIONS, ['--corpus', file, ...args]).values), out, { log: () => {} });
    const page = await browser.newPage();
    await page.goto(`${pageUrl}isolated`);
    await page.waitForFunction(() => document.body.dataset.ready === '1');
    expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
    const r = await trainInPage(page, { corpus: text, ...SMALL, threads: 2 });
    if (!r.ok) throw new Error(r.message);
    expect(r.backend).toBe('wasm-relaxed-simd ×2 threads');
    expect(r.sha256).toBe(
      createHash('sha256')
        .update(await readFile(join(out, 'weights.bin')))
        .digest('hex'),
    );
    await page.close();
  });

  it('stop() gives the best model so far; bad input rejects with one clear message', async () => {
    const page = await browser.newPage();
    await page.goto(pageUrl);
    await page.waitForFunction(() => document.body.dataset.ready === '1');
    const stopped = await trainInPage(page, { corpus: text, ...SMALL, epochs: 1000 }, { epoch: 2, window: 2 });
    expect(stopped).toMatchObject({ ok: true, stoppedBy: 'interrupted' });
    expect(await trainInPage(page, { corpus: 'too short', ...SMALL })).toEqual({ ok: false, message: expect.stringMatching(/too few for one window/) });
    expect(await trainInPage(page, { corpus: text, timeBudget: 0 })).toEqual({
      ok: false,
      message: expect.stringMatching(/^timeBudget must be a number in \(0, ∞\]/),
    });
    expect(await trainInPage(page, { corpus: text, hiden: 8 })).toEqual({ ok: false, message: 'hiden is not an option; did you mean hidden?' });
    await page.close();
  });
});

describe('<deeprnn-train> on a page of another origin (Chromium)', () => {
  it('trains on a pasted text with a live chart and samples, generates from the model, offers its files, and keeps it after a reload', async () => {
    const snippet = `<script type="module" src="${server.url}/static/deeprnn.js"></script>
<deeprnn-train hidden-units="16" layers="1" time-budget="1" epochs="3" batch-size="4" num-steps="8" max-tokens="4000" seed="1"></deeprnn-train>`;
    const host = await pageServer({ '/': `<!doctype html><body>${snippet}</body>` });
    const url = `${host.url}/`;
    const context = await browser.newContext();
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url);
    await page.waitForFunction(() => customElements.get('deeprnn-train') !== undefined);
    await page.fill('deeprnn-train textarea', text);
    await page.click('deeprnn-train .deeprnn-go');
    await page.waitForFunction(
      () =>
        (document.querySelector('deeprnn-train') as unknown as { files: unknown; error: string | null }).files ||
        (document.querySelector('deeprnn-train') as unknown as { error: string | null }).error,
      undefined,
      { timeout: 60_000 },
    );
    const state = await page.evaluate(() => {
      const el = document.querySelector('deeprnn-train') as unknown as HTMLElement & { error: string | null; points: { epoch: number }[]; modelUrl: string };
      return {
        error: el.error,
        epochs: el.points.filter((p) => Number.isInteger(p.epoch)).map((p) => p.epoch),
        chart: el.querySelector('.deeprnn-chart')!.innerHTML.slice(0, 4),
        sample: el.querySelector('.deeprnn-sample')!.textContent,
        json: (el.querySelector('.deeprnn-dl-json') as HTMLAnchorElement).href,
        shown: !(el.querySelector('.deeprnn-result') as HTMLElement).hidden,
        modelUrl: el.modelUrl,
      };
    });
    expect(state.error).toBeNull();
    expect(state.epochs).toEqual([1, 2, 3]);
    await page.waitForFunction(() => document.querySelector('deeprnn-train .deeprnn-chart')!.innerHTML.startsWith('<svg'));
    expect(state.sample!.length).toBeGreaterThan(10);
    expect(state.json).toMatch(/^blob:/);
    expect(state.shown).toBe(true);
    expect(state.modelUrl).toMatch(/^deeprnn-local:my-model-[0-9a-f]{12}\/$/);
    const generated = async () => {
      await page.click('deeprnn-train .deeprnn-generate-go');
      await page.waitForFunction(
        () =>
          (document.querySelector('deeprnn-train deeprnn-generate') as unknown as { result: unknown; error: unknown }).result ||
          (document.querySelector('deeprnn-train deeprnn-generate') as unknown as { error: unknown }).error,
      );
      return page.evaluate(() => {
        const g = document.querySelector('deeprnn-train deeprnn-generate') as unknown as { result: { numChars: number } | null; error: string | null };
        return { numChars: g.result?.numChars, error: g.error };
      });
    };
    expect(await generated()).toEqual({ numChars: 200, error: null });
    // A reload: the model is still there, and generates.
    await page.reload();
    await page.waitForFunction(() => (document.querySelector('deeprnn-train') as unknown as { files: unknown } | null)?.files);
    expect(await page.textContent('deeprnn-train .deeprnn-status')).toMatch(/your model from/);
    expect(await generated()).toEqual({ numChars: 200, error: null });
    // Bad input is a message in the element.
    await page.fill('deeprnn-train textarea', 'too short');
    await page.click('deeprnn-train .deeprnn-go');
    await page.waitForFunction(() => !(document.querySelector('deeprnn-train .deeprnn-error') as HTMLElement).hidden);
    expect(await page.textContent('deeprnn-train .deeprnn-error')).toMatch(/too few for one window/);
    expect(errors).toEqual([]);
    await context.close();
    host.server.close();
  });
});

describe("train() on the page's WebGPU (Chromium, SwiftShader's adapter)", () => {
  let gpuBrowser: Browser;
  beforeAll(async () => {
    gpuBrowser = await launchWebGpuChromium();
  }, 60_000);
  afterAll(() => gpuBrowser?.close());

  type GpuRun =
    | { engine: string; backend: string; progressEngines: string[]; perplexities: number[]; modelJson: string; weights: number[] }
    | { error: string };
  const trainOnGpu = async (input: Record<string, unknown>): Promise<GpuRun> => {
    const page = await gpuBrowser.newPage();
    try {
      await page.goto(pageUrl);
      await page.waitForFunction(() => document.body.dataset.ready === '1');
      return await page.evaluate(async (input) => {
        type P = { kind: string; perplexity: number; engine: string };
        type R = { engine: string; backend: string; modelJson: string; weights: Uint8Array };
        const d = (window as unknown as { deeprnn: { train: (i: unknown) => { result: Promise<R> } } }).deeprnn;
        const progressEngines = new Set<string>();
        const perplexities: number[] = [];
        try {
          const r = await d.train({
            ...input,
            onProgress: (p: P) => {
              progressEngines.add(p.engine);
              if (p.kind === 'epoch') perplexities.push(p.perplexity);
            },
          }).result;
          return { engine: r.engine, backend: r.backend, progressEngines: [...progressEngines], perplexities, modelJson: r.modelJson, weights: [...r.weights] };
        } catch (e) {
          return { error: (e as Error).message };
        }
      }, input);
    } finally {
      await page.close();
    }
  };

  it("engine 'webgpu' trains there, says so in every progress event and in the result, and its model loads and writes as every model does", async () => {
    const r = await trainOnGpu({ corpus: text, ...SMALL, engine: 'webgpu' });
    if ('error' in r) throw new Error(r.error);
    expect(r.engine).toBe('webgpu');
    expect(r.backend).toMatch(/swiftshader.*a CPU emulation for tests/i);
    expect(r.progressEngines).toEqual([`webgpu: ${r.backend}`]);
    // The same run on the native engine in Node: float32 within the parity test's bounds, so the epochs' perplexities agree closely.
    const file = join(dir, 'corpus-gpu.txt');
    await writeFile(file, text);
    const args = Object.entries(SMALL).flatMap(([k, v]) => [`--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`, String(v)]);
    const out = join(dir, 'cli-gpu');
    const perplexities: number[] = [];
    await train(trainConfig(parseOptions(TRAIN_OPTIONS, ['--corpus', file, ...args, '--engine', 'native']).values), out, {
      log: () => {},
      epoch: (rec) => void perplexities.push(rec.perplexity),
    });
    expect(r.perplexities).toHaveLength(perplexities.length);
    r.perplexities.forEach((p, i) => expect(Math.abs(p - perplexities[i]) / perplexities[i]).toBeLessThan(1e-4));
    const model = await decodeArtifact({ modelJson: r.modelJson, weights: Uint8Array.from(r.weights) });
    expect(model.training).toMatchObject({ engine: 'webgpu' });
    expect(predict(model, { prefix: 'the ', numChars: 20 }).generated).toHaveLength(20);
  }, 180_000);

  it("engine 'auto' leaves a CPU emulation alone and trains on WebAssembly; an engine the page cannot run is one line", async () => {
    const r = await trainOnGpu({ corpus: text, ...SMALL, epochs: 1, engine: 'auto' });
    if ('error' in r) throw new Error(r.error);
    expect(r.engine).toBe('native');
    expect(r.backend).toBe('wasm-relaxed-simd');
    const bad = await trainOnGpu({ corpus: text, ...SMALL, engine: 'tfjs-gpu' });
    expect(bad).toEqual({ error: expect.stringMatching(/^engine must be auto, native \(WebAssembly\) or webgpu here/) });
  }, 120_000);
});
