/**
 * Property-based: generated request bodies, valid and invalid, sent to the app; the document
 * (/openapi.json, checked by Ajv) and the server must agree on every one. A body the document
 * accepts is answered 200 in the documented shape; a body it refuses is answered 400 (or 404 for
 * a model it does not serve) with an Error naming the problem — never a 5xx.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import type { createApp } from '../../edge/app.ts';
import { GENERATE_FIELDS, MAX_BEAM_WIDTH, SCORE_FIELDS } from '../../shared/contract.ts';
import { post, SERVED } from './api-cases.ts';
import { Conformance, type OpenApiDocument } from './openapi-conformance.ts';
import { twoModelApp } from './samples.ts';

let app: ReturnType<typeof createApp>;
let doc: Conformance;
beforeAll(async () => {
  app = await twoModelApp();
  doc = new Conformance((await (await app.request('/openapi.json')).json()) as OpenApiDocument);
}, 60_000);

/** Text the models read: letters, spaces and punctuation, some unicode (read as <unk> where unknown). */
const text = (max: number) => fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz  ETAOINS.,;!?\'"-\né'), minLength: 1, maxLength: max });

/** A generation request within the contract's bounds and its rules between fields. */
const validGenerate = fc
  .record(
    {
      model: fc.constantFrom(...SERVED),
      prefix: text(60),
      numChars: fc.integer({ min: 1, max: 40 }),
      temperature: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 3, noNaN: true })),
      topK: fc.integer({ min: 1, max: 200 }),
      topP: fc.double({ min: 0.05, max: 1, noNaN: true }),
      seed: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      stop: fc.array(fc.constantFrom(' ', 'e', 'th', 'the ', 'q'), { minLength: 0, maxLength: 4 }),
      logprobs: fc.integer({ min: 0, max: 10 }),
      beamWidth: fc.integer({ min: 1, max: 4 }),
      lengthPenalty: fc.double({ min: -2, max: 2, noNaN: true }),
      numReturn: fc.integer({ min: 1, max: 4 }),
      author: fc.constantFrom('doyle', 'shelley', 'wells'),
    },
    { requiredKeys: ['prefix', 'numChars'] },
  )
  .map((r) => {
    const q: Record<string, unknown> = { ...r };
    // The rules the document states between fields, applied as a client reading it would.
    if ((r.beamWidth ?? 1) > 1) {
      q.temperature = 0;
      delete q.topK;
      delete q.topP;
      if (r.numReturn !== undefined) q.numReturn = Math.min(r.numReturn, r.beamWidth!);
    } else {
      delete q.lengthPenalty;
      delete q.numReturn;
    }
    if ((q.model ?? SERVED[0]) === SERVED[0]) delete q.author; // d2l letters: no authors
    return q;
  });

/** One way to break a valid request: what the document says no to. */
const breakIt = fc.oneof(
  fc.constant((q: Record<string, unknown>) => ({ ...q, numChars: 0 })),
  fc.constant((q: Record<string, unknown>) => ({ ...q, numChars: 2001 })),
  fc.constant((q: Record<string, unknown>) => ({ ...q, numChars: 1.5 })),
  fc.constant((q: Record<string, unknown>) => ({ ...q, prefix: 'x'.repeat(1001) })),
  fc.constant((q: Record<string, unknown>) => ({ ...q, prefix: '' })),
  fc.constant((q: Record<string, unknown>) => ({ ...q, temperature: -0.5 })),
  fc.constant((q: Record<string, unknown>) => ({ ...q, topP: 0 })),
  fc.constant((q: Record<string, unknown>) => ({ ...q, seed: 2 ** 32 })),
  fc.constant((q: Record<string, unknown>) => ({ ...q, logprobs: 11 })),
  fc.constant((q: Record<string, unknown>) => ({ ...q, stop: ['a', 'b', 'c', 'd', 'e'] })),
  fc.constant((q: Record<string, unknown>) => ({ ...q, stop: ['x'.repeat(33)] })),
  fc.constant((q: Record<string, unknown>) => ({ ...q, beamWidth: MAX_BEAM_WIDTH + 1 })),
  fc.constant((q: Record<string, unknown>) => ({ ...q, beamWidth: 3, temperature: 0.7 })),
  fc.constant((q: Record<string, unknown>) => ({ ...q, beamWidth: 2, numReturn: 3, temperature: 0 })),
  fc.constant((q: Record<string, unknown>) => ({ ...q, beamWidth: 1, lengthPenalty: 2 })),
  fc.constant((q: Record<string, unknown>) => ({ ...q, model: SERVED[0], stop: ['.'] })),
  fc.constant((q: Record<string, unknown>) => ({ ...q, model: SERVED[0], author: 'doyle' })),
  fc.constant((q: Record<string, unknown>) => ({ ...q, model: SERVED[1], author: 'dickens' })),
  fc.constant((q: Record<string, unknown>) => ({ ...q, stream: 'yes' })),
  fc.constant((q: Record<string, unknown>) => ({ ...q, temprature: 1 })),
  fc.constant((q: Record<string, unknown>) => {
    const { prefix: _, ...rest } = q;
    return rest;
  }),
);

const fields = (o: Record<string, unknown>) => Object.keys(o).every((k) => k in GENERATE_FIELDS || k === 'temprature');

