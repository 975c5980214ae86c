/**
 * The API's contract, written once and run twice: against the app in Node (app.request) and
 * against the real Workers entry inside workerd (test/workers). Nothing here imports Node.
 */
import { describe, expect, it } from 'vitest';
import type { GenerateResult, ScoreResult } from '../../shared/contract.ts';

export type Fetch = (path: string, init?: RequestInit) => Promise<Response>;

interface OpenApiDoc {
  openapi: string;
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: unknown }> }> }>>;
  components: { schemas: Record<string, { required: string[]; additionalProperties: boolean; properties: Record<string, object> }> };
}
interface ModelInfo {
  architecture: object;
  vocabulary: { tokens: string[]; authors: string[] };
  samplePrefix: string;
  weights: { dtype: string; sha256: string };
}

/** Requests whose texts must be the same in every runtime. */
export const SAMPLES = [
  { prefix: 'time traveller', numChars: 60, seed: 1 },
  { prefix: 'the time machine', numChars: 80, temperature: 0.9, topK: 10, seed: 42 },
  { prefix: 'Café, NAÏVE — 🙂', numChars: 40, temperature: 1.2, topP: 0.9, seed: 3 },
  { prefix: 'the', numChars: 50, beamWidth: 4, numReturn: 2, stop: ['machine'], logprobs: 2 },
] as const;

export const post = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...headers },
  body: typeof body === 'string' ? body : JSON.stringify(body),
});

export interface SseEvent {
  event: string;
  data: Record<string, unknown>;
}

export function parseSse(text: string): SseEvent[] {
  return text
    .split('\n\n')
    .filter((b) => b.trim())
    .map((block) => ({ event: /^event: (.*)$/m.exec(block)?.[1] ?? 'message', data: JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? 'null') }));
}

