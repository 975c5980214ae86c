import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, parseOrigins } from '../../edge/app.ts';
import type { GenerationService } from '../../edge/engine/scheduler.ts';
import { ModelRegistry, servedModel, type ServedArtifact } from '../../edge/registry.ts';
import { localEngine } from '../../edge/engine/engines.ts';
import { keyId, parseCpuMs, parseRateLimit, TokenBuckets } from '../../edge/guards.ts';
import { nodeAssets, serverConfig, startNodeServer, type NodeServer } from '../../edge/node.ts';
import type { GenerateResult } from '../../shared/contract.ts';
import { KernelModel, type KernelRows } from '../../shared/kernel/stepper.ts';
import { predict } from '../../shared/generate.ts';
import { loadKernelNode, readModelDir } from '../../shared/platform/node.ts';
import { apiCases, post, SAMPLES, SERVED, type Fetch } from './api-cases.ts';
import { Conformance, type OpenApiDocument } from './openapi-conformance.ts';
import { EDGE_MODEL_DIR, EDGE_MODEL_DIRS, edgeModel, nodeSampleTexts, SECOND_MODEL_DIR } from './samples.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const SECOND_MODEL = SERVED[1];
const SCHEDULE = { capacity: 16, queueSize: 64, deadlineMs: 30_000 };
/** A registry of one model. */
const one = (a: ServedArtifact, engine: GenerationService) => new ModelRegistry([servedModel(a, engine)]);
let artifact: ServedArtifact;
let fetchApp: Fetch;
let conformance: Conformance;
beforeAll(async () => {
  artifact = await edgeModel();
  const second = await edgeModel(SECOND_MODEL_DIR);
  const kernel = await loadKernelNode();
  // Both models the API tests serve, on one kernel, as the Workers entry holds them.
  const registry = new ModelRegistry([artifact, second].map((a) => servedModel(a, localEngine(new KernelModel(kernel, a.model), SCHEDULE))));
  const app = createApp({ registry, assets: await nodeAssets() });
  fetchApp = async (path, init) => app.request(path, init);
  conformance = new Conformance((await (await app.request('/openapi.json')).json()) as OpenApiDocument);
});

/** A kernel model whose steppers count the rows they step (cancellation must stop the counting). */
async function countingModel(): Promise<{ km: KernelModel; steps: () => number }> {
  const km = new KernelModel(await loadKernelNode(), artifact.model);
  let steps = 0;
  const acquire = km.acquire.bind(km);
  km.acquire = (capacity?: number): KernelRows => {
    const rows = acquire(capacity);
    const step = rows.step.bind(rows);
    rows.step = (first, tokens) => ((steps += tokens.length), step(first, tokens));
    return rows;
  };
  return { km, steps: () => steps };
}

