/**
 * npm run build:package (run by `npm pack` through prepack, after npm run build): the npm
 * package's browser entries, in dist/:
 *   deeprnn.js   `import { loadModel, generate } from 'deeprnn'` — the shared library, with the
 *                portable kernel bundled in (no Node built-ins: browsers, Workers, Node)
 *   ai-sdk.js    `import { createDeeprnn } from 'deeprnn/ai-sdk'` — the AI SDK provider (its types from
 *                @ai-sdk/provider, an optional peer: nothing of it is imported at run time)
 *   web.js       `import 'deeprnn/web'` — <deeprnn-generate>, <deeprnn-train> and train() (build/web/static/deeprnn.js), with its chunks
 *   *.cjs        require() of the first two (Node ≥ 20.19 loads them through require(esm); older Node gets a message)
 *   types/       declarations of both
 */
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('../', import.meta.url));
const dist = join(root, 'dist');
await rm(dist, { recursive: true, force: true });
await mkdir(dist, { recursive: true });
const kernel = await readFile(join(root, 'shared/kernel/build/kernel.wasm'));
const dotKernel = await readFile(join(root, 'shared/kernel/build/kernel-dot.wasm'));
const dotAddKernel = await readFile(join(root, 'shared/kernel/build/kernel-dotadd.wasm'));
await build({
  entryPoints: [join(root, 'shared/index.ts')],
  outfile: join(dist, 'deeprnn.js'),
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  logLevel: 'warning',
  define: {
    __DEEPRNN_KERNEL_BASE64__: JSON.stringify(kernel.toString('base64')),
    __DEEPRNN_KERNEL_DOT_BASE64__: JSON.stringify(dotKernel.toString('base64')),
    __DEEPRNN_KERNEL_DOTADD_BASE64__: JSON.stringify(dotAddKernel.toString('base64')),
  },
});
await build({
  entryPoints: [join(root, 'shared/ai-sdk.ts')],
  outfile: join(dist, 'ai-sdk.js'),
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  logLevel: 'warning',
});
// The element's module, and the chunks it loads on demand (the chart), beside it.
const statics = join(root, 'build/web/static');
for (const f of await readdir(statics)) if (f.endsWith('.js')) await copyFile(join(statics, f), join(dist, f === 'deeprnn.js' ? 'web.js' : f));
execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.package.json')], { stdio: 'inherit' });
// Declarations import each other as .js, as published packages do.
async function rewrite(dir: string): Promise<void> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await rewrite(p);
    else if (p.endsWith('.d.ts')) await writeFile(p, (await readFile(p, 'utf8')).replace(/(from\s+|import\()(['"])(\.{1,2}\/[^'"]+)\.ts\2/g, '$1$2$3.js$2'));
  }
}
await rewrite(join(dist, 'types'));
// require('deeprnn') and require('deeprnn/ai-sdk'): Node loads an ES module through require()
// from 20.19 on; below that, a message that says so instead of ERR_REQUIRE_ESM.
for (const name of ['deeprnn', 'ai-sdk']) {
  const entry = name === 'deeprnn' ? 'deeprnn' : 'deeprnn/ai-sdk';
  await writeFile(
    join(dist, `${name}.cjs`),
    `'use strict';
try {
  module.exports = require('./${name}.js');
} catch (e) {
  if (e && e.code === 'ERR_REQUIRE_ESM')
    throw new Error(\`${entry} is an ES module, which require() loads from Node 20.19 on (this is \${process.version}): use Node >= 20.19, or import it (const m = await import('${entry}'))\`);
  throw e;
}
`,
  );
}
console.log(`package entries written to ${dist}`);
