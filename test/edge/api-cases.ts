/**
 * The API's contract, written once and run twice: against the app in Node (app.request) and
 * against the real Workers entry inside workerd (test/workers). Nothing here imports Node.
 */
import { generateText, streamText } from 'ai';
import OpenAI from 'openai';
import { createDeeprnn } from '../../shared/ai-sdk.ts';
import { describe, expect, it } from 'vitest';
import type { GenerateResult, ScoreResult } from '../../shared/contract.ts';

export type Fetch = (path: string, init?: RequestInit) => Promise<Response>;

/** What the API tests serve, in this order, on every runtime (test/edge/samples.ts EDGE_MODEL_DIRS). */
export const SERVED = ['timemachine-deep-lstm', 'authors-deep-lstm'];

interface OpenApiDoc {
  openapi: string;
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: unknown }> }> }>>;
  components: { schemas: Record<string, { required: string[]; additionalProperties: boolean; properties: Record<string, object> }> };
}
interface ModelInfo {
  id: string;
  object: string;
  name: string;
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
  { prefix: 'the time', numChars: 40, temperature: 0.9, seed: 5, constraint: { regex: '( [a-z]+){3,6}' } },
  { prefix: 'the time traveller', numChars: 10, temperature: 1, seed: 8, constraint: { choice: [' said', ' was', ' smiled'] } },
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

/** The official OpenAI client, speaking to the app through `fetch` (no network). */
export function openaiClient(fetch: Fetch): OpenAI {
  return new OpenAI({
    apiKey: 'not-needed',
    baseURL: 'https://edge.test/v1',
    maxRetries: 0,
    fetch: async (input: string | URL | Request, init?: RequestInit) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      return fetch(url.pathname + url.search, init);
    },
  });
}