describe('the edge app in Node (app.request, the in-thread engine as on Workers)', () => {
  apiCases((path, init) => conformance.wrap(fetchApp)(path, init));

  it('every response above is what /openapi.json documents (status, media type, body, each event), checked by Ajv', async () => {
    expect(conformance.problems).toEqual([]);
    // The check can fail: a body of the wrong shape, an undocumented status.
    const probe = new Conformance(conformance.doc);
    await probe.check('/v1/generate', 'POST', new Response(JSON.stringify({ model: 1 }), { status: 200, headers: { 'content-type': 'application/json' } }));
    await probe.check('/v1/models', 'GET', new Response('{}', { status: 418, headers: { 'content-type': 'application/json' } }));
    expect(probe.problems).toEqual([expect.stringMatching(/^POST \/v1\/generate → 200: /), 'GET /v1/models → 418: status not documented']);
    // Every /v1 route is behind the API-key and rate checks, and a Worker answers 503 when it cannot load its models.
    for (const [route, ops] of Object.entries(conformance.doc.paths)) {
      for (const [method, op] of Object.entries(ops))
        expect(Object.keys(op.responses), `${method} ${route}`).toEqual(expect.arrayContaining(['401', '429', '503']));
    }
    // The suite reached every operation, and most of what each can answer.
    for (const op of [
      'POST /v1/generate → 200',
      'POST /v1/generate → 400',
      'POST /v1/generate → 404',
      'POST /v1/generate → 413',
      'POST /v1/generate → 415',
      'POST /v1/score → 200',
      'POST /v1/score → 400',
      'POST /v1/completions → 200',
      'POST /v1/completions → 400',
      'GET /v1/models → 200',
      'GET /v1/models/{id} → 200',
      'GET /v1/models/{id} → 404',
      'POST /v1/chat/completions → 404',
    ]) {
      expect([...conformance.seen]).toContain(op);
    }
  });

  it('generates the same texts as the library (the Workers tests compare against these)', async () => {
    const texts = await nodeSampleTexts();
    for (const [i, s] of SAMPLES.entries()) {
      const body = (await (await fetchApp('/v1/generate', post(s))).json()) as { text: string };
      expect(body.text).toBe(texts[i]);
    }
  });

  it('stops generating within a step when the client disconnects, streaming or not', async () => {
    for (const stream of [true, false]) {
      const { km, steps } = await countingModel();
      const app = createApp({ registry: one(artifact, localEngine(km, SCHEDULE)) });
      const abort = new AbortController();
      const res = app.fetch(new Request('http://edge.test/v1/generate', { ...post({ prefix: 'the', numChars: 2000, stream }), signal: abort.signal }));
      for (const started = Date.now(); steps() === 0 && Date.now() - started < 5000; ) await new Promise((r) => setTimeout(r, 5));
      abort.abort();
      if (stream) await (await res).body!.cancel().catch(() => {});
      else await Promise.resolve(res).catch(() => {});
      const at = steps();
      await new Promise((r) => setTimeout(r, 150));
      expect(at).toBeGreaterThan(0);
      expect(steps() - at, stream ? 'streaming' : 'non-streaming').toBeLessThanOrEqual(8); // the lane finishes the ticks it began
      expect(steps()).toBeLessThan(2000);
    }
  });

  it('refuses at once, with 503, Retry-After and the JSON error body, past its queue', async () => {
    const app = createApp({
      registry: one(artifact, localEngine(new KernelModel(await loadKernelNode(), artifact.model), { capacity: 2, queueSize: 1, deadlineMs: 30_000 })),
    });
    const long = () => app.request('/v1/generate', post({ prefix: 'the', numChars: 2000 }));
    const first = [long(), long(), long()]; // two run, one waits
    const refused = await app.request('/v1/generate', post({ prefix: 'the', numChars: 5 }));
    expect(refused.status).toBe(503);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('overloaded');
    const results = await Promise.all(first);
    expect(results.map((r) => r.status)).toEqual([200, 200, 200]);
    const beam = await app.request('/v1/generate', post({ prefix: 'the', numChars: 5, beamWidth: 3 }));
    expect(beam.status).toBe(503); // needs more rows than a batch has
  });

  it('ends over-long work at the deadline, with finishReason "deadline" and the text so far', async () => {
    const app = createApp({
      registry: one(artifact, localEngine(new KernelModel(await loadKernelNode(), artifact.model), { capacity: 4, queueSize: 8, deadlineMs: 15 })),
    });
    const r = (await (await app.request('/v1/generate', post({ prefix: 'the', numChars: 2000 }))).json()) as GenerateResult;
    expect(r.finishReason).toBe('deadline');
    expect(r.numChars).toBeLessThan(2000);
    expect(r.text).toBe(r.prefix + r.generated);
  });

  it('API keys and a per-client rate limit, both off unless configured', async () => {
    const engine = localEngine(new KernelModel(await loadKernelNode(), artifact.model), SCHEDULE);
    const guarded = createApp({
      registry: one(artifact, engine),
      apiKeys: ['k1', 'k2'],
      rateLimit: { perMinute: 60, burst: 2 },
      clientAddress: () => '10.0.0.1',
    });
    const none = await guarded.request('/v1/models');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(((await none.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
    expect((await guarded.request('/v1/models', { headers: { authorization: 'Bearer nope' } })).status).toBe(401);
    expect((await guarded.request('/healthz')).status).toBe(200); // health checks need no key
    const ok = { headers: { authorization: 'Bearer k2' } };
    expect((await guarded.request('/v1/models', ok)).status).toBe(200);
    expect((await guarded.request('/v1/models', ok)).status).toBe(200);
    const limited = await guarded.request('/v1/models', ok);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await guarded.request('/v1/models', { headers: { authorization: 'Bearer k1' } })).status).toBe(200); // buckets are per client
    expect(parseRateLimit('30/min,burst=5')).toEqual({ perMinute: 30, burst: 5 });
    expect(() => parseRateLimit('lots')).toThrow(/RATE_LIMIT must look like/);
    let now = 0;
    const b = new TokenBuckets({ perMinute: 60, burst: 1 }, () => now);
    expect(b.take('x')).toBe(0);
    expect(b.take('x')).toBe(1);
    now += 1000;
    expect(b.take('x')).toBe(0);
  });

  it("a platform rate limiter (Workers' LIMITER binding) replaces the per-process buckets, keyed by a checked API key, else the address — never by a Bearer value a client invents", async () => {
    const engine = localEngine(new KernelModel(await loadKernelNode(), artifact.model), SCHEDULE);
    const seen: string[] = [];
    const limiter = { limit: async ({ key }: { key: string }) => (seen.push(key), { success: seen.filter((k) => k === key).length <= 2 }) };
    const app = createApp({ registry: one(artifact, engine), rateLimiter: limiter, rateLimit: { perMinute: 1, burst: 1 }, clientAddress: () => '10.0.0.9' });
    expect((await app.request('/v1/models')).status).toBe(200);
    expect((await app.request('/v1/models')).status).toBe(200); // the bucket (burst 1) is not used
    const limited = await app.request('/v1/models');
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('60');
    // Without API keys, a Bearer value is nobody's identity: still this address, still limited.
    expect((await app.request('/v1/models', { headers: { authorization: 'Bearer abc' } })).status).toBe(429);
    expect(seen).toEqual(['ip:10.0.0.9', 'ip:10.0.0.9', 'ip:10.0.0.9', 'ip:10.0.0.9']);
    // With them, a checked key is the client (by a hash, never the key itself).
    const keyed: string[] = [];
    const withKeys = createApp({
      registry: one(artifact, engine),
      apiKeys: ['alpha'],
      rateLimiter: { limit: async ({ key }: { key: string }) => (keyed.push(key), { success: true }) },
      clientAddress: () => '10.0.0.9',
    });
    expect((await withKeys.request('/v1/models', { headers: { authorization: 'Bearer alpha' } })).status).toBe(200);
    expect(keyed).toEqual([`key:${keyId('alpha')}`]);
    expect(keyed[0]).not.toContain('alpha');
  });

  it('CPU_MS and CONTINUATION_SECRET: a budget ends with finishReason budget, and only signed tokens resume', async () => {
    const engine = localEngine(new KernelModel(await loadKernelNode(), artifact.model), SCHEDULE);
    const app = createApp({ registry: one(artifact, engine), cpuMs: 5, continuationSecret: 'k' });
    const r = (await (await app.request('/v1/generate', post({ prefix: 'the', numChars: 500, seed: 1 }))).json()) as GenerateResult;
    expect(r.finishReason).toBe('budget');
    const next = await app.request('/v1/generate', post({ continuation: r.continuation }));
    expect(next.status).toBe(200);
    const unsigned = createApp({ registry: one(artifact, engine) });
    const plain = (await (
      await unsigned.request('/v1/generate', post({ prefix: 'the', numChars: 5, seed: 1, returnContinuation: true }))
    ).json()) as GenerateResult;
    const refused = await app.request('/v1/generate', post({ continuation: plain.continuation }));
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toMatch(/not signed/);
    expect(() => parseCpuMs('0', 10)).toThrow(/CPU_MS must be/);
    expect(parseCpuMs('', 10)).toBe(10);
  });

  it('allows only the configured origins when ALLOWED_ORIGINS is set, on the API and the static files', async () => {
    expect(parseOrigins(undefined)).toBe('*');
    expect(parseOrigins(' https://a.example , https://b.example ')).toEqual(['https://a.example', 'https://b.example']);
    const app = createApp({
      registry: one(artifact, localEngine(new KernelModel(await loadKernelNode(), artifact.model), SCHEDULE)),
      corsOrigins: ['https://a.example'],
      assets: await nodeAssets(),
    });
    for (const path of ['/v1/models', '/static/deeprnn.js', '/models/timemachine-deep-lstm/model.json']) {
      expect((await app.request(path, { headers: { origin: 'https://a.example' } })).headers.get('access-control-allow-origin'), path).toBe(
        'https://a.example',
      );
      const evil = await app.request(path, { headers: { origin: 'https://evil.example' } });
      expect(evil.headers.get('access-control-allow-origin'), path).toBeNull();
      // Caches must key the answer on the origin, and pages may read the headers we expose.
      expect(evil.headers.get('vary'), path).toMatch(/\bOrigin\b/);
      expect((await app.request(path, { headers: { origin: 'https://a.example' } })).headers.get('access-control-expose-headers'), path).toBe(
        'Retry-After,ETag',
      );
    }
    // On every route, errors included, the headers a browser needs are on the route's own response.
    const bad = await app.request('/v1/generate', {
      method: 'POST',
      headers: { origin: 'https://a.example', 'content-type': 'application/json' },
      body: '{"numChars": 0}',
    });
    expect([bad.status, bad.headers.get('access-control-allow-origin'), bad.headers.get('x-content-type-options')]).toEqual([
      400,
      'https://a.example',
      'nosniff',
    ]);
    const pre = await app.request('/v1/generate', { method: 'OPTIONS', headers: { origin: 'https://a.example', 'access-control-request-method': 'POST' } });
    expect([pre.status, pre.headers.get('access-control-allow-origin'), pre.headers.get('access-control-allow-methods')]).toEqual([
      204,
      'https://a.example',
      'GET,POST,OPTIONS',
    ]);
  });

  it('refuses a body over the limit from its Content-Length alone, and one without a length as it streams', async () => {
    const app = createApp({ registry: one(artifact, localEngine(new KernelModel(await loadKernelNode(), artifact.model), SCHEDULE)) });
    const declared = await app.request('/v1/generate', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': String(1 << 20) },
      body: '{}',
    });
    expect(declared.status).toBe(413);
    const big = JSON.stringify({ prefix: 'a', numChars: 1, pad: 'x'.repeat(1 << 20) });
    const chunked = new ReadableStream<Uint8Array>({ start: (c) => (c.enqueue(new TextEncoder().encode(big)), c.close()) });
    const streamed = await app.request('/v1/generate', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: chunked,
      duplex: 'half',
    } as RequestInit);
    expect(streamed.status).toBe(413);
    const ok = JSON.stringify({ prefix: 'the', numChars: 3, seed: 1 });
    expect(
      (await app.request('/v1/generate', { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(ok.length) }, body: ok }))
        .status,
    ).toBe(200);
  });
});

