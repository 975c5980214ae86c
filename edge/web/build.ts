/**
 * npm run build:web — the browser module and its static files, in build/web/static:
 *   deeprnn.js     the <deeprnn-generate> element, with its Web Worker's code and the portable
 *                  kernel bundled in (the worker starts from a Blob, so the module works when
 *                  loaded from any origin); also the npm package's `deeprnn/web` entry
 *   ort/           onnxruntime-web's files (its wasm bundle and wasm), loaded only for runtime="onnx"
 *   swagger/       Swagger UI for /docs
 * Source maps only with DEEPRNN_SOURCEMAPS=1 (production paths do not serve them otherwise).
 * Served under /static/ by the Node server and as Workers assets.
 */
import { build } from 'esbuild';
import { copyFile, mkdir, readFile, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { ORT_MODULE } from './protocol.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const out = `${root}build/web/static/`;
const sourcemap = process.env.DEEPRNN_SOURCEMAPS === '1' ? 'inline' : false;
await rm(out, { recursive: true, force: true });
await mkdir(`${out}ort`, { recursive: true });
await mkdir(`${out}swagger`, { recursive: true });

const kernel = await readFile(`${root}shared/kernel/build/kernel.wasm`);
const dotKernel = await readFile(`${root}shared/kernel/build/kernel-dot.wasm`);
const dotAddKernel = await readFile(`${root}shared/kernel/build/kernel-dotadd.wasm`);
const common = { bundle: true, format: 'esm', platform: 'browser', target: 'es2022', minify: true, logLevel: 'warning', sourcemap } as const;
const worker = await build({
  ...common,
  entryPoints: [`${root}edge/web/worker.ts`],
  write: false,
  define: {
    __DEEPRNN_KERNEL_BASE64__: JSON.stringify(kernel.toString('base64')),
    __DEEPRNN_KERNEL_DOT_BASE64__: JSON.stringify(dotKernel.toString('base64')),
    __DEEPRNN_KERNEL_DOTADD_BASE64__: JSON.stringify(dotAddKernel.toString('base64')),
  },
});
const trainKernel = await readFile(`${root}shared/kernel/build/kernel-relaxed-unshared.wasm`);
const sharedKernel = await readFile(`${root}shared/kernel/build/kernel-relaxed.wasm`);
const trainHelper = await build({ ...common, entryPoints: [`${root}edge/web/train-helper.ts`], write: false });
const trainWorker = await build({
  ...common,
  entryPoints: [`${root}edge/web/train-worker.ts`],
  write: false,
  define: {
    __DEEPRNN_KERNEL_BASE64__: JSON.stringify(kernel.toString('base64')),
    __DEEPRNN_KERNEL_DOT_BASE64__: JSON.stringify(dotKernel.toString('base64')),
    __DEEPRNN_TRAIN_KERNEL_BASE64__: JSON.stringify(trainKernel.toString('base64')),
    __DEEPRNN_TRAIN_SHARED_KERNEL_BASE64__: JSON.stringify(sharedKernel.toString('base64')),
    __DEEPRNN_TRAIN_HELPER_SOURCE__: JSON.stringify(trainHelper.outputFiles[0].text),
  },
});
await build({
  ...common,
  entryPoints: { deeprnn: `${root}edge/web/client.ts` },
  outdir: out,
  // The chart (trainer/plot.ts) is a chunk of its own, loaded by <deeprnn-train> when it first draws.
  splitting: true,
  define: {
    __DEEPRNN_WORKER_SOURCE__: JSON.stringify(worker.outputFiles[0].text),
    __DEEPRNN_TRAIN_WORKER_SOURCE__: JSON.stringify(trainWorker.outputFiles[0].text),
  },
});
// onnxruntime-web's own files, as its package ships them: `ort-base` may point at any copy of them.
for (const f of [ORT_MODULE, 'ort-wasm-simd-threaded.wasm', 'ort-wasm-simd-threaded.mjs'])
  await copyFile(`${root}node_modules/onnxruntime-web/dist/${f}`, `${out}ort/${f}`);
for (const f of ['swagger-ui-bundle.js', 'swagger-ui.css', 'LICENSE', 'NOTICE'])
  await copyFile(`${root}node_modules/swagger-ui-dist/${f}`, `${out}swagger/${f}`);
console.log(`browser module written to ${out}`);
