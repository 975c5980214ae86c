/**
 * docs/constraints.md, run as written: a default `npm start`, every shell block (the curls, the
 * CLI, the JSON-lines file and a training run on it) and the JavaScript block (the AI SDK's
 * generateObject on that model, in process). Rewritten only: the port, runs/ → a temporary
 * folder, and the training's minute → a few seconds (a constrained text is valid JSON whatever
 * the model learnt; the doc's output figures are from a full minute).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './pages.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function blocks(lang: string): Promise<string[]> {
  const doc = await readFile(join(ROOT, 'docs/constraints.md'), 'utf8');
  return [...doc.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]);
}

let server: ChildProcess;
let base = '';
let dir = '';
let log = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'deeprnn-constraints-'));
  const port = await freePort();
  base = `127.0.0.1:${port}`;
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port) };
  delete env.MODEL_DIR;
  server = spawn('npm', ['start'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  server.stdout!.on('data', (d: Buffer) => (log += d));
  server.stderr!.on('data', (d: Buffer) => (log += d));
  for (let i = 0; i < 240 && !(await fetch(`http://${base}/healthz`).catch(() => null))?.ok; i++) await sleep(250);
}, 90_000);
afterAll(async () => {
  server?.kill('SIGTERM');
  await rm(dir, { recursive: true, force: true });
});

const local = (s: string) => s.replaceAll('localhost:8787', base).replaceAll('runs/', `${dir}/`).replaceAll('--time-budget 1 ', '--time-budget 0.1 ');
const bash = async (script: string) => (await run('bash', ['-c', local(script)], { cwd: ROOT, timeout: 180_000, maxBuffer: 16 << 20 })).stdout;

describe('docs/constraints.md, as written, against a default npm start', () => {
  it('the first examples: a sentence by regex, an answer by choice, a year', async () => {
    const [first] = await blocks('sh');
    const lines = first
      .replace(/\\\n\s*/g, ' ')
      .split('\n')
      .filter((l) => l.trim());
    expect(lines).toHaveLength(3);
    const sentence = JSON.parse(await bash(lines[0]));
    expect(sentence.generated, log).toMatch(/^[A-Z][a-z ,;]*\.$/);
    expect(sentence.finishReason).toBe('stop');
    expect((await bash(lines[1])).trim()).toMatch(/"(Yes|No|Perhaps)$/);
    expect((await bash(lines[2])).trim()).toMatch(/^He was born in 1[0-9]{3}$/);
  });

  it('an object on a model without braces is the 400 the doc quotes', async () => {
    const [, second] = await blocks('sh');
    const err = JSON.parse(await bash(second.replace(/\\\n\s*/g, ' ')));
    expect(err.error.message).toMatch(/^constraint has no match that books-deep-lstm can write: books-deep-lstm cannot write "\{", "\}" \(its alphabet: /);
  });

  it('JSON lines, a training run on them, and generateObject with a zod schema on that model', async () => {
    const [, , third] = await blocks('sh');
    await bash(third);
    const [js] = await blocks('js');
    await mkdir(join(ROOT, 'test-output'), { recursive: true });
    const file = join(ROOT, 'test-output', 'constraints-example.mjs'); // inside the checkout: 'deeprnn', 'ai' and 'zod' resolve
    await writeFile(file, local(js));
    const { stdout } = await run(process.execPath, [file], { cwd: ROOT, timeout: 60_000 });
    expect(stdout).toMatch(/^\{ name: '[^']*', age: \d+, city: '[^']*', langs: \[.*\] \}\n$/s);
  }, 240_000);
});
