import { mkdir } from 'node:fs/promises';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNodeServer, type NodeServer } from '../../edge/node.ts';
import { main } from '../../trainer/cli.ts';
import { DEFAULT_MODEL_DIR, readModelDir } from '../../shared/platform/node.ts';
import { samplePrefix } from '../../shared/decode/validate.ts';
import { predict } from '../../shared/generate.ts';
import { DEMO_SETTINGS } from '../../edge/web/page.ts';
import { kernelBuildsInPage, launchChromium } from './pages.ts';

// The demo page from the Node server (npm start's default model, int8), in Debian's Chromium:
// generation in the page (Web Worker + WebAssembly kernel, and onnxruntime-web) and on the
// server must give the text `deeprnn generate` prints for the same settings.
const OUT = new URL('../../test-output/', import.meta.url).pathname;
const SETTINGS = { prefix: 'time traveller', numChars: '120', seed: '7' };

let server: NodeServer;
let browser: Browser;
let page: Page;
beforeAll(async () => {
  server = await startNodeServer({ modelDir: DEFAULT_MODEL_DIR, port: 0, host: '127.0.0.1' });
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 900, height: 1300 } });
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(`${server.url}/`);
  await page.waitForFunction(() => document.body.dataset.done, undefined, { timeout: 60_000 }); // the text written on arrival
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await server?.close();
});

async function generate(where: 'browser' | 'server', runtime: 'kernel' | 'onnx' = 'kernel'): Promise<string> {
  await page.fill('#prefix', SETTINGS.prefix);
  await page.fill('#numChars', SETTINGS.numChars);
  await page.fill('#temperature', '0');
  await page.fill('#topK', '');
  await page.fill('#seed', SETTINGS.seed);
  if (await page.locator('#author').count()) await page.selectOption('#author', ''); // (any), as the CLI without --author
  await page.check(`input[name=where][value=${where}]`);
  if (where === 'browser') await page.selectOption('#runtime', runtime);
  const before = await page.evaluate(() => document.body.dataset.done ?? '');
  await page.click('#go');
  await page.waitForFunction((b) => (document.body.dataset.done ?? '') !== b, before, { timeout: 60_000 });
  const status = await page.textContent('#status');
  expect(status).not.toMatch(/^error/);
  return page.evaluate(() => (document.getElementById('gen') as HTMLElement & { text: string }).text);
}

describe('the demo page in Chromium', () => {
  it('opens with a first text written in the page; landmarks, regions and labels pass axe; a hint per setting; a favicon', async () => {
    const model = await readModelDir(DEFAULT_MODEL_DIR);
    let cli = '';
    const s = DEMO_SETTINGS;
    // The page opens on the model's first author, when it has authors.
    const author = [...model.vocab.authors.keys()].slice(0, 1).flatMap((a) => ['--author', a]);
    await main(
      [
        'generate',
        '--model',
        DEFAULT_MODEL_DIR,
        '--prefix',
        samplePrefix(model),
        '--num-chars',
        String(s.numChars),
        '--temperature',
        String(s.temperature),
        '--top-k',
        String(s.topK),
        '--seed',
        String(s.firstSeed),
        ...author,
      ],
      (t) => (cli += t),
      () => {},
    );
    expect(await page.textContent('deeprnn-generate pre')).toBe(cli);
    // axe-core, injected past the page's CSP in a context of its own.
    const context = await browser.newContext({ bypassCSP: true });
    const audit = await context.newPage();
    await audit.goto(`${server.url}/`);
    await audit.waitForFunction(() => document.body.dataset.done, undefined, { timeout: 60_000 });
    await audit.addScriptTag({ path: new URL('../../node_modules/axe-core/axe.min.js', import.meta.url).pathname });
    const violations = await audit.evaluate(async () =>
      (await (window as unknown as { axe: { run(): Promise<{ violations: { id: string; nodes: { target: string[] }[] }[] }> } }).axe.run()).violations.map(
        (v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`,
      ),
    );
    expect(violations).toEqual([]);
    expect(await audit.locator('.hint').count()).toBeGreaterThanOrEqual(7);
    await context.close();
    const icon = await fetch(`${server.url}/favicon.ico`);
    expect(icon.status).toBe(200);
    expect(icon.headers.get('content-type')).toBe('image/x-icon');
    expect([...new Uint8Array(await icon.arrayBuffer()).slice(0, 4)]).toEqual([0, 0, 1, 0]);
  });

  it('generates the same text in the browser (kernel and ONNX), on the server, and with deeprnn generate', async () => {
    let cli = '';
    await main(
      ['generate', '--model', DEFAULT_MODEL_DIR, '--prefix', SETTINGS.prefix, '--num-chars', SETTINGS.numChars, '--temperature', '0', '--seed', SETTINGS.seed], // greedy, as the page is set
      (s) => (cli += s),
      () => {},
    );
    expect(cli.length).toBe(SETTINGS.prefix.length + Number(SETTINGS.numChars));
    expect(await generate('browser', 'kernel')).toBe(cli);
    expect(await generate('server')).toBe(cli);
    // onnxruntime-web runs the float32 graph: the reference pass's text, not the int8 kernel's.
    expect(await generate('browser', 'onnx')).toBe(
      predict(await readModelDir(DEFAULT_MODEL_DIR), {
        prefix: SETTINGS.prefix,
        numChars: Number(SETTINGS.numChars),
        temperature: 0,
        seed: Number(SETTINGS.seed),
      }).text,
    );
    expect(await page.textContent('deeprnn-generate pre')).toBe(cli); // what a person sees
    expect(await page.locator('.card img').evaluate((img: HTMLImageElement) => img.naturalWidth)).toBeGreaterThan(0); // the plot loaded
    // The greedy button: one click from the sampling defaults to predict_ch8's greedy text.
    await page.fill('#temperature', '0.8');
    await page.fill('#topK', '20');
    const before = await page.evaluate(() => document.body.dataset.done ?? '');
    await page.click('#greedy');
    await page.waitForFunction((b) => (document.body.dataset.done ?? '') !== b, before, { timeout: 60_000 });
    expect(await page.evaluate(() => (document.getElementById('gen') as HTMLElement & { text: string }).text)).toBe(cli);
    await mkdir(OUT, { recursive: true });
    await page.screenshot({ path: `${OUT}demo-page.png`, fullPage: true });
  });

  it("every kernel build gives the same 7-bit products on Chromium's own lowering of them; the page takes the fastest exact one", async () => {
    const report = await kernelBuildsInPage((f, a) => page.evaluate(f, a));
    expect(report.builds['kernel.wasm']).toMatchObject({ runs: true, exact: 1 });
    expect(report.builds['kernel-dot.wasm']).toMatchObject({ runs: true, exact: 1 });
    expect(report.builds['kernel-dotadd.wasm']).toMatchObject({ runs: true });
    expect(report.agree).toBe(true);
    console.log('Chromium kernel builds:', JSON.stringify(report.builds));
  });
});
