/**
 * The README's front page, run as a newcomer runs it: a default `npm start` (the shipped model,
 * no setting but its port), then every shell block after the two commands, its JavaScript and its
 * HTML snippet, as written. Only the port (localhost:8787 → the test's), the host placeholder of
 * the snippet and the training run's output folder (runs/… → a temporary one) are rewritten.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, launchChromium, pageServer } from './pages.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The README's fenced blocks of a language, in order. */
async function blocks(lang: string): Promise<string[]> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  return [...readme.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]);
}

/** A shell block's commands: continuation lines joined, comments and blank lines left out. */
const commands = (block: string): string[] =>
  block
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));

let server: ChildProcess;
let base = '';
let out = '';
let dir = '';
let browser: Browser;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'deeprnn-readme-'));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port) };
  delete env.MODEL_DIR; // the default, as a newcomer has it
  server = spawn('npm', ['start'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  server.stdout!.on('data', (d: Buffer) => (out += d));
  server.stderr!.on('data', (d: Buffer) => (out += d));
  for (let i = 0; i < 240 && !(await fetch(`${base}/healthz`).catch(() => null))?.ok; i++) await sleep(250);
  browser = await launchChromium();
}, 90_000);
afterAll(async () => {
  server?.kill('SIGTERM');
  await browser?.close();
  await rm(dir, { recursive: true, force: true });
});

const local = (s: string) => s.replaceAll('localhost:8787', base.replace('http://', ''));

describe("the README's front page, as written, against a default npm start", () => {
  it('serves the shipped model', async () => {
    const models = (await (await fetch(`${base}/v1/models`)).json()) as { data: { id: string }[] };
    expect(
      models.data.map((m) => m.id),
      out,
    ).toEqual(['books-deep-lstm']);
  });

  it("/docs' Try it out succeeds on every operation: each example, as the document gives it", async () => {
    const doc = (await (await fetch(`${base}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { requestBody?: { content: Record<string, { example?: unknown }> } }>>;
    };
    let tried = 0;
    for (const [route, ops] of Object.entries(doc.paths)) {
      const example = ops.post?.requestBody?.content['application/json']?.example;
      if (example === undefined) continue;
      const r = await fetch(base + route, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(example) });
      expect(r.status, `${route}: ${await r.clone().text()}`).toBe(200);
      tried++;
    }
    expect(tried).toBe(3);
  });

  it('every shell command after the two commands runs and succeeds', async () => {
    const shell = await blocks('sh');
    expect(shell[0]).toMatch(/npm install && npm start/);
    const all = shell.slice(1).flatMap(commands);
    expect(all.length).toBeGreaterThanOrEqual(5);
    for (const command of all) {
      const line = local(command).replaceAll(/runs\/(\w+)/g, (_, name: string) => join(dir, name));
      const { stdout } = await run('bash', ['-c', line], { cwd: ROOT, timeout: 120_000, maxBuffer: 16 << 20 });
      expect(stdout.length, command).toBeGreaterThan(0);
      if (command.startsWith('curl') && !command.includes('"stream": true')) expect(JSON.parse(stdout), command).not.toHaveProperty('error');
      if (command.includes('"stream": true')) expect(stdout, command).toMatch(/event: done\n/);
    }
  }, 240_000);

  it('the JavaScript example prints a completion', async () => {
    const [js] = await blocks('js');
    const file = join(ROOT, 'test-output', 'readme-example.mjs'); // inside the checkout, so `openai` resolves
    await run('mkdir', ['-p', join(ROOT, 'test-output')]);
    await writeFile(file, local(js));
    const { stdout } = await run(process.execPath, [file], { cwd: ROOT, timeout: 60_000 });
    expect(stdout.trim().length).toBeGreaterThan(20);
  });

  it('the HTML snippet generates on a page of another origin, both elements', async () => {
    const [html] = await blocks('html');
    const pages = await pageServer({ '/': `<!doctype html><html><body>${html.replaceAll('https://your-deeprnn-host', base)}</body></html>` });
    try {
      const page = await browser.newPage();
      await page.goto(pages.url);
      await page.waitForFunction('[...document.querySelectorAll("deeprnn-generate")].every((e) => e.result || e.error)', undefined, { timeout: 60_000 });
      const r = (await page.evaluate(
        '[...document.querySelectorAll("deeprnn-generate")].map((e) => ({ n: e.result ? e.result.numChars : 0, error: e.error }))',
      )) as { n: number; error: string | null }[];
      expect(r).toEqual([
        { n: 200, error: null },
        { n: 200, error: null },
      ]);
    } finally {
      pages.server.close();
    }
  });
});
