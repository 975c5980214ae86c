import { execFile, execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, symlinkSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNodeServer, type NodeServer } from '../../edge/node.ts';
import type { GenerateResult } from '../../shared/contract.ts';
import { EDGE_MODEL_DIR } from '../edge/samples.ts';
import { launchChromium } from './pages.ts';

// The npm package as a web app uses it: `npm pack`, installed into a new project, its entries
// imported and bundled with esbuild for the browser, the page run in Chromium against a deeprnn
// server on another origin. Also its types, and its CLI.
const ROOT = new URL('../..', import.meta.url).pathname;
let dir = '';
let app = '';
/** The copy of the working tree that was built and packed. */
let tree = '';
let server: NodeServer;
let pages: Server;
let pageUrl = '';
let browser: Browser;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'deeprnn-package-'));
  tree = join(dir, 'tree');
  packCopy(tree, dir);
  const tarball = (await readdir(dir)).find((f) => f.endsWith('.tgz'))!;
  app = join(dir, 'app');
  await mkdir(app);
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'an-app', version: '1.0.0', type: 'module', private: true }));
  execFileSync('npm', ['install', join(dir, tarball), '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts'], { cwd: app, stdio: 'ignore' });
  server = await startNodeServer({ modelDir: EDGE_MODEL_DIR, port: 0, host: '127.0.0.1' });
  browser = await launchChromium();
}, 180_000);
afterAll(async () => {
  await browser?.close();
  pages?.close();
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

/**
 * `npm pack` of a copy of the working tree (what git tracks or would, node_modules linked):
 * prepack's build writes the copy's kernels and bundles, never the ones the other test files
 * are reading — a rebuild in place once had a training test load a half-written kernel.
 */
function packCopy(copy: string, into: string): void {
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' })
    .split('\0')
    .filter(Boolean);
  for (const f of files) if (existsSync(join(ROOT, f))) cpSync(join(ROOT, f), join(copy, f));
  symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'));
  execFileSync('npm', ['pack', '--pack-destination', into], { cwd: copy, stdio: 'ignore' });
}

/** The test server's result for a request (the text every client should write). */
const serverResult = async (body: object): Promise<GenerateResult> =>
  (await (
    await fetch(`${server.url}/v1/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  ).json()) as GenerateResult;

/** What the installed CLI writes from the shipped books model: "It was", 100 characters at 0.8 (the docs' examples). */
const booksText = (seed: number): string =>
  execFileSync(
    join(app, 'node_modules/.bin/deeprnn'),
    [
      'generate',
      '--model',
      'node_modules/deeprnn/models/books-deep-lstm-int8',
      '--prefix',
      'It was',
      '--num-chars',
      '100',
      '--temperature',
      '0.8',
      '--seed',
      String(seed),
    ],
    { cwd: app, encoding: 'utf8' },
  );

describe('the npm package', () => {
  it("installs lean: the CLI's tsx and nothing of the trainer's or the server's; training writes its whole folder, plot included; tfjs missing is one line", async () => {
    const top = (await readdir(join(app, 'node_modules'))).filter((n) => !n.startsWith('.'));
    expect(top.sort()).toEqual(['@esbuild', 'deeprnn', 'esbuild', 'tsx']);
    await writeFile(join(app, 'corpus.txt'), (await readFile(join(ROOT, 'data/timemachine.txt'), 'utf8')).slice(0, 20_000));
    const exec = promisify(execFile);
    const cli = join(app, 'node_modules/.bin/deeprnn');
    const r = await exec(cli, ['train', '--corpus', 'corpus.txt', '--epochs', '1', '--hidden', '16', '--out', 'lean-run'], { cwd: app, encoding: 'utf8' });
    expect(r.stderr).not.toMatch(/not installed/);
    expect((await readdir(join(app, 'lean-run'))).sort()).toEqual(['checkpoint.bin', 'metrics.jsonl', 'model.json', 'perplexity.svg', 'weights.bin']);
    const tf = await exec(cli, ['train', '--corpus', 'corpus.txt', '--epochs', '1', '--engine', 'tfjs-cpu', '--out', 'lean-tf'], {
      cwd: app,
      encoding: 'utf8',
    }).catch((e) => e);
    expect(tf.stderr.trim()).toBe('deeprnn train: the tfjs engine (cpu) needs @tensorflow/tfjs, which is not installed: npm install @tensorflow/tfjs');
  }, 120_000);

  it("bundles for the browser (no Node built-ins) and generates the server's text in a page of another origin", async () => {
    const entry = join(app, 'main.js');
    await writeFile(
      entry,
      `import 'deeprnn/web';
import { loadModel, generate } from 'deeprnn';
const host = ${JSON.stringify(server.url)};
const model = await loadModel(host + '/models/timemachine-deep-lstm');
const r = generate(model, { prefix: 'time traveller', numChars: 80, temperature: 0.8, seed: 5 });
document.body.dataset.library = r.text;
const el = document.createElement('deeprnn-generate');
el.setAttribute('model', host + '/models/timemachine-deep-lstm');
el.setAttribute('num-chars', '80');
el.setAttribute('seed', '5');
el.setAttribute('temperature', '0.8');
document.body.append(el);
document.body.dataset.element = (await el.generate()).text;
`,
    );
    await build({
      entryPoints: [entry],
      outfile: join(app, 'bundle.js'),
      bundle: true,
      format: 'esm',
      platform: 'browser',
      absWorkingDir: app,
      logLevel: 'error',
    });
    const bundle = await readFile(join(app, 'bundle.js'));
    pages = createServer((req, res) => {
      if (req.url === '/bundle.js') return void res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><html><body><script type="module" src="/bundle.js"></script></body></html>');
    });
    await new Promise<void>((r) => pages.listen(0, '127.0.0.1', () => r()));
    pageUrl = `http://localhost:${(pages.address() as { port: number }).port}/`;
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(pageUrl);
    await page.waitForFunction(() => document.body.dataset.element, undefined, { timeout: 60_000 });
    expect(errors).toEqual([]);
    const expected = (await serverResult({ prefix: 'time traveller', numChars: 80, temperature: 0.8, seed: 5 })).text;
    expect(await page.evaluate(() => document.body.dataset.library)).toBe(expected);
    expect(await page.evaluate(() => document.body.dataset.element)).toBe(expected);
  });

  it("docs/embedding.md's sizes are the packed build's (kB, gzip at zlib's default)", async () => {
    const doc = await readFile(join(ROOT, 'docs/embedding.md'), 'utf8');
    const kb = (n: number) => Math.round(n / 1000);
    const size = async (file: string) => {
      const bytes = await readFile(join(tree, file));
      return [kb(bytes.length), kb(gzipSync(bytes).length)];
    };
    const rows = [...doc.matchAll(/\| `(dist\/[\w.-]+\.js)` \| (\d+) kB \((\d+) kB\)/g)];
    expect(rows.map((r) => r[1])).toEqual(['dist/deeprnn.js', 'dist/ai-sdk.js', 'dist/web.js']);
    // Within 2% (or 1 kB): a stated size stays true while the code moves by a few lines.
    const near = (stated: number[], actual: number[], what: string) =>
      stated.forEach((v, i) =>
        expect(Math.abs(v - actual[i]), `${what}: stated ${stated}, built ${actual}`).toBeLessThanOrEqual(Math.max(1, 0.02 * actual[i])),
      );
    for (const r of rows) near([Number(r[2]), Number(r[3])], await size(r[1]), r[1]);
    const plot = (await readdir(join(tree, 'dist'))).find((f) => f.startsWith('plot-'))!;
    const stated =
      /`\/static\/deeprnn\.js` \(the package's `deeprnn\/web`\) is (\d+) kB \((\d+) kB gzip\)[\s\S]*?chart's chunk \(trainer\/plot\.ts\) (\d+) kB \((\d+) kB gzip\)/.exec(
        doc,
      )!;
    near(stated.slice(1).map(Number), [...(await size('build/web/static/deeprnn.js')), ...(await size(`dist/${plot}`))], 'the element and its chart');
  });

  it("docs/embedding.md's Vite example, as written: the shipped model imported as URLs, Vite's build and its dev server, in Chromium, write the library's text", async () => {
    const doc = await readFile(join(ROOT, 'docs/embedding.md'), 'utf8');
    const js = [...doc.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]).find((b) => b.includes('?url'))!;
    await writeFile(join(app, 'vite-main.js'), js);
    await writeFile(join(app, 'index.html'), '<!doctype html><html><body><script type="module" src="/vite-main.js"></script></body></html>');
    const vite = await import('vite');
    const warnings: string[] = [];
    const logger = vite.createLogger('warn');
    logger.warn = (msg) => void warnings.push(msg);
    logger.warnOnce = (msg) => void warnings.push(msg);
    logger.info = () => {};
    await vite.build({ root: app, customLogger: logger, build: { outDir: join(app, 'vite-dist'), target: 'es2022' } });
    // No warning about files the package does not have (onnxruntime's ./ort/ before), nor chunks over 500 kB from this app.
    expect(warnings.filter((w) => /ort\/|doesn't exist at build time|larger than 500/i.test(w))).toEqual([]);
    const expected = booksText(1).replace(/\n$/, '');
    const read = async (url: string) => {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(url);
      await page.waitForFunction(() => document.body.textContent!.length > 50, undefined, { timeout: 60_000 });
      expect(errors).toEqual([]);
      const text = await page.evaluate(() => document.body.textContent);
      await page.close();
      return text;
    };
    const built = await vite.preview({ root: app, logLevel: 'error', build: { outDir: join(app, 'vite-dist') }, preview: { port: 0, host: '127.0.0.1' } });
    try {
      expect(await read(built.resolvedUrls!.local[0])).toBe(expected);
    } finally {
      await built.close();
    }
    const dev = await vite.createServer({ root: app, logLevel: 'error', server: { port: 0, host: '127.0.0.1' } });
    await dev.listen();
    try {
      expect(await read(dev.resolvedUrls!.local[0])).toBe(expected);
    } finally {
      await dev.close();
    }
  }, 180_000);

  it('ships its types: a TypeScript app type-checks against the exports map', async () => {
    await writeFile(
      join(app, 'typed.ts'),
      `import { loadModel, generate, type GenerateResult, SERVICE_LIMITS } from 'deeprnn';
import { DeeprnnGenerate } from 'deeprnn/web';
export async function run(): Promise<GenerateResult> {
  const m = await loadModel('https://host/models/x');
  const el: DeeprnnGenerate = document.createElement('deeprnn-generate') as DeeprnnGenerate;
  void el;
  return generate(m, { prefix: 'a', numChars: SERVICE_LIMITS.maxNumChars });
}
`,
    );
    await writeFile(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'ESNext',
          moduleResolution: 'Bundler',
          strict: true,
          noEmit: true,
          lib: ['ES2022', 'DOM'],
          skipLibCheck: false,
          types: [],
        },
        files: ['typed.ts'],
      }),
    );
    execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(app, 'tsconfig.json')], { cwd: app, stdio: 'pipe' });
  });

  it("deeprnn/ai-sdk: the AI SDK in a Node app writes the server's text", async () => {
    execFileSync(
      'npm',
      [
        'install',
        `ai@${JSON.parse(await readFile(join(ROOT, 'node_modules/ai/package.json'), 'utf8')).version}`,
        '--no-audit',
        '--no-fund',
        '--prefer-offline',
        '--ignore-scripts',
      ],
      { cwd: app, stdio: 'ignore' },
    );
    await writeFile(
      join(app, 'sdk.mjs'),
      `import { generateText } from 'ai';
import { createDeeprnn } from 'deeprnn/ai-sdk';
const deeprnn = createDeeprnn({ baseURL: process.argv[2] });
const { text } = await generateText({ model: deeprnn(), prompt: 'time traveller', maxOutputTokens: 60, temperature: 0.8, seed: 5 });
process.stdout.write(text);
`,
    );
    // Not execFileSync: the server answers from this process.
    const { stdout: out } = await promisify(execFile)(process.execPath, ['sdk.mjs', server.url], { cwd: app, encoding: 'utf8' });
    const expected = (await serverResult({ prefix: 'time traveller', numChars: 60, temperature: 0.8, seed: 5 })).generated;
    expect(out).toBe(expected);
  });

  it("in Node, loadModel takes the package's model folder (a path, a file: URL), the docs' Node examples run as written, and a missing folder is one line", async () => {
    // The docs' Node snippets (embedding.md, http-api.md's AI SDK in process), as an app runs them.
    const snippets = (
      await Promise.all(
        ['docs/embedding.md', 'docs/http-api.md'].map(async (f) =>
          [...(await readFile(join(ROOT, f), 'utf8')).matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]),
        ),
      )
    )
      .flat()
      .filter((b) => b.includes("loadModel('node_modules/deeprnn/models/"));
    expect(snippets).toHaveLength(2);
    const exec = promisify(execFile);
    for (const [i, js] of snippets.entries()) {
      await writeFile(join(app, `node-${i}.mjs`), js);
      const { stdout } = await exec(process.execPath, [`node-${i}.mjs`], { cwd: app, encoding: 'utf8' });
      expect(stdout.trim().length, js).toBeGreaterThan(20);
    }
    await writeFile(
      join(app, 'local.mjs'),
      `import { pathToFileURL } from 'node:url';
import { loadModel, generate } from 'deeprnn';
const dir = 'node_modules/deeprnn/models/timemachine-deep-lstm-int8';
const q = { prefix: 'time traveller', numChars: 60, temperature: 0.8, seed: 5 };
const a = generate(await loadModel(dir), q).generated;
const b = generate(await loadModel(pathToFileURL(dir + '/')), q).generated;
let err = '';
try { await loadModel('models/nope'); } catch (e) { err = e.message; }
process.stdout.write(JSON.stringify({ a, b, err }));
`,
    );
    const { stdout } = await exec(process.execPath, ['local.mjs'], { cwd: app, encoding: 'utf8' });
    const expected = (await serverResult({ prefix: 'time traveller', numChars: 60, temperature: 0.8, seed: 5 })).generated;
    expect(JSON.parse(stdout)).toEqual({
      a: expected,
      b: expected,
      err: 'cannot read models/nope/model.json: no such file (a model folder holds model.json and weights.bin)',
    });
  });

  it("docs/workers.md's Worker of your own, as written: wrangler dev on the package's kernel modules and bundled model writes the CLI's text", async () => {
    const doc = await readFile(join(ROOT, 'docs/workers.md'), 'utf8');
    const section = doc.slice(doc.indexOf('## A Worker of your own'));
    const toml = /```toml\n([\s\S]*?)```/.exec(section)![1];
    const js = /```js\n([\s\S]*?)```/.exec(section)![1];
    const worker = join(app, 'my-worker');
    await mkdir(worker, { recursive: true });
    await writeFile(join(worker, 'wrangler.toml'), toml);
    await writeFile(join(worker, 'index.js'), js);
    const port = 20000 + Math.floor(Math.random() * 20000);
    const child = spawn(
      process.execPath,
      [join(ROOT, 'node_modules/wrangler/bin/wrangler.js'), 'dev', '--port', String(port), '--ip', '127.0.0.1', '--log-level', 'error'],
      {
        cwd: worker,
        env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false' },
        stdio: 'ignore',
        detached: true,
      },
    );
    try {
      let r: Response | null = null;
      for (let i = 0; i < 240 && !r?.ok; i++) {
        r = await fetch(`http://127.0.0.1:${port}`, { method: 'POST', body: JSON.stringify({ seed: 7 }) }).catch(() => null);
        if (!r?.ok) await new Promise((res) => setTimeout(res, 250));
      }
      expect(r?.status).toBe(200);
      const body = (await r!.json()) as GenerateResult;
      const cli = booksText(7);
      expect(body.text + '\n').toBe(cli);
    } finally {
      process.kill(-child.pid!, 'SIGTERM');
    }
  }, 120_000);

  it("CommonJS: require('deeprnn') works (Node ≥ 20.19's require of ES modules); where require cannot load one, a message says what to do instead of ERR_REQUIRE_ESM", async () => {
    const exec = promisify(execFile);
    await writeFile(
      join(app, 'common.cjs'),
      `const { loadModel, generate } = require('deeprnn');
const { createDeeprnn } = require('deeprnn/ai-sdk');
loadModel('node_modules/deeprnn/models/timemachine-deep-lstm-int8').then((m) => {
  process.stdout.write(JSON.stringify({ text: generate(m, { prefix: 'time traveller', numChars: 20, seed: 1 }).text, provider: typeof createDeeprnn }));
});
`,
    );
    const { stdout } = await exec(process.execPath, ['common.cjs'], { cwd: app, encoding: 'utf8' });
    expect(JSON.parse(stdout)).toMatchObject({ provider: 'function' });
    expect(JSON.parse(stdout).text).toMatch(/^time traveller.{20}$/s);
    const old = await exec(process.execPath, ['--no-experimental-require-module', 'common.cjs'], { cwd: app, encoding: 'utf8' }).catch((e) => e);
    expect(old.stderr).toMatch(
      /Error: deeprnn is an ES module, which require\(\) loads from Node 20\.19 on \(this is v\d+\.\d+\.\d+\): use Node >= 20\.19, or import it/,
    );
  });

  it('installs its CLI: deeprnn generate runs on the bundled default model', () => {
    const out = execFileSync(join(app, 'node_modules/.bin/deeprnn'), ['generate', '--num-chars', '20', '--seed', '1'], { cwd: app, encoding: 'utf8' });
    expect(out).toMatch(/^The Time Traveller[\s\S]{20}\n$/u);
  });
});