export function apiCases(fetch: Fetch): void {
  const generate = async (body: object) => (await (await fetch('/v1/generate', post(body))).json()) as GenerateResult;
  const openai = openaiClient(fetch);

  describe('several models: each under its name, the first by default', () => {
    it('a request names its model; an unknown name is a 404 that lists the served ones; a bad one a 400', async () => {
      const byDefault = await generate({ prefix: 'the', numChars: 20 });
      expect(byDefault.model).toBe(SERVED[0]);
      const second = await generate({ model: SERVED[1], prefix: 'The ', numChars: 20, author: 'doyle', seed: 1, temperature: 0.5 });
      expect(second.model).toBe(SERVED[1]);
      expect(second.author).toBe('doyle');
      const unknown = await fetch('/v1/generate', post({ model: 'nope', prefix: 'the', numChars: 5 }));
      expect(unknown.status).toBe(404);
      const e = ((await unknown.json()) as { error: { code: string; message: string; param: string } }).error;
      expect(e.code).toBe('model_not_found');
      expect(e.param).toBe('model');
      for (const name of SERVED) expect(e.message).toContain(name);
      const bad = await fetch('/v1/generate', post({ model: 5, prefix: 'the', numChars: 5 }));
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { error: { message: string } }).error.message).toMatch(/^model must be a string/);
      const scored = await fetch('/v1/score', post({ model: SERVED[1], text: 'The man' }));
      expect(((await scored.json()) as ScoreResult).model).toBe(SERVED[1]);
      expect((await fetch('/v1/score', post({ model: 'nope', text: 'a' }))).status).toBe(404);
    });

    it('/models/{name}/…, /healthz and the demo page know every model', async () => {
      for (const name of SERVED) expect(((await (await fetch(`/models/${name}/model.json`)).json()) as { name: string }).name).toBe(name);
      expect((await fetch('/models/nope/model.json')).status).toBe(404);
      const h = (await (await fetch('/healthz')).json()) as { model: string; models: { name: string; capacity: number }[] };
      expect(h.model).toBe(SERVED[0]);
      expect(h.models.map((m) => m.name)).toEqual(SERVED);
      const page = await (await fetch(`/?model=${SERVED[1]}`)).text();
      expect(page).toContain(`<option value="${SERVED[1]}" selected>`);
      expect(page).toContain(`<option value="${SERVED[0]}">`);
      expect(page).toContain('<option value="doyle"');
      expect(page).toContain(`deeprnn · ${SERVED[1]}`);
      expect(await (await fetch('/')).text()).toContain(`<option value="${SERVED[0]}" selected>`);
      expect((await fetch('/?model=nope')).status).toBe(404);
    });
  });

  describe('the OpenAI-compatible API, through the official openai client', () => {
    it('models.list() lists the served models; models.retrieve(id) gives one', async () => {
      const ids: string[] = [];
      for await (const m of openai.models.list()) ids.push(m.id);
      expect(ids).toEqual(SERVED);
      expect(await openai.models.retrieve(SERVED[1])).toMatchObject({ id: SERVED[1], object: 'model', owned_by: 'deeprnn' });
      const missing = await openai.models.retrieve('nope').catch((e: InstanceType<typeof OpenAI.APIError>) => e);
      expect((missing as InstanceType<typeof OpenAI.APIError>).status).toBe(404);
    });

    it("completions.create gives /v1/generate's text for the same seed and settings, with usage counting characters", async () => {
      const c = await openai.completions.create({ model: SERVED[0], prompt: 'time traveller', max_tokens: 40, temperature: 0.8, top_p: 0.95, seed: 7 });
      const ours = await generate({ prefix: 'time traveller', numChars: 40, temperature: 0.8, topP: 0.95, seed: 7 });
      expect(c.object).toBe('text_completion');
      expect(c.model).toBe(SERVED[0]);
      expect(c.choices).toHaveLength(1);
      expect(c.choices[0]).toMatchObject({ index: 0, text: ours.generated, finish_reason: 'length', logprobs: null });
      expect(c.usage).toEqual({ prompt_tokens: 14, completion_tokens: 40, total_tokens: 54 });
      // OpenAI's defaults: 16 tokens at temperature 1; the default model is the first.
      const d = await openai.completions.create({ model: SERVED[0], prompt: 'the', seed: 3 });
      expect(d.choices[0].text).toBe((await generate({ prefix: 'the', numChars: 16, temperature: 1, seed: 3 })).generated);
    });

    it('streams chunks that add up to the same text, then usage, then [DONE]', async () => {
      const stream = await openai.completions.create({
        model: SERVED[1],
        prompt: 'The ',
        max_tokens: 60,
        temperature: 0.7,
        seed: 11,
        stream: true,
        stream_options: { include_usage: true },
      });
      let text = '';
      let finish: string | null = null;
      let usage: OpenAI.CompletionUsage | undefined;
      let chunks = 0;
      for await (const chunk of stream) {
        chunks++;
        for (const ch of chunk.choices) {
          text += ch.text;
          finish = ch.finish_reason ?? finish;
        }
        usage = chunk.usage ?? usage;
      }
      expect(chunks).toBeGreaterThan(1);
      expect(text).toBe((await generate({ model: SERVED[1], prefix: 'The ', numChars: 60, temperature: 0.7, seed: 11 })).generated);
      expect(finish).toBe('length');
      expect(usage).toEqual({ prompt_tokens: 4, completion_tokens: 60, total_tokens: 64 });
      const raw = await (await fetch('/v1/completions', post({ prompt: 'the', max_tokens: 5, stream: true }))).text();
      expect(raw.trimEnd().endsWith('data: [DONE]')).toBe(true);
    });

    it('n choices use seed, seed + 1, …; echo puts the prompt first; stop sequences are left out of the text, streamed or not', async () => {
      const c = await openai.completions.create({ model: SERVED[0], prompt: 'the time', max_tokens: 30, temperature: 1, seed: 20, n: 2 });
      expect(c.choices.map((ch) => ch.index)).toEqual([0, 1]);
      expect(c.choices[1].text).toBe((await generate({ prefix: 'the time', numChars: 30, temperature: 1, seed: 21 })).generated);
      const echoed = await openai.completions.create({ model: SERVED[0], prompt: 'the time', max_tokens: 10, temperature: 0, echo: true });
      expect(echoed.choices[0].text).toBe((await generate({ prefix: 'the time', numChars: 10 })).text);
      const ours = await generate({ prefix: 'the time traveller', numChars: 200, temperature: 1, seed: 4, stop: ['e '] });
      expect(ours.finishReason).toBe('stop');
      const q = { model: SERVED[0], prompt: 'the time traveller', max_tokens: 200, temperature: 1, seed: 4, stop: 'e ' };
      const stopped = await openai.completions.create(q);
      expect(stopped.choices[0]).toMatchObject({ text: ours.generated.slice(0, -2), finish_reason: 'stop' });
      let streamed = '';
      for await (const chunk of await openai.completions.create({ ...q, stream: true })) streamed += chunk.choices.map((ch) => ch.text).join('');
      expect(streamed).toBe(ours.generated.slice(0, -2));
    });

    it("logprobs: one entry per character, with /v1/generate's log-probabilities and up to k alternatives", async () => {
      const c = await openai.completions.create({ model: SERVED[0], prompt: 'the time', max_tokens: 12, temperature: 0.7, seed: 2, logprobs: 2 });
      const ours = await generate({ prefix: 'the time', numChars: 12, temperature: 0.7, seed: 2, logprobs: 2 });
      const lp = c.choices[0].logprobs!;
      expect(lp.tokens!.join('')).toBe(c.choices[0].text);
      expect(lp.token_logprobs).toEqual(ours.logprobs!.map((t) => t.logprob));
      expect(lp.text_offset).toEqual([...Array(12).keys()]);
      for (const top of lp.top_logprobs!) expect(Object.keys(top!).length).toBeLessThanOrEqual(2);
    });

    it("errors in OpenAI's shape, naming the field; fields we do not implement are refused, not ignored", async () => {
      const refused = async (body: Record<string, unknown>) => {
        try {
          await openai.completions.create({ model: SERVED[0], prompt: 'the', ...body } as OpenAI.CompletionCreateParamsNonStreaming);
        } catch (e) {
          return e as InstanceType<typeof OpenAI.APIError>;
        }
        throw new Error(`${JSON.stringify(body)} was accepted`);
      };
      for (const field of ['best_of', 'logit_bias', 'suffix', 'presence_penalty', 'frequency_penalty']) {
        const e = await refused({ [field]: field === 'logit_bias' ? { 1: 2 } : field === 'suffix' ? 'x' : 2 });
        expect(e.status, field).toBe(400);
        expect(e.type).toBe('invalid_request_error');
        expect(e.param).toBe(field);
        expect(e.message).toContain(field);
      }
      // Their neutral values, which clients send by default, ask for nothing and pass.
      const neutral = await openai.completions.create({
        model: SERVED[0],
        prompt: 'the',
        max_tokens: 5,
        seed: 1,
        best_of: 1,
        logit_bias: {},
        presence_penalty: 0,
        frequency_penalty: 0,
        suffix: null,
        user: 'someone',
      });
      expect(neutral.choices[0].text).toBe((await generate({ prefix: 'the', numChars: 5, temperature: 1, seed: 1 })).generated);
      expect((await refused({ prompt: [[1, 2, 3]] } as Record<string, unknown>)).param).toBe('prompt');
      expect((await refused({ temprature: 1 })).message).toMatch(/temprature is not a field of \/v1\/completions/);
      const tooLong = await refused({ max_tokens: 5000 });
      expect(tooLong.status).toBe(400);
      expect(tooLong.param).toBe('max_tokens');
      expect(tooLong.message).toMatch(/max_tokens must be a whole number in \[1, 2000\]/);
      const unknown = await refused({ model: 'gpt-4' });
      expect(unknown.status).toBe(404);
      expect(unknown.code).toBe('model_not_found');
      expect(unknown.message).toContain(SERVED[1]);
      const chat = await openai.chat.completions
        .create({ model: SERVED[0], messages: [{ role: 'user', content: 'hi' }] })
        .catch((e: InstanceType<typeof OpenAI.APIError>) => e);
      expect((chat as InstanceType<typeof OpenAI.APIError>).status).toBe(404);
      expect((chat as InstanceType<typeof OpenAI.APIError>).message).toContain('/v1/completions');
    });
  });

  describe('the AI SDK, through deeprnn/ai-sdk: the prompt sent raw', () => {
    const deeprnn = createDeeprnn({
      baseURL: 'https://edge.test',
      fetch: async (input, init) => fetch(new URL(input instanceof Request ? input.url : String(input)).pathname, init),
    });

    it("generateText and streamText give /v1/generate's text for the same seed and settings, with usage and finish reasons in the SDK's shapes", async () => {
      const ours = await generate({ prefix: 'the time traveller', numChars: 60, temperature: 0.9, topK: 12, seed: 5, returnContinuation: true });
      const settings = { prompt: 'the time traveller', maxOutputTokens: 60, temperature: 0.9, topK: 12, seed: 5, maxRetries: 0 } as const;
      const r = await generateText({ model: deeprnn(), ...settings });
      expect(r.text).toBe(ours.generated);
      expect(r.finishReason).toBe('length');
      expect(r.usage).toMatchObject({ inputTokens: 18, outputTokens: 60, totalTokens: 78 });
      expect(r.providerMetadata?.deeprnn).toMatchObject({ seed: 5, finishReason: 'length', continuation: ours.continuation });
      const s = streamText({ model: deeprnn(), ...settings });
      let streamed = '';
      for await (const delta of s.textStream) streamed += delta;
      expect(streamed).toBe(ours.generated);
      expect(await s.finishReason).toBe('length');
      expect((await s.usage).outputTokens).toBe(60);
    });

    it('names the model, takes stop sequences, logprobs and an author, and surfaces 400s as errors', async () => {
      const q = { model: SERVED[1], prefix: 'It was', numChars: 300, temperature: 0.7, seed: 2, stop: ['.'], logprobs: 2, author: 'doyle' };
      const ours = await generate(q);
      const r = await generateText({
        model: deeprnn(SERVED[1]),
        prompt: 'It was',
        maxOutputTokens: 300,
        temperature: 0.7,
        seed: 2,
        stopSequences: ['.'],
        providerOptions: { deeprnn: { logprobs: 2, author: 'doyle' } },
        maxRetries: 0,
      });
      expect(r.text).toBe(ours.generated);
      expect(r.finishReason).toBe(ours.finishReason === 'stop' ? 'stop' : 'length');
      expect((r.providerMetadata?.deeprnn as { logprobs: unknown[] } | undefined)?.logprobs).toEqual(ours.logprobs);
      await expect(generateText({ model: deeprnn(), prompt: 'the', stopSequences: ['.'], maxRetries: 0 })).rejects.toThrow(
        /stop\[0\] "\." can never be generated/,
      );
    });
  });

  describe('constraints: exact per character, on both APIs and through the clients', () => {
    const sentence = '[a-z]+( [a-z]+){2,8}';
    const whole = (p: string) => new RegExp(`^(?:${p})$`);

    it('/v1/generate: every text matches, in JSON and streamed; a choice is an option; a bad constraint is a 400 naming it', async () => {
      for (const s of [{}, { temperature: 1.2, seed: 3 }, { beamWidth: 3 }]) {
        const body = (await generate({ prefix: 'the time machine', numChars: 60, constraint: { regex: sentence }, ...s })) as GenerateResult;
        expect(body.generated).toMatch(whole(sentence));
      }
      const r = await fetch('/v1/generate', post({ prefix: 'the', numChars: 40, temperature: 0.8, seed: 4, constraint: { regex: sentence }, stream: true }));
      const events = parseSse(await r.text());
      const streamed = events
        .filter((e) => e.event === 'token')
        .map((e) => e.data.text)
        .join('');
      expect(streamed).toMatch(whole(sentence));
      expect(events[events.length - 1].data).toMatchObject({ generated: streamed });
      const choice = await generate({
        prefix: 'the time traveller',
        numChars: 8,
        constraint: { choice: [' said', ' was', ' smiled'] },
        beamWidth: 3,
        numReturn: 3,
      });
      expect(choice.beams!.map((b) => b.generated).sort()).toEqual([' said', ' smiled', ' was']);
      for (const [constraint, why] of [
        [{ regex: '(a' }, /^constraint regex has a group without its closing \)/],
        [{ regex: '[A-Z]' }, /^constraint has no match in the characters timemachine-deep-lstm can write/],
        [{ jsonSchema: { type: 'string', format: 'email' } }, /^constraint jsonSchema keyword "format" is not supported/],
        [{ regex: 'a', choice: ['b'] }, /^constraint must be an object with exactly one of/],
      ] as const) {
        const res = await fetch('/v1/generate', post({ prefix: 'the', numChars: 10, constraint }));
        expect(res.status).toBe(400);
        const err = ((await res.json()) as { error: { message: string; param: string | null } }).error;
        expect(err.message).toMatch(why);
      }
    });

    it("/v1/completions: OpenAI's response_format, vLLM's structured_outputs and guided_*, llama.cpp's grammar and json_schema", async () => {
      const complete = async (extra: object, model = SERVED[0]) => {
        const res = await fetch('/v1/completions', post({ model, prompt: 'the time', max_tokens: 60, temperature: 1, seed: 2, ...extra }));
        const body = (await res.json()) as { choices: { text: string }[]; error?: { message: string } };
        expect(res.status, JSON.stringify(body)).toBe(200);
        return body.choices[0].text;
      };
      expect(await complete({ guided_regex: sentence })).toMatch(whole(sentence));
      expect(await complete({ structured_outputs: { regex: sentence } })).toMatch(whole(sentence));
      expect([' a', ' b']).toContain(await complete({ guided_choice: [' a', ' b'] }));
      expect([' a', ' b']).toContain(await complete({ structured_outputs: { choice: [' a', ' b'] } }));
      expect(await complete({ grammar: 'root ::= (" " [a-z]{2,5}){3}' })).toMatch(/^( [a-z]{2,5}){3}$/);
      expect(await complete({ guided_grammar: 'root ::= " time" | " machine"' })).toMatch(/^ (time|machine)$/);
      // JSON on the model that writes [ ] and ": arrays of strings.
      const schema = { type: 'array', items: { type: 'string', maxLength: 8 }, minItems: 2, maxItems: 3 };
      for (const extra of [
        { response_format: { type: 'json_schema', json_schema: { name: 'names', schema, strict: true } } },
        { json_schema: schema },
        { guided_json: JSON.stringify(schema) },
        { structured_outputs: { json: schema } },
      ]) {
        const value = JSON.parse(await complete(extra, SERVED[1]));
        expect(Array.isArray(value) && value.length >= 2 && value.length <= 3 && value.every((v: unknown) => typeof v === 'string' && v.length <= 8)).toBe(
          true,
        );
      }
      const res = await fetch('/v1/completions', post({ prompt: 'the', guided_regex: 'a', grammar: 'root ::= "a"' }));
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/^grammar cannot go with guided_regex/);
      const bad = await fetch('/v1/completions', post({ model: SERVED[1], prompt: 'x', response_format: { type: 'json_object' } }));
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { error: { message: string; param: string } }).error).toMatchObject({ param: 'response_format' });
    });

    it('the openai client and the AI SDK pass a constraint on', async () => {
      const client = openaiClient(fetch);
      const params = { model: SERVED[0], prompt: 'the time', max_tokens: 40, temperature: 1, seed: 3, guided_regex: sentence };
      const c = await client.completions.create(params as OpenAI.CompletionCreateParamsNonStreaming);
      expect(c.choices[0].text).toMatch(whole(sentence));
      const deeprnn = createDeeprnn({
        baseURL: 'https://edge.test',
        fetch: async (input, init) => fetch(new URL(input instanceof Request ? input.url : String(input)).pathname, init),
      });
      const r = await generateText({
        model: deeprnn(),
        prompt: 'the time',
        maxOutputTokens: 40,
        temperature: 1,
        seed: 3,
        providerOptions: { deeprnn: { constraint: { regex: sentence } } },
        maxRetries: 0,
      });
      expect(r.text).toMatch(whole(sentence));
    });
  });

  describe('routes', () => {
    it('GET /healthz', async () => {
      const r = await fetch('/healthz');
      expect(r.status).toBe(200);
      const h = (await r.json()) as { status: string; engine: string; capacity: number };
      expect(h).toMatchObject({ status: 'ok' });
      expect(h.engine).toMatch(/^wasm-simd int8 \(kernel(-dot|-dotadd)?\.wasm\)$/);
      expect(h.capacity).toBeGreaterThan(0);
    });

    it("GET /v1/models: OpenAI's list of the served models, the default first, each with architecture, vocabulary, authors, sample prefix and training record, never the weights", async () => {
      const r = await fetch('/v1/models');
      expect(r.status).toBe(200);
      const list = (await r.json()) as { object: string; data: ModelInfo[] };
      expect(list.object).toBe('list');
      expect(list.data.map((m) => m.id)).toEqual(SERVED);
      const m = list.data[0];
      expect(Object.keys(m).sort()).toEqual([
        'architecture',
        'created',
        'id',
        'name',
        'object',
        'owned_by',
        'samplePrefix',
        'training',
        'vocabulary',
        'weights',
      ]);
      expect(m).toMatchObject({ id: 'timemachine-deep-lstm', object: 'model', name: 'timemachine-deep-lstm', owned_by: 'deeprnn' });
      expect(list.data[1].vocabulary.authors.sort()).toEqual(['doyle', 'shelley', 'wells']);
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
      expect(Object.keys(doc.paths).sort()).toEqual(['/v1/chat/completions', '/v1/completions', '/v1/generate', '/v1/models', '/v1/models/{id}', '/v1/score']);
      const req = doc.components.schemas.GenerateRequest;
      // prefix and numChars, unless a continuation goes on from an earlier result
      expect((req as unknown as { anyOf: { required: string[] }[] }).anyOf).toEqual([{ required: ['prefix', 'numChars'] }, { required: ['continuation'] }]);
      expect(req.additionalProperties).toBe(false);
      expect(req.properties.numChars).toMatchObject({ type: 'integer', minimum: 1, maximum: 2000 });
      expect(req.properties.beamWidth).toMatchObject({ type: 'integer', minimum: 1, maximum: 16 });
      expect(Object.keys(req.properties)).toEqual(expect.arrayContaining(['logprobs', 'stop', 'beamWidth', 'lengthPenalty', 'numReturn', 'author', 'stream']));
      for (const name of ['StartEvent', 'GeneratedToken', 'GenerateResponse', 'ScoreResponse', 'Error'])
        expect(doc.components.schemas[name], name).toBeDefined();
      expect(doc.paths['/v1/generate'].post.responses['200'].content!['text/event-stream']).toBeDefined();
      expect(doc.paths['/v1/generate'].post.responses['503']).toBeDefined();
    });

    it('GET / is the demo page, under a Content-Security-Policy; GET /docs is Swagger UI from this server', async () => {
      const r = await fetch('/');
      expect(r.headers.get('content-type')).toMatch(/text\/html/);
      const html = await r.text();
      expect(html).toMatch(/<form id="form"[^>]*>[\s\S]*Temperature[\s\S]*\/v1\/generate/);
      expect(html).toMatch(/id="temperature"[^>]*value="0\.8"/); // opens sampling, not greedy
      expect(html).toMatch(/id="prefix" value="time traveller"/); // the model's own sample prefix
      expect(html).toMatch(/<main>[\s\S]*<\/main>/);
      expect(html).toMatch(/<small id="hint-topK" class="hint">Sample only among the k most likely characters<\/small>/);
      const hints = [...html.matchAll(/<small id="hint-(\w+)" class="hint">([^<]*)<\/small>/g)].map((m) => [m[1], m[2]]);
      expect(hints.length).toBeGreaterThanOrEqual(7);
      for (const [field, text] of hints) expect(text.split(' ').length, `${field}: ${text}`).toBeGreaterThanOrEqual(3); // a line that says something
      const icon = await fetch('/favicon.ico');
      expect([icon.status, icon.headers.get('content-type')]).toEqual([200, 'image/x-icon']);
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
      const free = (await (
        await fetch('/v1/generate', post({ prefix: 'the time traveller', numChars: 200, temperature: 1, seed: 4 }))
      ).json()) as GenerateResult;
      const at = free.generated.indexOf('e ');
      const stopped = (await (
        await fetch('/v1/generate', post({ prefix: 'the time traveller', numChars: 200, temperature: 1, seed: 4, stop: ['e '] }))
      ).json()) as GenerateResult;
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

  describe('continuations', () => {
    const gen = async (body: object) =>
      (await fetch('/v1/generate', post(body))).json() as Promise<GenerateResult & { error?: { code: string; param: string | null; message: string } }>;

    it('a result numChars ended carries no token unless asked (returnContinuation): the responses stay small', async () => {
      const lean = await fetch('/v1/generate', post({ prefix: 'the time machine', numChars: 60, seed: 1 }));
      const body = (await lean.json()) as GenerateResult;
      expect(body.finishReason).toBe('length');
      expect(body.continuation).toBeUndefined();
      expect(JSON.stringify(body).length).toBeLessThan(600);
      const asked = (await gen({ prefix: 'the time machine', numChars: 60, seed: 1, returnContinuation: true })) as GenerateResult;
      expect(asked.continuation).toMatch(/^drc1\./);
      expect(asked.generated).toBe(body.generated);
      const completion = (await (await fetch('/v1/completions', post({ prompt: 'the time', max_tokens: 20, seed: 1 }))).json()) as {
        choices: { continuation?: string }[];
      };
      expect(completion.choices[0].continuation).toBeUndefined();
    });

    it("resuming gives the uninterrupted text, from JSON results and from the stream's done event", async () => {
      const request = { prefix: 'the time machine', temperature: 0.9, topK: 10, seed: 42, returnContinuation: true };
      const full = await gen({ ...request, numChars: 200 });
      const a = await gen({ ...request, numChars: 60 });
      expect(a.finishReason).toBe('length');
      const streamed = parseSse(
        await (await fetch('/v1/generate', post({ continuation: a.continuation, numChars: 70, stream: true, returnContinuation: true }))).text(),
      );
      const done = streamed.at(-1)!;
      expect(done.event).toBe('done');
      const b = done.data as unknown as GenerateResult;
      const c = await gen({ continuation: b.continuation, numChars: 70 });
      expect(a.text + b.text + c.text).toBe(full.text);
      expect(c.seed).toBe(42);
    });

    it('/v1/completions returns the continuation beside finish_reason; /v1/generate goes on from it', async () => {
      const r = (await (
        await fetch('/v1/completions', post({ prompt: 'time traveller', max_tokens: 30, temperature: 0.7, seed: 5, return_continuation: true }))
      ).json()) as {
        choices: { text: string; finish_reason: string; continuation?: string }[];
      };
      expect(r.choices[0].finish_reason).toBe('length');
      const next = await gen({ continuation: r.choices[0].continuation, numChars: 30 });
      const full = await gen({ prefix: 'time traveller', numChars: 60, temperature: 0.7, seed: 5 });
      expect(r.choices[0].text + next.text).toBe(full.generated);
    });

    it('tampered, truncated, foreign-model and garbage tokens, and contradicting settings, are 400s naming continuation', async () => {
      const a = await gen({ prefix: 'time traveller', numChars: 10, seed: 1, temperature: 0.5, returnContinuation: true });
      const t = a.continuation!;
      const foreign = (await gen({ model: SERVED[1], prefix: 'The ', numChars: 5, seed: 1, returnContinuation: true })).continuation!;
      const bad: [string, object, RegExp][] = [
        ['tampered', { continuation: t.slice(0, 30) + (t[30] === 'A' ? 'B' : 'A') + t.slice(31) }, /damaged|malformed/],
        ['truncated', { continuation: t.slice(0, -20) }, /damaged|malformed/],
        ['garbage', { continuation: 'xyz' }, /not a deeprnn continuation token/],
        ['foreign', { continuation: foreign }, /is from model "authors-deep-lstm"/],
        ['contradiction', { continuation: t, temperature: 1 }, /temperature is 1 here and 0.5 in the continuation/],
        ['not a string', { continuation: 5 }, /continuation must be a string/],
      ];
      for (const [what, body, message] of bad) {
        const r = await fetch('/v1/generate', post({ numChars: 5, ...body }));
        const e = ((await r.json()) as { error: { code: string; message: string; param: string | null } }).error;
        expect(r.status, what).toBe(400);
        expect(e.message, what).toMatch(message);
        expect(e.param, what).toBe(what === 'contradiction' ? 'temperature' : 'continuation');
      }
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
      ['a stop the model cannot write (d2l letters: no ".")', post({ prefix: 'a', numChars: 5, stop: ['.'] }), 400, 'invalid_request'],
      ['stream not a boolean', post({ prefix: 'a', numChars: 5, stream: 'yes' }), 400, 'invalid_request'],
      ['an unknown field', post({ prefix: 'a', numChars: 5, temprature: 1 }), 400, 'invalid_request'],
      ['a body over 16 KiB + the longest continuation', post({ prefix: 'a', numChars: 5, pad: 'x'.repeat(17000 + 96 * 1024) }), 413, 'payload_too_large'],
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

    it('matches stop sequences as written: one the model cannot write names it and the alphabet, on both APIs; one it can write works on both', async () => {
      const body = (await (await fetch('/v1/generate', post({ prefix: 'the time', numChars: 50, stop: ['.'] }))).json()) as {
        error: { message: string; param: string };
      };
      expect(body.error.param).toBe('stop');
      expect(body.error.message).toBe('stop[0] "." can never be generated: timemachine-deep-lstm cannot write "." (its alphabet: " " a–z)');
      const upper = await fetch('/v1/completions', post({ prompt: 'the time', max_tokens: 5, stop: ['\n', 'The'] }));
      expect(upper.status).toBe(400);
      expect(((await upper.json()) as { error: { message: string } }).error.message).toMatch(
        /^stop\[0\] "\\n" can never be generated: timemachine-deep-lstm cannot write "\\n"/,
      );
      const q = { model: SERVED[1], prefix: 'It was', numChars: 1000, seed: 3, temperature: 0.8 };
      const free = (await (await fetch('/v1/generate', post(q))).json()) as GenerateResult;
      const at = free.generated.indexOf('.');
      expect(at).toBeGreaterThan(0);
      const raw = (await (await fetch('/v1/generate', post({ ...q, stop: ['.'] }))).json()) as GenerateResult;
      expect(raw).toMatchObject({ finishReason: 'stop', generated: free.generated.slice(0, at + 1) });
    });

    it('names the field at fault, and the field a near-miss meant, before a missing one', async () => {
      const body = (await (await fetch('/v1/generate', post({ prefix: 'a', numChars: 5000 }))).json()) as { error: { message: string } };
      expect(body.error.message).toMatch(/^numChars must be a whole number in \[1, 2000\], got 5000/);
      const near = (await (await fetch('/v1/generate', post({ prefix: 'a', numChar: 5 }))).json()) as { error: { message: string } };
      expect(near.error.message).toBe('numChar is not a field; did you mean numChars?');
    });

    it('hostile bodies get short answers: a 100 KB field name is quoted to 60 characters, a value nested 50,000 deep is a 400', async () => {
      const long = await fetch('/v1/generate', post(`{"prefix":"a","numChars":5,"${'y'.repeat(100_000)}":1}`));
      expect(long.status).toBe(400);
      const m = ((await long.json()) as { error: { message: string } }).error.message;
      expect(m).toMatch(/^y{60}… \(100000 characters\) is not a field/);
      expect(m.length).toBeLessThan(600);
      const deep = await fetch('/v1/generate', post(`{"prefix":"a","numChars":5,"stop":${'['.repeat(50_000)}${']'.repeat(50_000)}}`));
      expect(deep.status).toBe(400);
      expect(((await deep.json()) as { error: { message: string } }).error.message).toMatch(/got \[\[\[…\]\]\]$/);
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
      const pre = await fetch('/v1/generate', {
        method: 'OPTIONS',
        headers: { ...origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
      });
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