describe('the Node server: generation threads behind a scheduler per model', () => {
  let server: NodeServer;
  beforeAll(async () => {
    server = await startNodeServer({ modelDir: EDGE_MODEL_DIRS, port: 0, host: '127.0.0.1', workers: 2, batch: 8, queueSize: 4, deadlineMs: 30_000 });
  });
  afterAll(() => server?.close());
  const http: Fetch = (path, init) => fetch(`${server.url}${path}`, init);

  it('gives the same texts as the library from its threads, alone and batched with others', async () => {
    const texts = await nodeSampleTexts();
    const all = await Promise.all([...SAMPLES, ...SAMPLES].map(async (s) => ((await (await http('/v1/generate', post(s))).json()) as { text: string }).text));
    expect(all).toEqual([...texts, ...texts]);
  });

  it('answers /healthz while every row of every thread is busy, and sheds what its queue cannot hold', async () => {
    const controllers = Array.from({ length: 24 }, () => new AbortController());
    const busy = controllers.map((c) => http('/v1/generate', { ...post({ prefix: 'the', numChars: 2000, stream: true }), signal: c.signal }).catch(() => null));
    const responses = await Promise.all(busy);
    const statuses = responses.map((r) => r?.status);
    expect(statuses.filter((s) => s === 503).length).toBeGreaterThanOrEqual(24 - 2 * 8 - 4); // 16 rows + 4 waiting
    const health = (await (await http('/healthz')).json()) as { running: number; queued: number; status: string };
    expect(health.status).toBe('ok');
    expect(health.running).toBe(16); // answered while saturated
    for (const c of controllers) c.abort();
    await Promise.all(responses.map((r) => r?.body?.cancel().catch(() => {})));
    // Cancelled work leaves the batches: the server is idle again long before 2000 characters.
    const started = Date.now();
    let h = health;
    while ((h.running > 0 || h.queued > 0) && Date.now() - started < 5000) h = (await (await http('/healthz')).json()) as typeof health;
    expect(h.running + h.queued).toBe(0);
  });

  it('a burst on one model does not starve another: each model has its own rows and queue in every thread', async () => {
    const controllers = Array.from({ length: 24 }, () => new AbortController());
    const busy = await Promise.all(
      controllers.map((c) => http('/v1/generate', { ...post({ prefix: 'the', numChars: 2000, stream: true }), signal: c.signal }).catch(() => null)),
    );
    expect(busy.filter((r) => r?.status === 503).length).toBeGreaterThan(0); // the first model is full
    const q = { model: SECOND_MODEL, prefix: 'The ', numChars: 40, temperature: 0.6, seed: 5, author: 'wells' };
    const other = await http('/v1/generate', post(q));
    expect(other.status).toBe(200);
    const model = await readModelDir(SECOND_MODEL_DIR);
    expect(((await other.json()) as GenerateResult).text).toBe(predict(model, q, new KernelModel(await loadKernelNode(), model)).text);
    const h = (await (await http('/healthz')).json()) as { models: { name: string; running: number; activeRows: number; capacity: number }[] };
    expect(h.models[0]).toMatchObject({ running: 16, activeRows: 16, capacity: 16 });
    expect(h.models[1]).toMatchObject({ name: SECOND_MODEL, running: 0, capacity: 16 });
    expect(await (await http('/metrics')).text()).toMatch(/deeprnn_refusals_total\{status="503",model="timemachine-deep-lstm"\} [1-9]/);
    for (const c of controllers) c.abort();
    await Promise.all(busy.map((r) => r?.body?.cancel().catch(() => {})));
    for (const started = Date.now(); Date.now() - started < 5000; ) {
      if (((await (await http('/healthz')).json()) as { running: number }).running === 0) break;
    }
  });

  it("GET /metrics: Prometheus' text format, per model, that promtool accepts", async () => {
    await http('/v1/generate', post({ prefix: 'the', numChars: 30, stream: true })).then((r) => r.text());
    await http('/v1/generate', post({ model: SECOND_MODEL, prefix: 'The ', numChars: 20 })).then((r) => r.text());
    await http('/v1/completions', post({ model: SECOND_MODEL, prompt: 'The ', max_tokens: 10 })).then((r) => r.text());
    await http('/v1/generate', post({ model: 'nope', prefix: 'a', numChars: 1 })).then((r) => r.text());
    const r = await http('/metrics');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await r.text();
    expect(text).toContain(`deeprnn_http_requests_total{route="/v1/generate",method="POST",status="200",model="${SERVED[0]}"}`);
    expect(text).toContain(`deeprnn_http_requests_total{route="/v1/completions",method="POST",status="200",model="${SECOND_MODEL}"}`);
    expect(text).toContain('deeprnn_http_requests_total{route="/v1/generate",method="POST",status="404",model=""}');
    expect(text).toContain('# TYPE deeprnn_refusals_total counter');
    const chars = Number(new RegExp(`deeprnn_generated_chars_total\\{model="${SECOND_MODEL}"\\} (\\d+)`).exec(text)?.[1]);
    expect(chars).toBeGreaterThanOrEqual(30); // 20 + 10 here, and what earlier tests generated
    expect(text).toMatch(/deeprnn_time_to_first_char_seconds_count\{model="timemachine-deep-lstm"\} [1-9]/);
    expect(text).toMatch(/deeprnn_generation_duration_seconds_bucket\{le="\+Inf",model="authors-deep-lstm"\} [2-9]/);
    for (const name of SERVED) {
      expect(text).toContain(`deeprnn_queue_depth{model="${name}"} 0`);
      expect(text).toContain(`deeprnn_batch_rows{model="${name}"} 16`);
    }
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(check.error, 'promtool (Debian package prometheus) must be installed: scripts/ensure-test-tools.sh').toBeUndefined();
    expect(check.stdout + check.stderr).toBe('');
    expect(check.status).toBe(0);
  });

  it('non-streaming requests whose client hangs up leave the batch too', async () => {
    const controllers = Array.from({ length: 10 }, () => new AbortController());
    const reqs = controllers.map((c) => http('/v1/generate', { ...post({ prefix: 'the', numChars: 2000 }), signal: c.signal }).catch(() => null));
    let during = { running: 0 };
    for (const started = Date.now(); during.running === 0 && Date.now() - started < 5000; ) during = (await (await http('/healthz')).json()) as typeof during;
    expect(during.running).toBeGreaterThan(0);
    for (const c of controllers) c.abort();
    await Promise.all(reqs);
    const started = Date.now();
    let h = during;
    while (h.running > 0 && Date.now() - started < 5000) h = (await (await http('/healthz')).json()) as typeof during;
    expect(h.running).toBe(0);
  });
});

