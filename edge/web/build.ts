/**
 * npm run build:web — the browser module: build/web/static/{deeprnn.js, deeprnn-worker.js,
 * kernel.wasm, ort/…}. Served under /static/ by the Node server and as Workers assets.
 */
import { build } from 'esbuild';
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const out = `${root}build/web/static/`;
await rm(out, { recursive: true, force: true });
await mkdir(`${out}ort`, { recursive: true });
await build({
  entryPoints: { deeprnn: `${root}edge/web/client.ts`, 'deeprnn-worker': `${root}edge/web/worker.ts` },
  outdir: out,
  bundle: true,
  splitting: true, // onnxruntime-web becomes a chunk loaded only when runtime="onnx" is asked for
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  sourcemap: true,
  logLevel: 'warning',
});
await copyFile(`${root}shared/kernel/build/kernel.wasm`, `${out}kernel.wasm`);
for (const f of ['ort-wasm-simd-threaded.wasm', 'ort-wasm-simd-threaded.mjs']) await copyFile(`${root}node_modules/onnxruntime-web/dist/${f}`, `${out}ort/${f}`);
console.log(`browser module written to ${out}`);
