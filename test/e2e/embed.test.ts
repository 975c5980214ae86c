import { spawn, type ChildProcess } from 'node:child_process';
import type { Server } from 'node:http';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNodeServer, type NodeServer } from '../../edge/node.ts';
import type { GenerateResult } from '../../shared/contract.ts';
import { predict } from '../../shared/generate.ts';
import { readModelDir } from '../../shared/platform/node.ts';
import { generateFromServer } from '../../shared/remote.ts';
import { EDGE_MODEL_DIR, EDGE_MODEL_DIRS } from '../edge/samples.ts';
import { freePort, launchChromium, pageServer, readmeSnippet } from './pages.ts';

// <deeprnn-generate> as people embed it: the README's snippet, verbatim, on a page of ANOTHER
// origin (localhost vs 127.0.0.1), against the Node server and against the Worker in `wrangler
// dev` (workerd). In the page (kernel and ONNX runtimes) and streamed from the server, the text is
// the server's for the same seed; failures show in the element; memory stays flat; a second visit
// does not download the weights again.
const ROOT = new URL('../..', import.meta.url).pathname;

/** `MODEL_DIR=… npm run dev:edge -- --port N`, as a user starts it: the models staged, then wrangler dev. */
async function wranglerDev(): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'scripts/edge.ts'), 'dev', '--port', String(port), '--ip', '127.0.0.1', '--log-level', 'error'],
    {
      cwd: ROOT,
      env: { ...process.env, MODEL_DIR: EDGE_MODEL_DIRS, WRANGLER_SEND_METRICS: 'false' },
      stdio: 'ignore',
    },
  );
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 120; i++) {
    if ((await fetch(`${url}/healthz`).catch(() => null))?.ok) return { url, child };
    await new Promise((r) => setTimeout(r, 250));
  }
  child.kill();
  throw new Error('wrangler dev did not start');
}

const results = (page: Page) =>
  page
    .waitForFunction(
      () => {
        const els = [...document.querySelectorAll('deeprnn-generate')] as (HTMLElement & { result: unknown; error: string | null })[];
        return els.length > 0 && els.every((e) => e.result || e.error)
          ? els.map((e) => ({ result: e.result, error: e.error, text: e.querySelector('pre')?.textContent }))
          : null;
      },
      undefined,
      { timeout: 60_000 },
    )
    .then((h) => h.jsonValue() as Promise<{ result: GenerateResult | null; error: string | null; text: string }[]>);

let browser: Browser;
beforeAll(async () => {
  browser = await launchChromium();
}, 60_000);
afterAll(() => browser?.close());

const runtimes: [string, () => Promise<{ url: string; stop: () => Promise<void> }>][] = [
  [
    'the Node server',
    async () => {
      const s: NodeServer = await startNodeServer({ modelDir: EDGE_MODEL_DIRS, port: 0, host: '127.0.0.1' });
      return { url: s.url, stop: () => s.close() };
    },
  ],
  [
    'the Worker (wrangler dev)',
    async () => {
      const w = await wranglerDev();
      return { url: w.url, stop: async () => void w.child.kill() };
    },
  ],
];