describe('MODEL_DIR=models/authors-deep-lstm-int8 npm start: a model with authors', () => {
  const dir = `${ROOT}models/authors-deep-lstm-int8`;
  let server: NodeServer;
  beforeAll(async () => {
    server = await startNodeServer({ modelDir: dir, port: 0, host: '127.0.0.1', workers: 1 });
  });
  afterAll(() => server?.close());

  it('offers its authors on the demo page and in /v1/models, writes as the one asked for, and names them when asked for another', async () => {
    const page = await (await fetch(`${server.url}/`)).text();
    for (const a of ['wells', 'doyle', 'shelley']) expect(page).toContain(`<option value="${a}"`);
    const { data } = (await (await fetch(`${server.url}/v1/models`)).json()) as { data: { vocabulary: { authors: string[] } }[] };
    expect([...data[0].vocabulary.authors].sort()).toEqual(['doyle', 'shelley', 'wells']);
    const ask = async (author: string) => fetch(`${server.url}/v1/generate`, post({ prefix: 'The ', numChars: 60, temperature: 0.7, seed: 3, author }));
    const model = await readModelDir(dir);
    const km = new KernelModel(await loadKernelNode(), model);
    for (const author of ['doyle', 'shelley']) {
      expect(((await (await ask(author)).json()) as GenerateResult).text).toBe(
        predict(model, { prefix: 'The ', numChars: 60, temperature: 0.7, seed: 3, author }, km).text,
      );
    }
    const wrong = await ask('dickens');
    expect(wrong.status).toBe(400);
    expect(((await wrong.json()) as { error: { message: string } }).error.message).toMatch(/author must be one of .*doyle/);
  });
});

