import { spawn, type ChildProcess } from 'node:child_process';
import { createConnection } from 'node:net';
import type { Server } from 'node:http';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GenerateResult } from '../../shared/contract.ts';
import { predict } from '../../shared/generate.ts';
import { KernelModel } from '../../shared/kernel/stepper.ts';
import type { Model } from '../../shared/model.ts';
import { loadKernelNode, readModelDir } from '../../shared/platform/node.ts';
import { generateFromServer } from '../../shared/remote.ts';
import { EDGE_MODEL_DIR, EDGE_MODEL_DIRS } from '../edge/samples.ts';
import { freePort, launchChromium, pageServer } from './pages.ts';

// The Worker as a Workers user runs it: a plain `wrangler dev` (its [build] command stages the
// models), the free plan's CPU_MS of 10 from wrangler.toml. Long requests come back in budget
// slices; following them gives Node's uninterrupted text; tokens cross between the Worker, Node
// and a page. And the npm scripts stop whole on SIGTERM.
const ROOT = new URL('../..', import.meta.url).pathname;
const WRANGLER = `${ROOT}node_modules/wrangler/bin/wrangler.js`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitUp(url: string): Promise<boolean> {
  for (let i = 0; i < 240; i++) {
    if ((await fetch(`${url}/healthz`).catch(() => null))?.ok) return true;
    await sleep(250);
  }
  return false;
}

/** Whether something still accepts connections on the port. */
const listening = (p: number) =>
  new Promise<boolean>((resolve) => {
    const s = createConnection({ port: p, host: '127.0.0.1' }, () => (s.destroy(), resolve(true)));
    s.on('error', () => resolve(false));
  });

let worker: { url: string; child: ChildProcess };
let model: Model;
let km: KernelModel;
let browser: Browser;
let pages: { url: string; server: Server };

beforeAll(async () => {
  const p = await freePort();
  const child = spawn(process.execPath, [WRANGLER, 'dev', '--port', String(p), '--ip', '127.0.0.1', '--log-level', 'error'], {
    cwd: ROOT,
    env: { ...process.env, MODEL_DIR: EDGE_MODEL_DIRS, WRANGLER_SEND_METRICS: 'false' },
    stdio: 'ignore',
    detached: true,
  });
  worker = { url: `http://127.0.0.1:${p}`, child };
  if (!(await waitUp(worker.url))) throw new Error('wrangler dev did not start');
  model = await readModelDir(EDGE_MODEL_DIR);
  km = new KernelModel(await loadKernelNode(), model);
  browser = await launchChromium();
  pages = await pageServer({
    '/': `<!doctype html><html><body><script type="module" src="${worker.url}/static/deeprnn.js"></script><deeprnn-generate endpoint="${worker.url}/v1/generate" prefix="the time" num-chars="2000" temperature="0.8" seed="21" autostart></deeprnn-generate></body></html>`,
  });
}, 120_000);
afterAll(async () => {
  await browser?.close();
  pages?.server.close();
  if (worker) process.kill(-worker.child.pid!, 'SIGTERM');
});

