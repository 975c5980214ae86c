import { spawn } from 'node:child_process';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadKernelNode } from '../../shared/platform/node.ts';
import type { Stepper } from '../../shared/generate.ts';
import { createApp, parseOrigins } from '../../edge/app.ts';
import { ServedModel } from '../../edge/generation.ts';
import { parsePort, startNodeServer } from '../../edge/node.ts';
import { apiCases, post, SAMPLES, type Fetch } from './api-cases.ts';
import { EDGE_MODEL_DIR, edgeModel, nodeSampleTexts } from './samples.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
let served: ServedModel;
let fetch: Fetch;
beforeAll(async () => {
  const { model, files } = await edgeModel();
  served = new ServedModel(model, await loadKernelNode(), files);
  const app = createApp(served);
  fetch = async (path, init) => app.request(path, init);
});

describe('the edge app in Node (app.request)', () => {
  apiCases((path, init) => fetch(path, init));

  it('generates the same texts as the library (the Workers tests compare against these)', async () => {
    const texts = await nodeSampleTexts();
    for (const [i, s] of SAMPLES.entries()) {
      const body = (await (await fetch('/v1/generate', post(s))).json()) as { text: string };
      expect(body.text).toBe(texts[i]);
    }
  });

  it('stops generating when the client disconnects', async () => {
    let steps = 0;
    const acquire = served.acquire.bind(served);
    served.acquire = (): Stepper => {
      const s = acquire();
      return { reset: () => s.reset(), step: (t) => (steps++, s.step(t)) };
    };
    try {
      const abort = new AbortController();
      const app = createApp(served);
      const r = await app.fetch(new Request('http://edge.test/v1/generate', { ...post({ prefix: 'the', numChars: 2000, stream: true }), signal: abort.signal }));
      const reader = r.body!.getReader();
      await reader.read();
      abort.abort();
      await reader.cancel().catch(() => {});
      await new Promise((res) => setTimeout(res, 200));
      expect(steps).toBeGreaterThan(0);
      expect(steps).toBeLessThan(2000);
    } finally {
      served.acquire = acquire;
    }
  });

  it('allows only the configured origins when ALLOWED_ORIGINS is set', async () => {
    expect(parseOrigins(undefined)).toBe('*');
    expect(parseOrigins(' https://a.example , https://b.example ')).toEqual(['https://a.example', 'https://b.example']);
    const app = createApp(served, { corsOrigins: ['https://a.example'] });
    const ok = await app.request('/v1/models', { headers: { origin: 'https://a.example' } });
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://a.example');
    const other = await app.request('/v1/models', { headers: { origin: 'https://evil.example' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('the Node server', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'deeprnn-edge-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('serves over HTTP and closes', async () => {
    const s = await startNodeServer({ modelDir: EDGE_MODEL_DIR, port: 0, host: '127.0.0.1' });
    const r = await globalThis.fetch(`${s.url}/v1/generate`, post({ prefix: 'time', numChars: 10 }));
    expect(r.status).toBe(200);
    await s.close();
  });

  it('refuses to start on a corrupt model', async () => {
    const bad = join(dir, 'corrupt');
    await cp(EDGE_MODEL_DIR, bad, { recursive: true });
    await writeFile(join(bad, 'weights.bin'), new Uint8Array(100));
    await expect(startNodeServer({ modelDir: bad, port: 0 })).rejects.toThrow(/weights\.bin is truncated/);
  });

  it('validates PORT', () => {
    expect(parsePort(undefined)).toBe(8787);
    expect(parsePort('0')).toBe(0);
    expect(() => parsePort('http')).toThrow(/PORT must be a whole number/);
    expect(() => parsePort('70000')).toThrow(/PORT/);
  });

  it('npm start shuts down cleanly on SIGTERM', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'edge/node.ts')], { env: { ...process.env, MODEL_DIR: EDGE_MODEL_DIR, PORT: '0', HOST: '127.0.0.1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d));
    const started = Date.now();
    while (!/serving .* at (http:\/\/\S+)/.test(output) && Date.now() - started < 30_000) await new Promise((r) => setTimeout(r, 50));
    const url = /at (http:\/\/\S+)/.exec(output)![1];
    expect((await globalThis.fetch(`${url}/healthz`)).status).toBe(200);
    child.kill('SIGTERM');
    const code = await new Promise((r) => child.on('exit', r));
    expect(code).toBe(0);
    expect(output).toMatch(/SIGTERM: shutting down/);
  });
});