describe('npm start', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'deeprnn-edge-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('refuses to start on a corrupt model', async () => {
    const bad = join(dir, 'corrupt');
    await cp(EDGE_MODEL_DIR, bad, { recursive: true });
    await writeFile(join(bad, 'weights.bin'), new Uint8Array(100));
    await expect(startNodeServer({ modelDir: bad, port: 0 })).rejects.toThrow(/weights\.bin is truncated/);
  });

  it('validates every setting', () => {
    expect(serverConfig({}).PORT).toBe(8787);
    expect(serverConfig({ PORT: '0' }).PORT).toBe(0);
    for (const [name, value, message] of [
      ['PORT', 'http', /PORT must be a whole number in \[0, 65535\]/],
      ['PORT', '70000', /PORT/],
      ['WORKERS', '-1', /WORKERS/],
      ['BATCH', '0', /BATCH must be a whole number in \[1, 4096\]/],
      ['QUEUE_SIZE', 'many', /QUEUE_SIZE/],
      ['DEADLINE_MS', '0', /DEADLINE_MS/],
      ['RATE_LIMIT', '5 per second', /RATE_LIMIT must look like/],
    ] as const)
      expect(() => serverConfig({ [name]: value }), `${name}=${value}`).toThrow(message);
  });

  const start = (env: Record<string, string>) =>
    spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'edge/node.ts')], {
      env: { ...process.env, MODEL_DIR: EDGE_MODEL_DIR, HOST: '127.0.0.1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });

  it('on a busy port: one line naming the port, and a non-zero exit', async () => {
    const blocker = createServer().listen(0, '127.0.0.1');
    await new Promise((r) => blocker.once('listening', r));
    const port = (blocker.address() as { port: number }).port;
    const child = start({ PORT: String(port) });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const code = await new Promise((r) => child.on('exit', r));
    blocker.close();
    expect(code).not.toBe(0);
    expect(stderr.trim()).toBe(`deeprnn: cannot start the server: port ${port} is already in use on 127.0.0.1 (set PORT to another one)`);
  });

  it('shuts down cleanly on SIGTERM', async () => {
    const child = start({ PORT: '0' });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d));
    const started = Date.now();
    while (!/serving .* at (http:\/\/\S+)/.test(output) && Date.now() - started < 30_000) await new Promise((r) => setTimeout(r, 50));
    const url = /at (http:\/\/\S+)/.exec(output)![1];
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    child.kill('SIGTERM');
    const code = await new Promise((r) => child.on('exit', r));
    expect(code).toBe(0);
    expect(output).toMatch(/SIGTERM: shutting down/);
  });
});

