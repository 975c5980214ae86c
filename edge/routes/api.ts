/**
 * Our API: POST /v1/generate, POST /v1/score, GET /v1/models — the contract (shared/contract.ts)
 * over HTTP, for every served model. Routes are documented in /openapi.json from the contract's
 * schemas and validated by the contract's validator.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { errorBody, GENERATE_BODY_BYTES, SERVICE_LIMITS, type GenerateResult } from '../../shared/contract.ts';
import { DeeprnnError } from '../../shared/errors.ts';
import { validateScore } from '../../shared/evaluate.ts';
import { samplePrefix, validateGeneration } from '../../shared/decode/validate.ts';
import { bodyModel, clientGone, jsonBody, readJson, resolveModel, routeGroup, runGeneration, type AppContext, type RouteContext } from '../http.ts';
import type { ServedModel } from '../registry.ts';
import { generateRequestJsonSchema, requestExamples, scoreRequestJsonSchema, servedFacts } from '../openapi.ts';
import {
  ErrorSchema,
  GeneratedTokenSchema,
  GenerateResponseSchema,
  ModelInfoSchema,
  ModelsResponseSchema,
  ScoreResponseSchema,
  StartEventSchema,
  type ModelsResponse,
} from '../schemas.ts';
import { sseFrame, streamEvents } from '../sse.ts';

const ERROR_STATUSES = {
  400: 'Invalid request (the message names the field)',
  401: 'API key missing or wrong (only when the server sets API_KEYS)',
  404: 'No served model has that name (the message lists those served)',
  413: `Body too large: over ${GENERATE_BODY_BYTES} bytes for /v1/generate, ${SERVICE_LIMITS.maxBodyBytes} for /v1/completions, ${SERVICE_LIMITS.maxScoreBodyBytes} for /v1/score`,
  415: 'Body is not JSON',
  429: 'Rate limit reached (only when the server sets RATE_LIMIT or binds a rate limiter); see Retry-After',
  503: 'The server is at capacity (see Retry-After), or a Worker cannot load its models',
} as const;
type ErrorStatus = keyof typeof ERROR_STATUSES;
/** The error responses an operation can answer, every one in the Error shape. */
export const errorResponses = (...statuses: ErrorStatus[]) =>
  Object.fromEntries(statuses.map((s) => [s, { description: ERROR_STATUSES[s], content: { 'application/json': { schema: ErrorSchema } } }]));
/** What a POST with a JSON body can answer besides 200; a GET, what every /v1 route can. */
export const POST_ERRORS = [400, 401, 404, 413, 415, 429, 503] as const satisfies ErrorStatus[];
export const GET_ERRORS = [401, 429, 503] as const satisfies ErrorStatus[];

const SSE_DESCRIPTION =
  'With stream: true or Accept: text/event-stream, Server-Sent Events: `start` (StartEvent) once; `token` (GeneratedToken) per character, with its logprob and alternatives when logprobs > 0 ' +
  '(beam search sends its tokens at the end, once the best beam is known); `done` (GenerateResponse); or `error` (Error) if the generation failed. ' +
  'A client that disconnects stops the generation within one step.';

/** A model as GET /v1/models lists it: OpenAI's list entry (id, object, created, owned_by), then ours. */
export function modelInfo(m: ServedModel): ModelsResponse['data'][number] {
  const { model } = m;
  const date = typeof model.training?.date === 'string' ? Date.parse(model.training.date) : NaN;
  return {
    id: m.name,
    object: 'model',
    created: Number.isFinite(date) ? Math.floor(date / 1000) : 0,
    owned_by: 'deeprnn',
    name: m.name,
    architecture: model.arch,
    vocabulary: {
      tokens: [...model.vocab.tokens],
      unkIndex: model.vocab.unkIndex,
      preprocessing: model.preprocessing,
      authors: [...model.vocab.authors.keys()],
    },
    weights: { dtype: m.weightsDtype, sha256: m.weightsSha256 },
    samplePrefix: samplePrefix(model),
    training: model.training,
  };
}

/** POST /v1/generate's document: the request as the contract's JSON Schema, the result as JSON or as events. */
const generateDoc = (example: Record<string, unknown>) =>
  createRoute({
    method: 'post',
    path: '/v1/generate',
    summary: "Generate text (d2l's predict_ch8, with sampling, beam search, stop sequences and log-probabilities)",
    request: {
      body: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/GenerateRequest' }, example } } },
    },
    responses: {
      200: {
        description: `The generated text. ${SSE_DESCRIPTION}`,
        content: {
          'application/json': { schema: GenerateResponseSchema },
          'text/event-stream': {
            schema: {
              type: 'object',
              description: 'One Server-Sent Event: its `event` name and its JSON `data`.',
              properties: { event: { type: 'string', enum: ['start', 'token', 'done', 'error'] }, data: { type: 'object' } },
              required: ['event', 'data'],
              allOf: (
                [
                  ['start', 'StartEvent'],
                  ['token', 'GeneratedToken'],
                  ['done', 'GenerateResponse'],
                  ['error', 'Error'],
                ] as const
              ).map(([event, schema]) => ({
                if: { properties: { event: { const: event } } },
                then: { properties: { data: { $ref: `#/components/schemas/${schema}` } } },
              })),
            },
          },
        },
      },
      ...errorResponses(...POST_ERRORS),
    },
  });