describe('the document and the server agree on generated requests', () => {
  it('POST /v1/generate: what the document accepts is answered 200 in its shape', async () => {
    const ok = doc.requestValidator('/v1/generate', 'post');
    await fc.assert(
      fc.asyncProperty(validGenerate, async (q) => {
        expect(ok(q), `${JSON.stringify(q)}: ${JSON.stringify(ok.errors)}`).toBe(true);
        const res = await app.request('/v1/generate', post(q));
        expect(res.status, `${JSON.stringify(q)} → ${await res.clone().text()}`).toBe(200);
        await doc.check('/v1/generate', 'POST', res);
      }),
      { numRuns: 60, seed: 7 },
    );
    expect(doc.problems).toEqual([]);
  });

  it('POST /v1/generate: what the document refuses is answered 400 with an Error, never a 5xx', async () => {
    const ok = doc.requestValidator('/v1/generate', 'post');
    await fc.assert(
      fc.asyncProperty(validGenerate, breakIt, async (q, broken) => {
        const bad = broken(q);
        expect(fields(bad)).toBe(true);
        expect(ok(bad), JSON.stringify(bad)).toBe(false);
        const res = await app.request('/v1/generate', post(bad));
        expect(res.status, `${JSON.stringify(bad)} → ${await res.clone().text()}`).toBe(400);
        await doc.check('/v1/generate', 'POST', res);
      }),
      { numRuns: 120, seed: 11 },
    );
    expect(doc.problems).toEqual([]);
  });

  it('POST /v1/score and /v1/completions: valid bodies 200, broken ones 400, both as documented', async () => {
    const score = doc.requestValidator('/v1/score', 'post');
    const completions = doc.requestValidator('/v1/completions', 'post');
    const validScore = fc.record({ model: fc.constantFrom(...SERVED), text: text(200) }, { requiredKeys: ['text'] });
    const validCompletion = fc.record(
      {
        model: fc.constantFrom(...SERVED),
        prompt: fc.oneof(text(40), fc.array(text(20), { minLength: 1, maxLength: 3 })),
        max_tokens: fc.option(fc.integer({ min: 1, max: 30 })),
        temperature: fc.option(fc.double({ min: 0, max: 2, noNaN: true })),
        top_p: fc.option(fc.double({ min: 0.1, max: 1, noNaN: true })),
        n: fc.option(fc.integer({ min: 1, max: 2 })),
        stop: fc.option(fc.oneof(fc.constantFrom(' ', 'e'), fc.array(fc.constantFrom(' ', 'th'), { maxLength: 4 }))),
        logprobs: fc.option(fc.integer({ min: 0, max: 5 })),
        seed: fc.option(fc.integer({ min: 0, max: 1000 })),
        user: fc.option(fc.string({ maxLength: 10 })),
        presence_penalty: fc.option(fc.constant(0)),
        logit_bias: fc.option(fc.constant({})),
      },
      { requiredKeys: ['prompt'] },
    );
    await fc.assert(
      fc.asyncProperty(validScore, validCompletion, async (s, c) => {
        expect(score(s), JSON.stringify(score.errors)).toBe(true);
        expect(completions(c), `${JSON.stringify(c)}: ${JSON.stringify(completions.errors)}`).toBe(true);
        const r1 = await app.request('/v1/score', post(s));
        const r2 = await app.request('/v1/completions', post(c));
        expect([r1.status, r2.status], `${JSON.stringify(c)} → ${await r2.clone().text()}`).toEqual([200, 200]);
        await doc.check('/v1/score', 'POST', r1);
        await doc.check('/v1/completions', 'POST', r2);
        const badScore = { ...s, text: 'x'.repeat(SCORE_FIELDS.text.kind === 'string' ? 10_001 : 0) };
        const badCompletion = { ...c, n: 9 };
        expect([score(badScore), completions(badCompletion)]).toEqual([false, false]);
        const b1 = await app.request('/v1/score', post(badScore));
        const b2 = await app.request('/v1/completions', post(badCompletion));
        expect([b1.status, b2.status]).toEqual([400, 400]);
        await doc.check('/v1/score', 'POST', b1);
        await doc.check('/v1/completions', 'POST', b2);
      }),
      { numRuns: 40, seed: 3 },
    );
    expect(doc.problems).toEqual([]);
  });

  it("every operation's example, as /docs' Try it out sends it, and its fields' examples taken together, succeed on this server", async () => {
    type Props = Record<string, { example?: unknown }>;
    const schemas = (doc.doc.components.schemas ?? {}) as Record<string, { properties: Props }>;
    for (const [route, name] of [
      ['/v1/generate', 'GenerateRequest'],
      ['/v1/score', 'ScoreRequest'],
      ['/v1/completions', 'CompletionRequest'],
    ] as const) {
      const together = Object.fromEntries(Object.entries(schemas[name].properties).flatMap(([k, p]) => (p.example === undefined ? [] : [[k, p.example]])));
      expect(doc.requestValidator(route, 'post')(together), `${route} ${JSON.stringify(together)}`).toBe(true);
      const res = await app.request(route, post(together));
      expect(res.status, `${route} ${JSON.stringify(together)}: ${await res.clone().text()}`).toBe(200);
    }
    for (const [route, ops] of Object.entries(doc.doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const example = op.requestBody?.content['application/json']?.example;
        if (method !== 'post' || route === '/v1/chat/completions') continue;
        expect(example, route).toBeDefined();
        expect(doc.requestValidator(route, method)(example), route).toBe(true);
        const res = await app.request(route, post(example));
        expect(res.status, `${route}: ${await res.clone().text()}`).toBe(200);
      }
    }
  });
});
