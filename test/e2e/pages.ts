/**
 * What the browser tests share, and the benchmarks that drive a browser or a local server with
 * them: Debian's Chromium as the probe launches it, free ports, page servers on another origin
 * (localhost, where the deeprnn servers listen on 127.0.0.1), the README's embedding snippet as a
 * user copies it, and the kernel builds run in a page.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';

const ROOT = new URL('../..', import.meta.url).pathname;

/** Headless, no sandbox (root), and none of the background connections this closed network refuses. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
export const launchChromium = (): Promise<Browser> => chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });

/** Chromium with WebGPU: SwiftShader's adapter (a CPU emulation) in headless Chromium, on pages from localhost or 127.0.0.1. */
export const launchWebGpuChromium = (): Promise<Browser> =>
  chromium.launch({ executablePath: '/usr/bin/chromium', args: [...CHROMIUM_ARGS.filter((a) => a !== '--disable-gpu'), '--enable-unsafe-webgpu'] });

/** The headers that make a page cross-origin isolated (shared memory, threads). */
export const CROSS_ORIGIN_ISOLATED = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };

/** A page's HTML, with extra response headers, or a handler of its own. */
export type PageSpec = string | { html: string; headers: Record<string, string> } | ((res: ServerResponse) => void);

/** A port nothing listens on now (the OS picks it): a random one could be wrangler's inspector (9229) or another test's. */
export const freePort = (): Promise<number> =>
  new Promise((resolve) => {
    const s = createTcpServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });

/** A page server on another origin; `pages` maps paths to pages. */
export function pageServer(pages: Record<string, PageSpec>): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const page = pages[req.url ?? '/'];
    if (typeof page === 'function') return page(res);
    if (page === undefined) return void res.writeHead(404).end();
    if (typeof page === 'string') return void res.writeHead(200, { 'content-type': 'text/html' }).end(page);
    res.writeHead(200, { 'content-type': 'text/html', ...page.headers }).end(page.html);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ url: `http://localhost:${(server.address() as { port: number }).port}`, server })),
  );
}

/** A page that imports `server`'s /static/deeprnn.js as `window.deeprnn`, then sets body[data-ready]. */
export const modulePage = (server: string): string =>
  `<!doctype html><script type="module">import * as deeprnn from '${server}/static/deeprnn.js'; window.deeprnn = deeprnn; document.body.dataset.ready = '1';</script><body></body>`;

/** The README's embedding snippet, as a user copies it. */
export async function readmeSnippet(): Promise<string> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Embed generation in a web page'));
  return /```html\n([\s\S]*?)```/.exec(section)![1];
}

/** What `kernelBuildsInPage` reports of each generation build, and whether their products agree. */
export interface KernelBuildsReport {
  builds: Record<string, { runs: boolean; exact?: number; unsaturated?: number; gmacPerSecond?: { batch1: number; batch32: number } }>;
  /** Every build that runs and passes its self-test gives gemmQ7's outputs bit for bit alike. */
  agree: boolean;
}

/**
 * Every generation build compiled in a page, its self-test (`gemmQ7Exact`) and dot-add probe read,
 * and one gemmQ7 of 1,024 outputs × 256 columns (one layer's W_hh) at batch 1 and 32, compared
 * across the builds that pass — the products the page's texts come from, on this browser's own
 * lowering of them. `timed`: also each build's rate, best of five rounds (npm run bench:ceiling).
 */
type InPage = (a: { files: Record<string, string>; timed: boolean }) => Promise<KernelBuildsReport>;
export async function kernelBuildsInPage(
  evaluate: (f: InPage, a: { files: Record<string, string>; timed: boolean }) => Promise<KernelBuildsReport>,
  timed = false,
): Promise<KernelBuildsReport> {
  const b64 = async (name: string) => (await readFile(join(ROOT, 'shared/kernel/build', name))).toString('base64');
  const files = {
    'kernel.wasm': await b64('kernel.wasm'),
    'kernel-dot.wasm': await b64('kernel-dot.wasm'),
    'kernel-dotadd.wasm': await b64('kernel-dotadd.wasm'),
  };
  return evaluate(
    async ({ files, timed }) => {
      type Exports = { memory: WebAssembly.Memory; gemmQ7Exact(): number; dotAddUnsaturated(): number; gemmQ7(...a: number[]): void };
      const builds: KernelBuildsReport['builds'] = {};
      const outputs: number[][] = [];
      for (const [name, b64] of Object.entries(files)) {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        if (!WebAssembly.validate(bytes)) {
          builds[name] = { runs: false };
          continue;
        }
        const k = (await WebAssembly.instantiate(bytes, {})).instance.exports as unknown as Exports;
        const report: KernelBuildsReport['builds'][string] = { runs: true, exact: k.gemmQ7Exact(), unsaturated: k.dotAddUnsaturated() };
        builds[name] = report;
        k.memory.grow(32);
        const m = new Uint8Array(k.memory.buffer);
        const wq = 1 << 20,
          sums = wq + 1024 * 256,
          scales = sums + 4096,
          xu = scales + 4096,
          y = xu + 32 * 256;
        for (let i = 0; i < 1024 * 256; i++) m[wq + i] = (Math.imul(i, 2654435761) >>> 24) & 0xff;
        for (let i = 0; i < 32 * 256; i++) m[xu + i] = 1 + ((i * 40503) % 127);
        new Float32Array(k.memory.buffer, scales, 1024).fill(1 / 4096);
        // (No named functions in here: under tsx they would call a helper the page does not have.)
        const operands = [wq, sums, scales, 0, xu, y, 128, 16] as const;
        const out: number[] = [];
        const rate: number[] = [];
        for (const n of [1, 32]) {
          k.gemmQ7(...operands, n, 256, 1024);
          out.push(...new Float32Array(k.memory.buffer, y, n * 1024));
          if (!timed) continue;
          const reps = n === 1 ? 4000 : 200;
          for (let r = 0; r < reps / 4; r++) k.gemmQ7(...operands, n, 256, 1024);
          let best = Infinity;
          for (let trial = 0; trial < 5; trial++) {
            const t = performance.now();
            for (let r = 0; r < reps; r++) k.gemmQ7(...operands, n, 256, 1024);
            best = Math.min(best, (performance.now() - t) / reps);
          }
          rate.push(+((1024 * 256 * n) / best / 1e6).toFixed(1));
        }
        if (timed) report.gmacPerSecond = { batch1: rate[0], batch32: rate[1] };
        if (report.exact) outputs.push(out);
      }
      const agree = outputs.every((o) => o.length === outputs[0].length && o.every((v, i) => Object.is(v, outputs[0][i])));
      return { builds, agree };
    },
    { files, timed },
  );
}