/** POST /v1/generate: validate, run on the model's engine, answer as JSON or as events. */
async function generate(ctx: RouteContext, c: AppContext): Promise<Response> {
  const body = await readJson(c);
  const served = resolveModel(c, ctx.registry, bodyModel(body));
  const g = validateGeneration(served.model, body, SERVICE_LIMITS, 'api', ctx.generation);
  const wantsStream = (body as { stream?: boolean }).stream ?? (c.req.header('accept') ?? '').includes('text/event-stream');
  if (!wantsStream) return c.json(await runGeneration(ctx, c, served, g, { stream: false, signal: clientGone(c) }).result, 200);
  const abort = new AbortController();
  clientGone(c)?.addEventListener('abort', () => abort.abort(), { once: true });
  const gen = runGeneration(ctx, c, served, g, { stream: true, signal: abort.signal }); // may refuse (503) before any byte is sent
  return streamEvents(c, abort, async (out) => {
    await out.send(gen.start, 'start');
    for await (const tokens of gen.tokens()) {
      if (out.aborted) return;
      gen.firstChar();
      await out.sendFrames(tokens.map((t) => sseFrame(t, 'token')).join(''));
    }
    let result: GenerateResult;
    try {
      result = await gen.result;
    } catch (e) {
      if (!out.aborted) await out.send(errorBody(e instanceof DeeprnnError ? e.code : 'internal', (e as Error).message), 'error');
      return;
    }
    await out.send(result, 'done');
  });
}

/** POST /v1/score's document. */
const scoreDoc = (example: Record<string, unknown>) =>
  createRoute({
    method: 'post',
    path: '/v1/score',
    summary: "Score a text: each character's log-probability under the model, and perplexity",
    request: {
      body: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/ScoreRequest' }, example } } },
    },
    responses: {
      200: { description: 'Per-character natural-log probabilities and totals', content: { 'application/json': { schema: ScoreResponseSchema } } },
      ...errorResponses(...POST_ERRORS),
    },
  });

/** POST /v1/score: each character's log-probability, on the model's engine. */
async function score(ctx: RouteContext, c: AppContext): Promise<Response> {
  const body = await readJson(c);
  const { model, engine } = resolveModel(c, ctx.registry, bodyModel(body));
  const s = validateScore(model, body, SERVICE_LIMITS, 'api', ctx.generation);
  return c.json(await engine.score(s, clientGone(c), { client: ctx.client(c) }), 200);
}

/** GET /v1/models' document. */
const modelsDoc = () =>
  createRoute({
    method: 'get',
    path: '/v1/models',
    summary:
      "The models served, the default first: OpenAI's list shape, with each model's architecture, vocabulary, authors and training record (never the weights)",
    responses: { 200: { description: 'Models', content: { 'application/json': { schema: ModelsResponseSchema } } }, ...errorResponses(...GET_ERRORS) },
  });

/** GET /v1/models/{id}'s document. */
const modelDoc = (example: string) =>
  createRoute({
    method: 'get',
    path: '/v1/models/{id}',
    summary: 'One served model (what OpenAI clients call models.retrieve)',
    request: { params: z.object({ id: z.string().openapi({ example }) }) },
    responses: { 200: { description: 'The model', content: { 'application/json': { schema: ModelInfoSchema } } }, ...errorResponses(...GET_ERRORS, 404) },
  });

export function apiRoutes(ctx: RouteContext) {
  const { registry } = ctx;
  const app = routeGroup();

  // Registered for /openapi.json only: requests are validated by the contract's validator.
  app.openAPIRegistry.register('StartEvent', StartEventSchema);
  app.openAPIRegistry.register('GeneratedToken', GeneratedTokenSchema);
  const facts = servedFacts(registry);
  const examples = requestExamples(facts);
  app.openAPIRegistry.registerComponent('schemas', 'GenerateRequest', generateRequestJsonSchema(facts));
  app.openAPIRegistry.registerComponent('schemas', 'ScoreRequest', scoreRequestJsonSchema(facts));

  app.openAPIRegistry.registerPath(generateDoc(examples.generate));
  jsonBody(app, '/v1/generate', GENERATE_BODY_BYTES); // room for a continuation token beside the other fields
  app.post('/v1/generate', (c) => generate(ctx, c));

  app.openAPIRegistry.registerPath(scoreDoc(examples.score));
  jsonBody(app, '/v1/score', SERVICE_LIMITS.maxScoreBodyBytes);
  app.post('/v1/score', (c) => score(ctx, c));

  app.openAPIRegistry.registerPath(modelsDoc());
  app.get('/v1/models', (c) => c.json(ModelsResponseSchema.parse({ object: 'list', data: registry.models.map(modelInfo) } satisfies ModelsResponse), 200));

  // One model, as OpenAI's `models.retrieve(id)` asks for it.
  app.openAPIRegistry.registerPath(modelDoc(facts[0].name));
  app.get('/v1/models/:id', (c) => c.json(modelInfo(resolveModel(c, registry, c.req.param('id'), 'id')), 200));

  return app;
}