export function apiCases(fetch: Fetch): void {
  describe('routes', () => {
    it('GET /healthz', async () => {
      const r = await fetch('/healthz');
      expect(r.status).toBe(200);
      const h = (await r.json()) as { status: string; engine: string; capacity: number };
      expect(h).toMatchObject({ status: 'ok' });
      expect(h.engine).toMatch(/^wasm-simd int8/);
      expect(h.capacity).toBeGreaterThan(0);
    });

    it('GET /v1/models: architecture, vocabulary, authors, sample prefix and training record, never the weights', async () => {
      const r = await fetch('/v1/models');
      expect(r.status).toBe(200);
      const { models } = (await r.json()) as { models: ModelInfo[] };
      expect(models).toHaveLength(1);
      const m = models[0];
      expect(Object.keys(m).sort()).toEqual(['architecture', 'name', 'samplePrefix', 'training', 'vocabulary', 'weights']);
      expect(m.architecture).toMatchObject({ cell: 'lstm', numLayers: 2, hiddenSize: 256, vocabSize: 28, input: 'one-hot' });
      expect(m.vocabulary.tokens).toHaveLength(28);
      expect(m.vocabulary.authors).toEqual([]);
      expect(m.samplePrefix).toBe('time traveller');
      expect(m.weights).toMatchObject({ dtype: 'int8' });
      expect(JSON.stringify(m)).not.toMatch(/"tensors"|"byteLength"/);
      expect(JSON.stringify(m).length).toBeLessThan(4000);
    });

    it('GET /openapi.json documents the API, its SSE events included, from the contract', async () => {
      const doc = (await (await fetch('/openapi.json')).json()) as OpenApiDoc;
      expect(doc.openapi).toBe('3.1.0');
      expect(Object.keys(doc.paths).sort()).toEqual(['/v1/generate', '/v1/models', '/v1/score']);
      const req = doc.components.schemas.GenerateRequest;
      expect(req.required.sort()).toEqual(['numChars', 'prefix']);
      expect(req.additionalProperties).toBe(false);
      expect(req.properties.numChars).toMatchObject({ type: 'integer', minimum: 1, maximum: 2000 });
      expect(req.properties.beamWidth).toMatchObject({ type: 'integer', minimum: 1, maximum: 16 });
      expect(Object.keys(req.properties)).toEqual(expect.arrayContaining(['logprobs', 'stop', 'beamWidth', 'lengthPenalty', 'numReturn', 'author', 'stream']));
      for (const name of ['StartEvent', 'GeneratedToken', 'GenerateResponse', 'ScoreResponse', 'Error']) expect(doc.components.schemas[name], name).toBeDefined();
      expect(doc.paths['/v1/generate'].post.responses['200'].content!['text/event-stream']).toBeDefined();
      expect(doc.paths['/v1/generate'].post.responses['503']).toBeDefined();
    });

    it('GET / is the demo page, under a Content-Security-Policy; GET /docs is Swagger UI from this server', async () => {
      const r = await fetch('/');
      expect(r.headers.get('content-type')).toMatch(/text\/html/);
      const html = await r.text();
      expect(html).toMatch(/<form id="form">[\s\S]*Temperature[\s\S]*\/v1\/generate/);
      expect(html).toMatch(/id="temperature"[^>]*value="0\.8"/); // opens sampling, not greedy
      expect(html).toMatch(/id="prefix" value="time traveller"/); // the model's own sample prefix
      expect(html).toContain('id="greedy"');
      const csp = r.headers.get('content-security-policy')!;
      expect(csp).toMatch(/script-src 'self' 'nonce-[^']+'/);
      expect(html).toContain(`nonce="${/'nonce-([^']+)'/.exec(csp)![1]}"`);
      const docs = await fetch('/docs');
      expect(await docs.text()).toMatch(/\/static\/swagger\/swagger-ui-bundle\.js[\s\S]*url: '\/openapi\.json'/);
      expect((await fetch('/static/swagger/swagger-ui-bundle.js')).status).toBe(200);
    });

    it('security headers on every response', async () => {
      for (const path of ['/', '/healthz', '/v1/models', '/nothing']) {
        const r = await fetch(path);
        expect(r.headers.get('x-content-type-options'), path).toBe('nosniff');
        expect(r.headers.get('referrer-policy'), path).toBe('strict-origin-when-cross-origin');
      }
    });
  });

  describe('POST /v1/generate', () => {
    it("returns predict_ch8's text: the normalised prefix, then numChars characters", async () => {
      const r = await fetch('/v1/generate', post({ prefix: 'Time  Traveller!', numChars: 50 }));
      expect(r.status).toBe(200);
      const body = (await r.json()) as GenerateResult;
      expect(body.prefix).toBe('time traveller ');
      expect(body.text).toBe(body.prefix + body.generated);
      expect([...body.generated]).toHaveLength(50);
      expect(body).toMatchObject({ numChars: 50, finishReason: 'length' });
      expect(typeof body.seed).toBe('number');
      expect(typeof body.timings.totalMs).toBe('number');
    });

    it('same seed, same text; greedy ignores the seed', async () => {
      const gen = async (b: object) => ((await (await fetch('/v1/generate', post(b))).json()) as { text: string }).text;
      const a = await gen({ prefix: 'the', numChars: 60, temperature: 1, seed: 9 });
      expect(await gen({ prefix: 'the', numChars: 60, temperature: 1, seed: 9 })).toBe(a);
      expect(await gen({ prefix: 'the', numChars: 60, temperature: 1, seed: 10 })).not.toBe(a);
      expect(await gen({ prefix: 'the', numChars: 30, seed: 1 })).toBe(await gen({ prefix: 'the', numChars: 30, seed: 2 }));
    });

    it('streams Server-Sent Events: start, one token per character, done with the totals', async () => {
      const body = { prefix: 'time traveller', numChars: 40, temperature: 0.8, seed: 5 };
      const r = await fetch('/v1/generate', post({ ...body, stream: true }));
      expect(r.headers.get('content-type')).toMatch(/text\/event-stream/);
      const events = parseSse(await r.text());
      expect(events[0]).toMatchObject({ event: 'start', data: { prefix: 'time traveller', seed: 5, numChars: 40 } });
      const tokens = events.filter((e) => e.event === 'token');
      expect(tokens).toHaveLength(40);
      const done = events[events.length - 1];
      expect(done.event).toBe('done');
      expect(done.data.generated).toBe(tokens.map((t) => t.data.text).join(''));
      const whole = (await (await fetch('/v1/generate', post(body))).json()) as GenerateResult;
      expect(done.data.text).toBe(whole.text);
      const viaAccept = await fetch('/v1/generate', post(body, { accept: 'text/event-stream' }));
      expect(parseSse(await viaAccept.text()).at(-1)?.data.text).toBe(whole.text);
    });

    it('sends events before the generation ends', async () => {
      const r = await fetch('/v1/generate', post({ prefix: 'the', numChars: 2000, stream: true }));
      const reader = r.body!.getReader();
      const first = new TextDecoder().decode((await reader.read()).value);
      expect(first).toMatch(/event: start/);
      expect(first).not.toMatch(/event: done/);
      let rest = '';
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) rest += new TextDecoder().decode(chunk.value);
      expect(parseSse(first + rest).filter((e) => e.event === 'token')).toHaveLength(2000);
    });

    it('logprobs: each character with its log-probability and alternatives, in JSON and in every SSE token', async () => {
      const q = { prefix: 'the time', numChars: 20, logprobs: 3, temperature: 0.7, seed: 2 };
      const r = (await (await fetch('/v1/generate', post(q))).json()) as GenerateResult;
      expect(r.logprobs).toHaveLength(20);
      expect(r.logprobs!.map((t) => t.text).join('')).toBe(r.generated);
      for (const t of r.logprobs!) {
        expect(t.logprob).toBeLessThanOrEqual(0);
        expect(t.top!.length).toBeGreaterThan(0);
        expect(t.top!.length).toBeLessThanOrEqual(3);
      }
      const events = parseSse(await (await fetch('/v1/generate', post({ ...q, stream: true }))).text()).filter((e) => e.event === 'token');
      expect(events.map((e) => e.data)).toEqual(r.logprobs);
    });

    it('stop sequences end the text at the first occurrence; beam search returns ranked beams', async () => {
      const free = (await (await fetch('/v1/generate', post({ prefix: 'the time traveller', numChars: 200, temperature: 1, seed: 4 }))).json()) as GenerateResult;
      const at = free.generated.indexOf('e ');
      const stopped = (await (await fetch('/v1/generate', post({ prefix: 'the time traveller', numChars: 200, temperature: 1, seed: 4, stop: ['e '] }))).json()) as GenerateResult;
      expect(stopped.generated).toBe(free.generated.slice(0, at + 2));
      expect(stopped.finishReason).toBe('stop');
      const beam = (await (await fetch('/v1/generate', post({ prefix: 'the', numChars: 30, beamWidth: 4, numReturn: 3 }))).json()) as GenerateResult;
      expect(beam.beams).toHaveLength(3);
      expect(beam.beams![0].text).toBe(beam.text);
      expect(beam.beams![0].score).toBeGreaterThanOrEqual(beam.beams![1].score);
      const greedy = (await (await fetch('/v1/generate', post({ prefix: 'the', numChars: 30 }))).json()) as GenerateResult;
      expect(((await (await fetch('/v1/generate', post({ prefix: 'the', numChars: 30, beamWidth: 1 }))).json()) as GenerateResult).text).toBe(greedy.text);
    });
  });

  describe('POST /v1/score', () => {
    it("gives each character's log-probability and the totals; they sum to what generation reports", async () => {
      const g = (await (await fetch('/v1/generate', post({ prefix: 'the time', numChars: 30, logprobs: 1 }))).json()) as GenerateResult;
      const r = await fetch('/v1/score', post({ text: g.text }));
      expect(r.status).toBe(200);
      const s = (await r.json()) as ScoreResult;
      expect(s.chars).toHaveLength([...g.text].length);
      expect(s.chars[0].logprob).toBeNull();
      s.chars.slice(-30).forEach((c, i) => expect(c.logprob).toBeCloseTo(g.logprobs![i].logprob!, 9));
      expect(s.perplexity).toBeCloseTo(Math.exp(-s.logprob / s.predicted), 9);
      expect(s.unknown).toBe(0);
      expect((await (await fetch('/v1/score', post({ text: 'Café' }))).json()) as ScoreResult).toMatchObject({ text: 'cafe', unknown: 0 });
    });

    it('is bounded and validated like generation', async () => {
      for (const [body, status, message] of [
        [{ txt: 'a' }, 400, /txt is not a field; did you mean text\?/],
        [{ text: '' }, 400, /text must be a string/],
        [{ text: 'a'.repeat(10_001) }, 400, /text must be a string of 1 to 10000|at most 10000/],
      ] as const) {
        const r = await fetch('/v1/score', post(body));
        expect(r.status).toBe(status);
        expect(((await r.json()) as { error: { message: string } }).error.message).toMatch(message);
      }
      expect((await fetch('/v1/score', post({ text: 'x'.repeat(70_000) }))).status).toBe(413);
    });
  });

  describe('bad input: a JSON error with the right status, never a 500', () => {
    const cases: [string, RequestInit, number, string][] = [
      ['invalid JSON', post('{"prefix": "a",'), 400, 'invalid_json'],
      ['a JSON array', post('[1, 2]'), 400, 'invalid_request'],
      ['missing prefix', post({ numChars: 5 }), 400, 'invalid_request'],
      ['missing numChars', post({ prefix: 'a' }), 400, 'invalid_request'],
      ['prefix of the wrong type', post({ prefix: 5, numChars: 5 }), 400, 'invalid_request'],
      ['empty prefix', post({ prefix: '', numChars: 5 }), 400, 'invalid_request'],
      ['prefix over 1000 characters', post({ prefix: 'a'.repeat(1001), numChars: 5 }), 400, 'invalid_request'],
      ['a prefix of 1000 characters that normalises to more', post({ prefix: '㎯'.repeat(1000), numChars: 5 }), 400, 'invalid_request'],
      ['numChars 0', post({ prefix: 'a', numChars: 0 }), 400, 'invalid_request'],
      ['numChars 2001', post({ prefix: 'a', numChars: 2001 }), 400, 'invalid_request'],
      ['numChars 1.5', post({ prefix: 'a', numChars: 1.5 }), 400, 'invalid_request'],
      ['numChars as a string', post({ prefix: 'a', numChars: '5' }), 400, 'invalid_request'],
      ['negative temperature', post({ prefix: 'a', numChars: 5, temperature: -1 }), 400, 'invalid_request'],
      ['temperature over 100', post({ prefix: 'a', numChars: 5, temperature: 101 }), 400, 'invalid_request'],
      ['topK 0', post({ prefix: 'a', numChars: 5, topK: 0 }), 400, 'invalid_request'],
      ['topP 0', post({ prefix: 'a', numChars: 5, topP: 0 }), 400, 'invalid_request'],
      ['topP 1.5', post({ prefix: 'a', numChars: 5, topP: 1.5 }), 400, 'invalid_request'],
      ['negative seed', post({ prefix: 'a', numChars: 5, seed: -1 }), 400, 'invalid_request'],
      ['logprobs 11', post({ prefix: 'a', numChars: 5, logprobs: 11 }), 400, 'invalid_request'],
      ['five stop sequences', post({ prefix: 'a', numChars: 5, stop: ['a', 'b', 'c', 'd', 'e'] }), 400, 'invalid_request'],
      ['beamWidth 17', post({ prefix: 'a', numChars: 5, beamWidth: 17 }), 400, 'invalid_request'],
      ['an author for a model without authors', post({ prefix: 'a', numChars: 5, author: 'doyle' }), 400, 'invalid_request'],
      ['stream not a boolean', post({ prefix: 'a', numChars: 5, stream: 'yes' }), 400, 'invalid_request'],
      ['an unknown field', post({ prefix: 'a', numChars: 5, temprature: 1 }), 400, 'invalid_request'],
      ['a body over 16 KiB', post({ prefix: 'a', numChars: 5, pad: 'x'.repeat(17000) }), 413, 'payload_too_large'],
      ['not JSON', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'prefix=a' }, 415, 'unsupported_media_type'],
      ['JSON text sequences are not JSON', { method: 'POST', headers: { 'content-type': 'application/json-seq' }, body: '{}' }, 415, 'unsupported_media_type'],
      ['GET on /v1/generate', { method: 'GET' }, 405, 'method_not_allowed'],
    ];
    for (const [what, init, status, code] of cases) {
      it(what, async () => {
        const r = await fetch('/v1/generate', init);
        expect(r.status).toBe(status);
        const body = (await r.json()) as { error: { code: string; message: string } };
        expect(body.error.code).toBe(code);
        expect(body.error.message.length).toBeGreaterThan(5);
      });
    }

    it('names the field at fault, and the field a near-miss meant, before a missing one', async () => {
      const body = (await (await fetch('/v1/generate', post({ prefix: 'a', numChars: 5000 }))).json()) as { error: { message: string } };
      expect(body.error.message).toMatch(/^numChars must be a whole number in \[1, 2000\], got 5000/);
      const near = (await (await fetch('/v1/generate', post({ prefix: 'a', numChar: 5 }))).json()) as { error: { message: string } };
      expect(near.error.message).toBe('numChar is not a field; did you mean numChars?');
    });

    it('405 says which methods are allowed; unknown paths are 404', async () => {
      const r = await fetch('/v1/models', post({}));
      expect(r.status).toBe(405);
      expect(r.headers.get('allow')).toMatch(/^GET\b/);
      const nf = await fetch('/v2/nothing');
      expect(nf.status).toBe(404);
      expect(((await nf.json()) as { error: { code: string } }).error.code).toBe('not_found');
    });
  });

  describe('CORS and caching: the API, the browser module and the model, from any origin', () => {
    const origin = { origin: 'https://example.org' };
    it('preflight and responses allow any origin by default', async () => {
      const pre = await fetch('/v1/generate', { method: 'OPTIONS', headers: { ...origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } });
      expect(pre.status).toBe(204);
      expect(pre.headers.get('access-control-allow-origin')).toBe('*');
      expect(pre.headers.get('access-control-allow-methods')).toMatch(/POST/);
      const r = await fetch('/v1/generate', post({ prefix: 'a', numChars: 3 }, origin));
      expect(r.headers.get('access-control-allow-origin')).toBe('*');
    });

    it('/static: CORS, preflight, the right types, immutable caching for content-hashed names, 404 for folders', async () => {
      const js = await fetch('/static/deeprnn.js', { headers: origin });
      expect(js.status).toBe(200);
      expect(js.headers.get('access-control-allow-origin')).toBe('*');
      expect(js.headers.get('content-type')).toMatch(/^text\/javascript/);
      const pre = await fetch('/static/deeprnn.js', { method: 'OPTIONS', headers: { ...origin, 'access-control-request-method': 'GET' } });
      expect(pre.status).toBe(204);
      expect(pre.headers.get('access-control-allow-origin')).toBe('*');
      const ort = await fetch('/static/ort/ort-wasm-simd-threaded.wasm', { headers: origin });
      expect(ort.headers.get('content-type')).toBe('application/wasm');
      expect((await fetch('/static/ort/ort.wasm.bundle.min.mjs')).headers.get('content-type')).toMatch(/^text\/javascript/);
      for (const dir of ['/static/ort', '/static/ort/', '/static/']) {
        const r = await fetch(dir);
        expect(r.status, dir).toBe(404);
        expect(((await r.json()) as { error: { code: string } }).error.code).toBe('not_found');
      }
      expect((await fetch('/static/deeprnn.js.map')).status).toBe(404); // no source maps in production
    });

    it('/models: CORS, validators, and 304 when the weights have not changed', async () => {
      const json = await fetch('/models/timemachine-deep-lstm/model.json', { headers: origin });
      expect(json.headers.get('access-control-allow-origin')).toBe('*');
      const sha = ((await json.json()) as { weights: { sha256: string } }).weights.sha256;
      const w = await fetch('/models/timemachine-deep-lstm/weights.bin', { headers: origin });
      expect(w.headers.get('etag')).toBe(`"${sha}"`);
      expect(w.headers.get('access-control-expose-headers')).toMatch(/ETag/);
      expect((await w.arrayBuffer()).byteLength).toBeGreaterThan(700_000);
      const again = await fetch('/models/timemachine-deep-lstm/weights.bin', { headers: { ...origin, 'if-none-match': `"${sha}"` } });
      expect(again.status).toBe(304);
      expect((await fetch('/models/timemachine-deep-lstm/model.onnx')).headers.get('content-type')).toBe('application/octet-stream');
    });
  });
}