for (const [name, start] of runtimes) {
  describe(`the README's snippet on a page of another origin, against ${name}`, () => {
    let host: { url: string; stop: () => Promise<void> };
    let pages: { url: string; server: Server };
    let context: BrowserContext;
    beforeAll(async () => {
      host = await start();
      const snippet = (await readmeSnippet())
        .replaceAll('https://your-deeprnn-host', host.url)
        .replaceAll('/models/books-deep-lstm', '/models/timemachine-deep-lstm');
      const onnx = snippet
        .replace(/<deeprnn-generate model=/, '<deeprnn-generate runtime="onnx" model=')
        .replace(/<deeprnn-generate endpoint=[\s\S]*?<\/deeprnn-generate>/, '');
      // The server's second model, by name, through the same endpoint.
      const named = `<script type="module" src="${host.url}/static/deeprnn.js"></script><deeprnn-generate endpoint="${host.url}/v1/generate" model-name="authors-deep-lstm" author="doyle" prefix="The " num-chars="80" temperature="0.7" seed="9" autostart></deeprnn-generate>`;
      pages = await pageServer({
        '/': `<!doctype html><html><body>${snippet}</body></html>`,
        '/onnx': `<!doctype html><html><body>${onnx}</body></html>`,
        '/named': `<!doctype html><html><body>${named}</body></html>`,
      });
      context = await browser.newContext();
    }, 120_000);
    afterAll(async () => {
      await context?.close();
      pages?.server.close();
      await host?.stop();
    });

    it("both elements generate, in the page and streamed from the server, the server's text for the same settings", async () => {
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(pages.url);
      const [inPage, streamed] = await results(page);
      expect(errors).toEqual([]);
      expect(inPage.error).toBeNull();
      expect(streamed.error).toBeNull();
      // The server's text, its budget slices (Workers) followed.
      const server = async (body: object) => (await generateFromServer(`${host.url}/v1/generate`, body)).text;
      expect(inPage.result!.text).toBe(await server({ prefix: 'time traveller', numChars: 200, temperature: 0.8, seed: 42 })); // prefix: the model's sample prefix
      expect(inPage.text).toBe(inPage.result!.text); // what a person sees
      expect(streamed.result!.text).toBe(await server({ prefix: 'the time', numChars: 200, temperature: 0.8, seed: 42 }));
      await page.close();
    });

    it("model-name picks one of the server's models for endpoint mode", async () => {
      const page = await context.newPage();
      await page.goto(`${pages.url}/named`);
      const [r] = await results(page);
      expect(r.error).toBeNull();
      const expected = await generateFromServer(`${host.url}/v1/generate`, {
        model: 'authors-deep-lstm',
        author: 'doyle',
        prefix: 'The ',
        numChars: 80,
        temperature: 0.7,
        seed: 9,
      });
      expect(expected.model).toBe('authors-deep-lstm');
      expect(r.result!.text).toBe(expected.text);
      await page.close();
    });

    it('runtime="onnx" loads onnxruntime-web relative to the module, and writes the reference pass\'s text (float states)', async () => {
      const page = await context.newPage();
      await page.goto(`${pages.url}/onnx`);
      const [r] = await results(page);
      expect(r.error).toBeNull();
      // onnxruntime runs the float32 graph of the (dequantised) weights: the reference pass's
      // arithmetic, not the int8 kernel's 7-bit states.
      expect(r.result!.text).toBe(predict(await readModelDir(EDGE_MODEL_DIR), { prefix: 'time traveller', numChars: 200, temperature: 0.8, seed: 42 }).text);
      await page.close();
    });
  });
}

