/**
 * The API's contract, written once and run twice: against the app in Node (app.request) and
 * against the real Workers entry inside workerd (test/workers). Nothing here imports Node.
 */
import { describe, expect, it } from 'vitest';

export type Fetch = (path: string, init?: RequestInit) => Promise<Response>;

interface GenerateBody {
  prefix: string;
  text: string;
  generated: string;
  numChars: number;
  seed: number;
  finishReason: string;
  timings: { totalMs: number };
}
interface OpenApiDoc {
  openapi: string;
  paths: Record<string, unknown>;
  components: { schemas: Record<string, { required: string[]; additionalProperties: boolean; properties: Record<string, object> }> };
}
interface ModelInfo {
  architecture: object;
  vocabulary: { tokens: string[] };
}

/** Requests whose texts must be the same in every runtime. */
export const SAMPLES = [
  { prefix: 'time traveller', numChars: 60, seed: 1 },
  { prefix: 'the time machine', numChars: 80, temperature: 0.9, topK: 10, seed: 42 },
  { prefix: 'Café, NAÏVE — 🙂', numChars: 40, temperature: 1.2, topP: 0.9, seed: 3 },
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
      expect(await r.json()).toMatchObject({ status: 'ok', engine: 'wasm-simd' });
    });

    it('GET /v1/models: architecture, vocabulary and training record, never the weights', async () => {
      const r = await fetch('/v1/models');
      expect(r.status).toBe(200);
      const { models } = (await r.json()) as { models: ModelInfo[] };
      expect(models).toHaveLength(1);
      const m = models[0];
      expect(Object.keys(m).sort()).toEqual(['architecture', 'name', 'training', 'vocabulary']);
      expect(m.architecture).toMatchObject({ cell: 'lstm', numLayers: 2, hiddenSize: 256, vocabSize: 28, input: 'one-hot' });
      expect(m.vocabulary.tokens).toHaveLength(28);
      expect(JSON.stringify(m)).not.toMatch(/"tensors"|"byteLength"|"weights"/);
      expect(JSON.stringify(m).length).toBeLessThan(4000);
    });

    it('GET /openapi.json documents the API from the validating schemas', async () => {
      const doc = (await (await fetch('/openapi.json')).json()) as OpenApiDoc;
      expect(doc.openapi).toBe('3.1.0');
      expect(Object.keys(doc.paths).sort()).toEqual(['/v1/generate', '/v1/models']);
      const req = doc.components.schemas.GenerateRequest;
      expect(req.required.sort()).toEqual(['numChars', 'prefix']);
      expect(req.additionalProperties).toBe(false);
      expect(req.properties.numChars).toMatchObject({ type: 'integer', minimum: 1, maximum: 2000 });
    });

    it('GET / is the demo page', async () => {
      const r = await fetch('/');
      expect(r.headers.get('content-type')).toMatch(/text\/html/);
      expect(await r.text()).toMatch(/<form id="form">[\s\S]*Temperature[\s\S]*\/v1\/generate/);
    });
  });

  describe('POST /v1/generate', () => {
    it("returns predict_ch8's text: the normalised prefix, then numChars characters", async () => {
      const r = await fetch('/v1/generate', post({ prefix: 'Time  Traveller!', numChars: 50 }));
      expect(r.status).toBe(200);
      const body = (await r.json()) as GenerateBody;
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
      const whole = (await (await fetch('/v1/generate', post(body))).json()) as GenerateBody;
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
      ['stream not a boolean', post({ prefix: 'a', numChars: 5, stream: 'yes' }), 400, 'invalid_request'],
      ['an unknown field', post({ prefix: 'a', numChars: 5, temprature: 1 }), 400, 'invalid_request'],
      ['a body over 16 KiB', post({ prefix: 'a', numChars: 5, pad: 'x'.repeat(17000) }), 413, 'payload_too_large'],
      ['not JSON', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'prefix=a' }, 415, 'unsupported_media_type'],
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

    it('names the field at fault', async () => {
      const body = (await (await fetch('/v1/generate', post({ prefix: 'a', numChars: 5000 }))).json()) as { error: { message: string } };
      expect(body.error.message).toMatch(/^numChars: /);
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

  it('CORS: preflight and responses allow any origin by default', async () => {
    const pre = await fetch('/v1/generate', { method: 'OPTIONS', headers: { origin: 'https://example.org', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('*');
    expect(pre.headers.get('access-control-allow-methods')).toMatch(/POST/);
    const r = await fetch('/v1/generate', post({ prefix: 'a', numChars: 3 }, { origin: 'https://example.org' }));
    expect(r.headers.get('access-control-allow-origin')).toBe('*');
  });
}