describe("plain wrangler dev: the free plan's 10 ms of CPU per request", () => {
  it('serves the staged models with no other step', async () => {
    const r = (await (await fetch(`${worker.url}/v1/models`)).json()) as { data: { id: string }[] };
    expect(r.data.map((m) => m.id)).toEqual(['timemachine-deep-lstm', 'authors-deep-lstm']);
  });

  it('2,000 characters come back in budget slices whose concatenation is the uninterrupted text', async () => {
    const request = { prefix: 'time traveller', numChars: 2000, temperature: 0.8, seed: 7 };
    let slices = 0;
    const counting: typeof fetch = (input, init) => (slices++, fetch(input, init));
    const r = await generateFromServer(`${worker.url}/v1/generate`, request, { fetch: counting });
    expect(slices).toBeGreaterThan(3);
    expect(r.numChars).toBe(2000);
    expect(r.text).toBe(predict(model, request, km).text);
    const first = (await (
      await fetch(`${worker.url}/v1/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(request) })
    ).json()) as GenerateResult;
    expect(first.finishReason).toBe('budget');
    expect(first.numChars).toBeLessThan(2000);
  });

  it('a 1,000-character prefix is read in slices', async () => {
    const request = { prefix: 'the time traveller '.repeat(60).slice(0, 1000), numChars: 100, seed: 3 };
    const r = await generateFromServer(`${worker.url}/v1/generate`, request);
    expect(r.text).toBe(predict(model, request, km).text);
  });

  it('a token from the Worker resumes in Node, and a token from Node resumes on the Worker', async () => {
    const request = { prefix: 'the machine', temperature: 1, topP: 0.95, seed: 12, returnContinuation: true };
    const full = predict(model, { ...request, numChars: 120 }, km).text;
    const post = async (body: object) =>
      (await (
        await fetch(`${worker.url}/v1/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
      ).json()) as GenerateResult;
    const fromWorker = await post({ ...request, numChars: 60 });
    expect(fromWorker.text + predict(model, { continuation: fromWorker.continuation, numChars: 60 }, km).text).toBe(full);
    const fromNode = predict(model, { ...request, numChars: 60 }, km);
    expect(fromNode.text + (await post({ continuation: fromNode.continuation, numChars: 60 })).text).toBe(full);
  });

  it("in a page: the in-page kernel's token resumes on the Worker and in Node, and the Worker's resumes in the page", async () => {
    const request = { prefix: 'the machine', temperature: 1, topP: 0.95, seed: 12, returnContinuation: true };
    const full = predict(model, { ...request, numChars: 120 }, km).text;
    const fromWorker = (await (
      await fetch(`${worker.url}/v1/generate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...request, numChars: 60 }),
      })
    ).json()) as GenerateResult;
    const m = `${worker.url}/models/timemachine-deep-lstm`;
    const html = `<!doctype html><html><body><script type="module" src="${worker.url}/static/deeprnn.js"></script>
      <deeprnn-generate model="${m}" prefix="the machine" num-chars="60" temperature="1" top-p="0.95" seed="12" autostart></deeprnn-generate>
      <deeprnn-generate model="${m}" continuation="${fromWorker.continuation}" num-chars="60" autostart></deeprnn-generate></body></html>`;
    const local = await pageServer({ '/': html });
    const page = await browser.newPage();
    await page.goto(local.url);
    const [inPage, resumed] = await page
      .waitForFunction(
        () => {
          const els = [...document.querySelectorAll('deeprnn-generate')] as (HTMLElement & { result: GenerateResult | null; error: string | null })[];
          return els.every((e) => e.result || e.error) ? els.map((e) => ({ result: e.result, error: e.error })) : null;
        },
        undefined,
        { timeout: 60_000 },
      )
      .then((h) => h.jsonValue() as Promise<{ result: GenerateResult | null; error: string | null }[]>);
    await page.close();
    local.server.close();
    expect(inPage.error).toBeNull();
    expect(resumed.error).toBeNull();
    expect(fromWorker.text + resumed.result!.text).toBe(full);
    expect(inPage.result!.text + predict(model, { continuation: inPage.result!.continuation, numChars: 60 }, km).text).toBe(full);
    const onWorker = (await (
      await fetch(`${worker.url}/v1/generate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ continuation: inPage.result!.continuation, numChars: 60 }),
      })
    ).json()) as GenerateResult;
    expect(inPage.result!.text + onWorker.text).toBe(full);
  });

  it('tampered and garbage tokens are 400s', async () => {
    for (const continuation of ['drc1.AAAA', 'nonsense', `drc1.${'A'.repeat(400)}`]) {
      const r = await fetch(`${worker.url}/v1/generate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ continuation }),
      });
      expect(r.status).toBe(400);
    }
  });

  it('<deeprnn-generate endpoint=…> in Chromium follows the slices: 2,000 characters, the uninterrupted text', async () => {
    const page = await browser.newPage();
    await page.goto(pages.url);
    const r = await page
      .waitForFunction(
        () => {
          const el = document.querySelector('deeprnn-generate') as (HTMLElement & { result: GenerateResult | null; error: string | null; text: string }) | null;
          return el && (el.result || el.error) ? { result: el.result, error: el.error, text: el.text } : null;
        },
        undefined,
        { timeout: 60_000 },
      )
      .then((h) => h.jsonValue() as Promise<{ result: GenerateResult | null; error: string | null; text: string }>);
    expect(r.error).toBeNull();
    const expected = predict(model, { prefix: 'the time', numChars: 2000, temperature: 0.8, seed: 21 }, km).text;
    expect(r.result!.text).toBe(expected);
    expect(r.text).toBe(expected); // what the page shows, no seam
    await page.close();
  });
});

describe('signals: the npm scripts stop everything they started', () => {
  const npm = (script: string, p: number) =>
    spawn('npm', ['run', script, ...(script === 'dev:edge' ? ['--', '--port', String(p), '--ip', '127.0.0.1', '--log-level', 'error'] : [])], {
      cwd: ROOT,
      env: { ...process.env, PORT: String(p), HOST: '127.0.0.1', WORKERS: '1', WRANGLER_SEND_METRICS: 'false' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });

  for (const script of ['start', 'dev:edge']) {
    it(`SIGTERM to the pid of npm run ${script} frees its port`, async () => {
      const p = await freePort();
      const child = npm(script, p);
      let output = '';
      child.stdout!.on('data', (d: Buffer) => (output += d));
      child.stderr!.on('data', (d: Buffer) => (output += d));
      expect(await waitUp(`http://127.0.0.1:${p}`), output).toBe(true);
      child.kill('SIGTERM');
      let up = true;
      for (let i = 0; i < 60 && up; i++) {
        await sleep(250);
        up = await listening(p);
      }
      expect(up).toBe(false);
    }, 90_000);
  }
});
