/**
 * npm run bench:page (not a test): training in the page against Node, one run, as JSON lines —
 * the d2l configuration (2 × 256 LSTM, batch 32 × 35, Adam) on data/timemachine.txt for
 * BENCH_SECONDS (20) each:
 *   - Node, the library's train (as deeprnn train): 1 thread, and all cores
 *   - Chromium, /static/deeprnn.js's train(): one worker (a page that is not isolated), and all
 *     cores on a cross-origin isolated page
 *   - Chromium, tfjs's own engine (trainer/engines/tfjs.ts, the tfjs-examples route) in the same
 *     page, on its wasm and cpu backends
 * With BENCH_QUALITY_CORPUS=FILE, also a BENCH_QUALITY_MINUTES (2) run with the defaults on that
 * text in Node and in the isolated page (all cores each): the best validation perplexity of each.
 * Loopback only; Debian's Chromium.
 */
import { build } from 'esbuild';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { availableParallelism, cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startNodeServer } from '../edge/node.ts';
import { loadKernelNode } from '../shared/platform/node.ts';
import { nodeSha256 } from '../trainer/corpus-files.ts';
import { nodeHelpers } from '../trainer/engines/index.ts';
import { startTraining, type TrainProgress } from '../trainer/library.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const emit = (o: object) => console.log(JSON.stringify(o));
const text = await readFile(`${ROOT}data/timemachine.txt`, 'utf8');
const D2L = { hidden: 256, layers: 2, batchSize: 32, numSteps: 35, optimizer: 'adam', valFraction: 0.05, timeBudget: SECONDS / 60 };
const cores = availableParallelism();
emit({ kind: 'machine', cpu: cpus()[0]?.model ?? 'unknown', cores, node: process.version, date: new Date().toISOString(), seconds: SECONDS });

/** tokens/s: the last window's figure (its epoch so far), and the epochs' own. */
const rate = (ps: TrainProgress[]) => ({
  tokensPerSecond: ps.filter((p) => p.kind === 'window').at(-1)?.tokensPerSecond ?? null,
  epochs: ps.filter((p) => p.kind === 'epoch').map((p) => p.tokensPerSecond),
});

for (const threads of [1, cores]) {
  const ps: TrainProgress[] = [];
  const host = { kernel: await loadKernelNode('fastest'), evalKernel: await loadKernelNode('simd'), cores, spawn: nodeHelpers, sha256: nodeSha256 };
  await startTraining({ corpus: text, ...D2L, threads }, host, (p) => ps.push(p)).result;
  emit({ kind: 'train', where: 'Node (library, as deeprnn train)', threads, ...rate(ps) });
}

const server = await startNodeServer({ modelDir: `${ROOT}models/timemachine-deep-lstm-int8`, port: 0, host: '127.0.0.1', workers: 1 });
// tfjs's engine for the page: trainer/engines/tfjs.ts with @tensorflow/tfjs (Node built-ins stubbed: the page never asks for a GPU).
const tfjsBundle = await build({
  stdin: {
    contents: `import * as tf from '@tensorflow/tfjs'; import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm'; import { TfjsEngine } from './trainer/engines/tfjs.ts'; import { initParams } from './shared/model.ts'; import { Rng } from './shared/rng.ts';
window.benchTfjs = async (backend, seconds) => {
  setWasmPaths('/tfjs/'); await tf.setBackend(backend); await tf.ready();
  const arch = { cell: 'lstm', numLayers: 2, hiddenSize: 256, vocabSize: 28, input: 'one-hot' };
  const e = new TfjsEngine(tf, { arch, batchSize: 32, numSteps: 35, optimizer: { name: 'adam' } }); const rng = new Rng(1); e.setParams(initParams(arch, () => rng.uniform()));
  const x = Int32Array.from({ length: 32 * 35 }, () => rng.randint(0, 27)), y = Int32Array.from({ length: 32 * 35 }, () => rng.randint(0, 27));
  await e.forwardBackward(x, y); e.clipGradients(1); e.step(0.001);
  const t0 = performance.now(); let n = 0;
  while (performance.now() - t0 < seconds * 1000) { await e.forwardBackward(x, y); e.clipGradients(1); e.step(0.001); n++; }
  return Math.round((n * 32 * 35) / ((performance.now() - t0) / 1000));
};`,
    resolveDir: ROOT,
    loader: 'ts',
  },
  bundle: true,
  format: 'esm',
  platform: 'browser',
  write: false,
  logLevel: 'error',
  plugins: [
    {
      name: 'no-node',
      setup(b) {
        b.onResolve({ filter: /^node:/ }, () => ({ path: 'stub', namespace: 'stub' }));
        b.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({ contents: 'export const existsSync = () => false, readdirSync = () => [];' }));
      },
    },
  ],
});
const tfjsWasm = async (name: string) => readFile(`${ROOT}node_modules/@tensorflow/tfjs-backend-wasm/dist/${name}`);
const page = () =>
  `<!doctype html><script type="module">import * as d from '${server.url}/static/deeprnn.js'; window.deeprnn = d; document.body.dataset.ready = '1';</script><body></body>`;