describe('limits as documented', () => {
  it("docs/http-api.md states the body limits the server applies (the contract's constants), and a body past /v1/generate's gets a 413 naming it", async () => {
    const { readFile } = await import('node:fs/promises');
    const doc = await readFile(new URL('../../docs/http-api.md', import.meta.url), 'utf8');
    const { GENERATE_BODY_BYTES, SERVICE_LIMITS: L } = await import('../../shared/contract.ts');
    expect(doc.replace(/\s+/g, ' ')).toContain(`\`/v1/generate\` ≤ ${GENERATE_BODY_BYTES / 1024} KiB`);
    expect(doc.replace(/\s+/g, ' ')).toContain(`\`/v1/completions\` ≤ ${L.maxBodyBytes / 1024} KiB, \`/v1/score\` ≤ ${L.maxScoreBodyBytes / 1024} KiB`);
    const engine = localEngine(new KernelModel(await loadKernelNode(), artifact.model), SCHEDULE);
    const app = createApp({ registry: one(artifact, engine) });
    const big = JSON.stringify({ prefix: 'a', numChars: 5, pad: 'x'.repeat(GENERATE_BODY_BYTES) });
    const r = await app.request('/v1/generate', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': String(big.length) },
      body: big,
    });
    expect(r.status).toBe(413);
    expect(((await r.json()) as { error: { message: string } }).error.message).toBe(`the request body is over ${GENERATE_BODY_BYTES} bytes`);
    await engine.close();
  });
});