describe('the element in a page', () => {
  let host: NodeServer;
  let pages: { url: string; server: Server };
  beforeAll(async () => {
    host = await startNodeServer({ modelDir: EDGE_MODEL_DIR, port: 0, host: '127.0.0.1' });
    const module = `<script type="module" src="${host.url}/static/deeprnn.js"></script>`;
    pages = await pageServer({
      '/': `<!doctype html><html><body>${module}<deeprnn-generate id="g" model="${host.url}/models/timemachine-deep-lstm" num-chars="20"></deeprnn-generate></body></html>`,
      '/errors': `<!doctype html><html><body>${module}
        <deeprnn-generate id="unreachable" model="http://127.0.0.1:1/models/nothing"></deeprnn-generate>
        <deeprnn-generate id="corrupt" model="/bad/"></deeprnn-generate>
        <deeprnn-generate id="autostart" model="http://127.0.0.1:1/models/nothing" autostart></deeprnn-generate>
        <deeprnn-generate id="bad-attribute" model="${host.url}/models/timemachine-deep-lstm" num-chars="lots"></deeprnn-generate></body></html>`,
      '/bad/model.json': (res) => res.writeHead(200, { 'content-type': 'application/json', 'access-control-allow-origin': '*' }).end('{"format": "nope"}'),
      '/bad/weights.bin': (res) => res.writeHead(200, { 'access-control-allow-origin': '*' }).end('xx'),
    });
  }, 60_000);
  afterAll(async () => {
    pages?.server.close();
    await host?.close();
  });

  it('shows every failure in the element, fires error, and rejects generate()', async () => {
    const page = await browser.newPage();
    await page.goto(`${pages.url}/errors`);
    await page.waitForFunction(() => customElements.get('deeprnn-generate'));
    const outcome = await page.evaluate(async () => {
      const out: Record<string, { rejected: string | null; shown: string; event: string | null }> = {};
      for (const id of ['unreachable', 'corrupt', 'bad-attribute']) {
        const el = document.getElementById(id) as HTMLElement & { generate(): Promise<unknown> };
        let event: string | null = null;
        el.addEventListener('error', (e) => (event = (e as unknown as CustomEvent<{ message: string }>).detail.message));
        const rejected = await el.generate().then(
          () => null,
          (e: Error) => e.message,
        );
        out[id] = { rejected, shown: el.querySelector('.deeprnn-error')?.textContent ?? '', event };
      }
      return out;
    });
    expect(outcome.unreachable.rejected).toMatch(
      /cannot fetch http:\/\/127\.0\.0\.1:1\/models\/nothing\/model\.json: the host is unreachable or does not allow this page's origin \(CORS\)/,
    );
    expect(outcome.corrupt.rejected).toMatch(/format must be "deeprnn-model"/);
    expect(outcome['bad-attribute'].rejected).toMatch(/attribute num-chars must be a whole number/);
    for (const o of Object.values(outcome)) {
      expect(o.shown).toBe(`deeprnn: ${o.rejected}`);
      expect(o.event).toBe(o.rejected);
    }
    // autostart: the failure is visible without anyone calling generate()
    await page.waitForFunction(() => document.querySelector('#autostart .deeprnn-error:not([hidden])'));
    await page.close();
  });

  it("200 generations in one page keep the worker's wasm memory and the page heap flat; a second visit does not download the weights", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const weightsRequests: string[] = [];
    context.on('request', (r) => r.url().endsWith('/weights.bin') && weightsRequests.push(r.url()));
    await page.goto(pages.url);
    const cdp = await context.newCDPSession(page);
    const heap = async () => {
      await cdp.send('HeapProfiler.collectGarbage');
      return (await cdp.send('Runtime.getHeapUsage')).usedSize;
    };
    // As strings: vitest rewrites import() in functions of this file, which the page cannot run.
    const stats = `(await import(document.querySelector('script').src)).workerStats()`;
    const run = (n: number): Promise<{ wasmBytes: number; allocatedBytes: number; models: number }> =>
      page.evaluate(`(async () => {
        const el = document.getElementById('g');
        for (let i = 0; i < ${n}; i++) {
          el.setAttribute('seed', String(i));
          if ((await el.generate()).numChars !== 20) throw new Error('short');
        }
        return ${stats};
      })()`);
    await run(20); // warm up
    const [before, heapBefore] = [await run(1), await heap()];
    const after = await run(200);
    const heapAfter = await heap();
    expect(after.wasmBytes).toBe(before.wasmBytes);
    expect(after.allocatedBytes).toBe(before.allocatedBytes);
    expect(after.models).toBe(1);
    expect(heapAfter - heapBefore).toBeLessThan(1 << 20);
    expect(weightsRequests).toHaveLength(1);
    // A second visit: the weights come from the Cache API, keyed by their SHA-256.
    await page.reload();
    await page.waitForFunction(() => customElements.get('deeprnn-generate'));
    expect((await run(1)).models).toBe(1);
    expect(weightsRequests).toHaveLength(1);
    // The last element using a model is removed: the worker frees it.
    const freed = await page.evaluate(`(async () => {
      document.getElementById('g').remove();
      // The element frees on disconnect, asynchronously: wait for it, within bounds.
      let models = (await ${stats}).models;
      for (let i = 0; i < 100 && models > 0; i++) {
        await new Promise((r) => setTimeout(r, 50));
        models = (await ${stats}).models;
      }
      return models;
    })()`);
    expect(freed).toBe(0);
    await context.close();
  });
});