const pages = createServer(async (req, res) => {
  const coi = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };
  if (req.url === '/isolated') return void res.writeHead(200, { 'content-type': 'text/html', ...coi }).end(page());
  if (req.url === '/tfjs')
    return void res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><script type="module" src="/tfjs.js"></script><body></body>');
  if (req.url === '/tfjs.js') return void res.writeHead(200, { 'content-type': 'text/javascript' }).end(tfjsBundle.outputFiles[0].text);
  if (req.url?.startsWith('/tfjs/')) return void res.writeHead(200, { 'content-type': 'application/wasm' }).end(await tfjsWasm(req.url.slice(6)));
  res.writeHead(200, { 'content-type': 'text/html' }).end(page());
});
await new Promise<void>((r) => pages.listen(0, '127.0.0.1', () => r()));
const base = `http://localhost:${(pages.address() as { port: number }).port}`;
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});
try {
  for (const [path, threads] of [
    ['/', 1],
    ['/isolated', cores],
  ] as const) {
    const p = await browser.newPage();
    await p.goto(base + path);
    await p.waitForFunction(() => document.body.dataset.ready === '1');
    // A string, not a function: tsx's transform would give a function helpers the page lacks.
    const r = (await p.evaluate(`(async () => {
      const ps = [];
      const run = window.deeprnn.train({ ...${JSON.stringify({ corpus: text, ...D2L, threads })}, onProgress: (x) => ps.push(x) });
      const { backend } = await run.result;
      return { backend, tokensPerSecond: ps.filter((x) => x.kind === 'window').at(-1)?.tokensPerSecond ?? null, epochs: ps.filter((x) => x.kind === 'epoch').map((x) => x.tokensPerSecond) };
    })()`)) as { backend: string; tokensPerSecond: number | null; epochs: number[] };
    emit({ kind: 'train', where: `Chromium, train() (${path === '/' ? 'not isolated' : 'cross-origin isolated'})`, threads, ...r });
    await p.close();
  }
  const qualityFile = process.env.BENCH_QUALITY_CORPUS;
  if (qualityFile) {
    const minutes = Number(process.env.BENCH_QUALITY_MINUTES ?? 2);
    const book = await readFile(qualityFile, 'utf8');
    const input = { corpus: [{ name: 'book', text: book }], timeBudget: minutes, threads: cores };
    const host = { kernel: await loadKernelNode('fastest'), evalKernel: await loadKernelNode('simd'), cores, spawn: nodeHelpers, sha256: nodeSha256 };
    const node = await startTraining(input, host).result;
    const best = (records: { validationPerplexity: number | null }[]) => Math.min(...records.map((r) => r.validationPerplexity ?? Infinity));
    emit({
      kind: 'quality',
      where: 'Node',
      corpus: qualityFile,
      minutes,
      threads: cores,
      epochs: node.records.at(-1)?.epoch,
      bestValidationPerplexity: +best(node.records).toFixed(4),
    });
    const p = await browser.newPage();
    await p.goto(base + '/isolated');
    await p.waitForFunction(() => document.body.dataset.ready === '1');
    const r = (await p.evaluate(`(async () => {
      const run = window.deeprnn.train(${JSON.stringify(input)});
      const { modelJson } = await run.result;
      return JSON.parse(modelJson).training;
    })()`)) as { epochs: number; validationPerplexity: number };
    emit({
      kind: 'quality',
      where: 'Chromium, train() (cross-origin isolated)',
      corpus: qualityFile,
      minutes,
      threads: cores,
      epochs: r.epochs,
      bestValidationPerplexity: r.validationPerplexity,
    });
    await p.close();
  }
  for (const backend of ['wasm', 'cpu']) {
    const p = await browser.newPage();
    await p.goto(`${base}/tfjs`);
    await p.waitForFunction(() => 'benchTfjs' in window);
    const tokensPerSecond = await p.evaluate(`window.benchTfjs(${JSON.stringify(backend)}, ${Math.min(SECONDS, 15)})`);
    emit({ kind: 'train', where: `Chromium, tfjs ${backend} backend (trainer/engines/tfjs.ts)`, threads: 1, tokensPerSecond });
    await p.close();
  }
} finally {
  await browser.close();
  pages.close();
  await server.close();
}
