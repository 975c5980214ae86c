/**
 * A second browser: Debian's Firefox ESR, driven by puppeteer-core over WebDriver BiDi. The
 * README's snippet on a page of another origin against the Node server (in the page, on the
 * kernel and on onnxruntime-web, and streamed from the server: the server's text for the same
 * seed), and a short training in the page. Safari cannot be run here.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNodeServer, type NodeServer } from '../../edge/node.ts';
import type { GenerateResult } from '../../shared/contract.ts';
import { predict } from '../../shared/generate.ts';
import { readModelDir } from '../../shared/platform/node.ts';
import { parseOptions } from '../../trainer/argv.ts';
import { TRAIN_OPTIONS } from '../../trainer/commands/train.ts';
import { trainConfig } from '../../trainer/config.ts';
import { train } from '../../trainer/train-files.ts';
import { EDGE_MODEL_DIR } from '../edge/samples.ts';
import { kernelBuildsInPage, modulePage, pageServer, readmeSnippet } from './pages.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const FIREFOX = '/usr/bin/firefox-esr';

let browser: Browser;
let server: NodeServer;
let pages: Server;
let base = '';
let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'deeprnn-firefox-'));
  server = await startNodeServer({ modelDir: EDGE_MODEL_DIR, port: 0, host: '127.0.0.1', workers: 1 });
  const snippet = (await readmeSnippet())
    .replaceAll('https://your-deeprnn-host', server.url)
    .replaceAll('/models/books-deep-lstm', '/models/timemachine-deep-lstm');
  const onnx = snippet
    .replace(/<deeprnn-generate model=/, '<deeprnn-generate runtime="onnx" model=')
    .replace(/<deeprnn-generate endpoint=[\s\S]*?<\/deeprnn-generate>/, '');
  const p = await pageServer({
    '/': `<!doctype html><html><body>${snippet}</body></html>`,
    '/onnx': `<!doctype html><html><body>${onnx}</body></html>`,
    '/train': modulePage(server.url),
  });
  pages = p.server;
  base = p.url;
  browser = await puppeteer.launch({ browser: 'firefox', executablePath: FIREFOX, headless: true, protocol: 'webDriverBiDi' });
}, 120_000);
afterAll(async () => {
  await browser?.close();
  pages?.close();
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

const serverText = async (body: object) =>
  (
    (await (
      await fetch(`${server.url}/v1/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    ).json()) as GenerateResult
  ).text;

/** Every element's result (or error), once all have one. */
async function results(page: Page): Promise<{ text: string | null; error: string | null }[]> {
  await page.waitForFunction('[...document.querySelectorAll("deeprnn-generate")].every((e) => e.result || e.error)', { timeout: 60_000 });
  return (await page.evaluate(
    '[...document.querySelectorAll("deeprnn-generate")].map((e) => ({ text: e.result ? e.result.text : null, error: e.error }))',
  )) as { text: string | null; error: string | null }[];
}

describe(`Firefox ESR (${FIREFOX}, WebDriver BiDi)`, () => {
  it("the README's snippet on a page of another origin: in the page and streamed from the server, the server's text", async () => {
    const page = await browser.newPage();
    await page.goto(`${base}/`);
    const [inPage, streamed] = await results(page);
    expect(inPage.error).toBeNull();
    expect(streamed.error).toBeNull();
    expect(inPage.text).toBe(await serverText({ prefix: 'time traveller', numChars: 200, temperature: 0.8, seed: 42 }));
    expect(streamed.text).toBe(await serverText({ prefix: 'the time', numChars: 200, temperature: 0.8, seed: 42 }));
    await page.close();
  });

  it('every kernel build that runs gives the same 7-bit products on SpiderMonkey', async () => {
    const page = await browser.newPage();
    await page.goto(`${base}/`);
    const report = await kernelBuildsInPage((f, a) => page.evaluate(f, a));
    expect(report.builds['kernel.wasm']).toMatchObject({ runs: true, exact: 1 });
    expect(report.agree).toBe(true);
    console.log('Firefox kernel builds:', JSON.stringify(report.builds));
    await page.close();
  });

  it('runtime="onnx" (onnxruntime-web) writes the reference pass\'s text (float states)', async () => {
    const page = await browser.newPage();
    await page.goto(`${base}/onnx`);
    const [r] = await results(page);
    expect(r.error).toBeNull();
    expect(r.text).toBe(predict(await readModelDir(EDGE_MODEL_DIR), { prefix: 'time traveller', numChars: 200, temperature: 0.8, seed: 42 }).text);
    await page.close();
  });

  it("trains in the page on relaxed SIMD: deeprnn train's weights, bit for bit", async () => {
    const text = (await readFile(join(ROOT, 'data/timemachine.txt'), 'utf8')).slice(0, 6000);
    const small = { hidden: 16, layers: 1, batchSize: 4, numSteps: 8, epochs: 2, seed: 3, maxTokens: 4000, threads: 1 };
    const page = await browser.newPage();
    await page.goto(`${base}/train`);
    await page.waitForFunction('document.body.dataset.ready === "1"');
    const r = (await page.evaluate(`(async () => {
      const run = window.deeprnn.train(${JSON.stringify({ corpus: text, ...small })});
      const out = await run.result;
      const digest = await crypto.subtle.digest('SHA-256', out.weights);
      return { backend: out.backend, stoppedBy: out.stoppedBy, sha256: [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('') };
    })()`)) as { backend: string; stoppedBy: string; sha256: string };
    expect(r.stoppedBy).toBe('completed');
    const file = join(dir, 'corpus.txt');
    await writeFile(file, text);
    const args = Object.entries(small).flatMap(([k, v]) => [`--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`, String(v)]);
    await train(trainConfig(parseOptions(TRAIN_OPTIONS, ['--corpus', file, ...args]).values), join(dir, 'cli'), { log: () => {} });
    const node = createHash('sha256')
      .update(await readFile(join(dir, 'cli', 'weights.bin')))
      .digest('hex');
    expect(r.backend).toBe('wasm-relaxed-simd');
    expect(r.sha256).toBe(node);
    await page.close();
  });
});
