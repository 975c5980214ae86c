/**
 * The generation API as one Hono app, free of any runtime: the Workers and Node entry points
 * (worker.ts, node.ts) load a model, start a serving engine their own way and hand both here.
 * The app parses, validates (with the contract's validator), schedules and writes; it never
 * runs a generation step itself.
 */
import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { HTTPException } from 'hono/http-exception';
import { methodNotAllowed } from 'hono/method-not-allowed';
import { streamSSE } from 'hono/streaming';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { sha256Hex } from '../shared/artifact.ts';
import { errorBody, SERVICE_LIMITS, type GenerateResult } from '../shared/contract.ts';
import { DeeprnnError, OptionError } from '../shared/errors.ts';
import { validateScore } from '../shared/evaluate.ts';
import { samplePrefix, startEvent, validateGeneration } from '../shared/generate.ts';
import type { Model } from '../shared/model.ts';
import { exportOnnx } from '../shared/onnx.ts';
import { OverloadedError, type GenerationService } from './engine/scheduler.ts';
import { sameKey, TokenBuckets, type RateLimit } from './guards.ts';
import {
  ErrorSchema, GeneratedTokenSchema, GenerateRequestSchema, GenerateResponseSchema, ModelsResponseSchema, ScoreRequestSchema, ScoreResponseSchema, StartEventSchema,
} from './schemas.ts';
import { demoPage, docsPage } from './web/page.ts';

/** The served artifact: the model and its files as loaded (handed to pages that generate in place). */
export interface ServedArtifact {
  model: Model;
  files: { modelJson: string; weights: Uint8Array; plotSvg?: string };
}

/**
 * Static files (/static/*: the browser module, its wasm, onnxruntime-web, Swagger UI): the
 * runtime's way to read one — Node from disk, Workers from the assets binding. Null: no such file.
 */
export type AssetReader = (path: string, request: Request) => Promise<Response | null>;

export interface AppOptions {
  artifact: ServedArtifact;
  engine: GenerationService;
  /** Origins allowed by CORS: '*' (default) or a list. Applies to the API, /static and /models. */
  corsOrigins?: '*' | string[];
  assets?: AssetReader;
  /** When set, /v1/* needs `Authorization: Bearer <one of these>`. */
  apiKeys?: readonly string[];
  /** When set, each client (API key, else address) gets this many requests per minute. */
  rateLimit?: RateLimit | null;
  /** The client's address, as the runtime knows it (rate limiting without API keys). */
  clientAddress?: (c: Context) => string | undefined;
  /** Figures of the runtime for /healthz (Node: event-loop delay, memory, CPU); `reset` starts a new window. */
  health?: (reset: boolean) => Record<string, unknown>;
}

/** ALLOWED_ORIGINS, comma-separated; empty or "*" allows any origin. */
export function parseOrigins(value: string | undefined): '*' | string[] {
  const list = (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  return list.length === 0 || list.includes('*') ? '*' : list;
}

const jsonError = (c: Context, status: ContentfulStatusCode, code: string, message: string) => c.json(errorBody(code, message), status);

/** application/json and application/*+json, nothing else (application/json-seq is not JSON). */
const JSON_TYPE = /^application\/(?:[\w.-]+\+)?json\s*(?:;|$)/i;

const MIME: Record<string, string> = {
  js: 'text/javascript; charset=utf-8', mjs: 'text/javascript; charset=utf-8', wasm: 'application/wasm', onnx: 'application/octet-stream',
  css: 'text/css; charset=utf-8', json: 'application/json', map: 'application/json', svg: 'image/svg+xml', html: 'text/html; charset=utf-8', txt: 'text/plain; charset=utf-8',
};
export const mimeType = (path: string): string => MIME[/\.([a-z0-9]+)$/i.exec(path)?.[1]?.toLowerCase() ?? ''] ?? 'application/octet-stream';
/** Names esbuild gives content-hashed files (`chunk-ABCD1234.js`): their content never changes. */
export const isContentHashed = (path: string): boolean => /-[A-Z0-9]{8}\.(?:js|mjs|wasm|css)$/.test(path);
export const IMMUTABLE = 'public, max-age=31536000, immutable';
const SHORT = 'public, max-age=300';

const errorResponses = {
  400: { description: 'Invalid request (the message names the field)', content: { 'application/json': { schema: ErrorSchema } } },
  401: { description: 'API key missing or wrong (only when the server sets API_KEYS)', content: { 'application/json': { schema: ErrorSchema } } },
  413: { description: 'Body too large', content: { 'application/json': { schema: ErrorSchema } } },
  415: { description: 'Body is not JSON', content: { 'application/json': { schema: ErrorSchema } } },
  429: { description: 'Rate limit reached (only when the server sets RATE_LIMIT); see Retry-After', content: { 'application/json': { schema: ErrorSchema } } },
  503: { description: 'The server is at capacity; see Retry-After', content: { 'application/json': { schema: ErrorSchema } } },
} as const;

const SSE_DESCRIPTION =
  'With stream: true or Accept: text/event-stream, Server-Sent Events: `start` (StartEvent) once; `token` (GeneratedToken) per character, with its logprob and alternatives when logprobs > 0 ' +
  '(beam search sends its tokens at the end, once the best beam is known); `done` (GenerateResponse); or `error` (Error) if the generation failed. ' +
  'A client that disconnects stops the generation within one step.';

export function createApp(o: AppOptions): OpenAPIHono {
  const { model, files } = o.artifact;
  const { engine } = o;
  const app = new OpenAPIHono();
  const corsOrigin = o.corsOrigins ?? '*';

  // Registered for /openapi.json only: requests are validated by the contract's validator.
  app.openAPIRegistry.register('StartEvent', StartEventSchema);
  app.openAPIRegistry.register('GeneratedToken', GeneratedTokenSchema);
  app.openAPIRegistry.registerPath(
    createRoute({
      method: 'post', path: '/v1/generate', summary: "Generate text (d2l's predict_ch8, with sampling, beam search, stop sequences and log-probabilities)",
      request: { body: { required: true, content: { 'application/json': { schema: GenerateRequestSchema } } } },
      responses: {
        200: {
          description: `The generated text. ${SSE_DESCRIPTION}`,
          content: {
            'application/json': { schema: GenerateResponseSchema },
            'text/event-stream': {
              schema: {
                type: 'object',
                description: 'One Server-Sent Event: its `event` name and its JSON `data`.',
                properties: { event: { type: 'string', enum: ['start', 'token', 'done', 'error'] }, data: { oneOf: [{ $ref: '#/components/schemas/StartEvent' }, { $ref: '#/components/schemas/GeneratedToken' }, { $ref: '#/components/schemas/GenerateResponse' }, { $ref: '#/components/schemas/Error' }] } },
              },
            },
          },
        },
        ...errorResponses,
      },
    }),
  );
  app.openAPIRegistry.registerPath(
    createRoute({
      method: 'post', path: '/v1/score', summary: "Score a text: each character's log-probability under the model, and perplexity",
      request: { body: { required: true, content: { 'application/json': { schema: ScoreRequestSchema } } } },
      responses: { 200: { description: 'Per-character natural-log probabilities and totals', content: { 'application/json': { schema: ScoreResponseSchema } } }, ...errorResponses },
    }),
  );
  app.openAPIRegistry.registerPath(
    createRoute({
      method: 'get', path: '/v1/models', summary: 'The model served: architecture, vocabulary, authors, training record (never the weights)',
      responses: { 200: { description: 'Models', content: { 'application/json': { schema: ModelsResponseSchema } } } },
    }),
  );

  app.use('*', async (c, next) => {
    await next();
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Referrer-Policy', 'strict-origin-when-cross-origin');
  });
  app.use('*', methodNotAllowed({ app, onMethodNotAllowed: (c, allowed) => (c.header('Allow', allowed.join(', ')), jsonError(c, 405, 'method_not_allowed', `${c.req.method} is not allowed here; use ${allowed.join(', ')}`)) }));
  for (const path of ['/v1/*', '/static/*', '/models/*', '/openapi.json']) {
    app.use(path, cors({ origin: corsOrigin, allowMethods: ['GET', 'POST', 'OPTIONS'], allowHeaders: ['Content-Type', 'Accept', 'Authorization'], exposeHeaders: ['Retry-After', 'ETag'], maxAge: 600 }));
  }

  if (o.apiKeys?.length) {
    const keys = o.apiKeys;
    app.use('/v1/*', async (c, next) => {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header('authorization') ?? '');
      if (!m || !keys.some((k) => sameKey(k, m[1]))) {
        c.header('WWW-Authenticate', 'Bearer realm="deeprnn"');
        return jsonError(c, 401, 'unauthorized', m ? 'the API key is not valid' : 'this server needs an API key: send Authorization: Bearer <key>');
      }
      await next();
    });
  }
  if (o.rateLimit) {
    const buckets = new TokenBuckets(o.rateLimit);
    app.use('/v1/*', async (c, next) => {
      const key = /^Bearer\s+(\S+)/i.exec(c.req.header('authorization') ?? '')?.[1];
      const client = key ? `key:${key}` : `ip:${o.clientAddress?.(c) ?? 'unknown'}`;
      const wait = buckets.take(client);
      if (wait > 0) {
        c.header('Retry-After', String(wait));
        return jsonError(c, 429, 'rate_limited', `too many requests from this client; retry in ${wait} s`);
      }
      await next();
    });
  }

  const jsonBody = (path: string, maxBytes: number) => {
    app.use(path, bodyLimit({ maxSize: maxBytes, onError: (c) => jsonError(c, 413, 'payload_too_large', `the request body is over ${maxBytes} bytes`) }));
    app.use(path, async (c, next) => {
      if (c.req.method === 'POST' && !JSON_TYPE.test(c.req.header('content-type') ?? '')) {
        return jsonError(c, 415, 'unsupported_media_type', 'send the request as JSON (Content-Type: application/json)');
      }
      await next();
    });
  };
  jsonBody('/v1/generate', SERVICE_LIMITS.maxBodyBytes);
  jsonBody('/v1/score', SERVICE_LIMITS.maxScoreBodyBytes);

  const readJson = async (c: Context): Promise<unknown> => {
    try {
      return await c.req.json();
    } catch (e) {
      throw new HTTPException(400, { message: (e as Error).message });
    }
  };
  /** Aborted when the client goes away (Node: the socket closes; Workers: enable_request_signal). */
  const clientGone = (c: Context): AbortSignal | undefined => c.req.raw.signal;

  app.post('/v1/generate', async (c) => {
    const body = await readJson(c);
    const g = validateGeneration(model, body, SERVICE_LIMITS, 'api');
    const wantsStream = (body as { stream?: boolean }).stream ?? (c.req.header('accept') ?? '').includes('text/event-stream');
    const start = startEvent(model, g);
    if (!wantsStream) {
      const gen = engine.generate(g, start, { stream: false, signal: clientGone(c) });
      return c.json(await gen.result, 200);
    }
    const abort = new AbortController();
    clientGone(c)?.addEventListener('abort', () => abort.abort(), { once: true });
    const gen = engine.generate(g, start, { stream: true, signal: abort.signal }); // may refuse (503) before any byte is sent
    return streamSSE(c, async (stream) => {
      stream.onAbort(() => abort.abort()); // the client went away: the job leaves the batch
      const sse = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
      await stream.write(sse('start', gen.start));
      for await (const tokens of gen.tokens()) {
        if (stream.aborted) return;
        await stream.write(tokens.map((t) => sse('token', t)).join(''));
      }
      let result: GenerateResult;
      try {
        result = await gen.result;
      } catch (e) {
        if (!stream.aborted) await stream.write(sse('error', errorBody(e instanceof DeeprnnError ? e.code : 'internal', (e as Error).message)));
        return;
      }
      await stream.write(sse('done', result));
    });
  });

  app.post('/v1/score', async (c) => {
    const s = validateScore(model, await readJson(c), SERVICE_LIMITS, 'api');
    return c.json(await engine.score(s, clientGone(c)), 200);
  });

  app.get('/v1/models', (c) => {
    const weights = (JSON.parse(files.modelJson) as { weights: { dtype: string; sha256: string } }).weights;
    return c.json(
      ModelsResponseSchema.parse({
        models: [{
          name: model.name,
          architecture: model.arch,
          vocabulary: { tokens: [...model.vocab.tokens], unkIndex: model.vocab.unkIndex, preprocessing: model.preprocessing, authors: [...model.vocab.authors.keys()] },
          weights: { dtype: weights.dtype, sha256: weights.sha256 },
          samplePrefix: samplePrefix(model),
          training: model.training,
        }],
      }),
      200,
    );
  });

  app.get('/healthz', (c) => c.json({ status: 'ok', model: model.name, engine: engine.engine, ...engine.stats(), ...o.health?.(c.req.query('reset') !== undefined) }));
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: { title: 'deeprnn generation API', version: '2.0.0', description: 'Character-level text generation and scoring with a deep recurrent network (d2l.ai, "Deep Recurrent Neural Networks"). Interactive documentation at /docs.' },
  });

  /** A page of ours: its scripts carry this response's nonce, nothing else may run. */
  const page = (c: Context, html: (nonce: string) => string) => {
    const nonce = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
    c.header(
      'Content-Security-Policy',
      `default-src 'self'; script-src 'self' 'nonce-${nonce}' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'self'`,
    );
    return c.html(html(nonce));
  };
  app.get('/', (c) => page(c, (nonce) => demoPage(model, { hasPlot: files.plotSvg !== undefined, nonce })));
  app.get('/docs', (c) => page(c, (nonce) => docsPage(nonce)));

  app.get('/static/*', async (c) => {
    const path = c.req.path.slice('/static/'.length);
    const r = o.assets && path && !path.endsWith('/') ? await o.assets(path, c.req.raw) : null;
    if (!r) return jsonError(c, 404, 'not_found', `no static file ${path}`);
    const res = new Response(r.body, r); // headers of an asset response may be immutable
    res.headers.set('Content-Type', mimeType(path));
    res.headers.set('Cache-Control', isContentHashed(path) ? IMMUTABLE : SHORT);
    return res;
  });

  // The served artifact itself, for pages that generate in the browser (the same weights, so the
  // same text as the server for the same seed), plus its training plot and an ONNX rendition.
  // Validators (ETag) let a second visit revalidate instead of downloading the weights again.
  const weightsSha = (JSON.parse(files.modelJson) as { weights: { sha256: string } }).weights.sha256;
  let onnx: { bytes: Uint8Array; etag: string } | null = null;
  let jsonEtag: string | null = null;
  const send = (c: Context, body: string | Uint8Array, type: string, etag: string) => {
    c.header('ETag', etag);
    c.header('Cache-Control', SHORT);
    if ((c.req.header('if-none-match') ?? '').split(',').some((t) => t.trim() === etag)) return c.body(null, 304);
    return c.body(body as Uint8Array<ArrayBuffer>, 200, { 'Content-Type': type });
  };
  app.get('/models/:name/:file', async (c) => {
    const { name, file } = c.req.param();
    if (name !== model.name) return jsonError(c, 404, 'not_found', `no model named ${name} (this server serves ${model.name})`);
    switch (file) {
      case 'model.json':
        jsonEtag ??= `"${(await sha256Hex(new TextEncoder().encode(files.modelJson))).slice(0, 32)}"`;
        return send(c, files.modelJson, 'application/json', jsonEtag);
      case 'weights.bin':
        return send(c, files.weights, 'application/octet-stream', `"${weightsSha}"`);
      case 'model.onnx':
        if (!onnx) {
          const bytes = exportOnnx(model);
          onnx = { bytes, etag: `"${(await sha256Hex(bytes)).slice(0, 32)}"` };
        }
        return send(c, onnx.bytes, 'application/octet-stream', onnx.etag);
      case 'perplexity.svg':
        if (files.plotSvg !== undefined) return send(c, files.plotSvg, 'image/svg+xml', `"plot-${weightsSha.slice(0, 16)}"`);
    }
    return jsonError(c, 404, 'not_found', `model ${name} has no file ${file}`);
  });

  app.notFound((c) => jsonError(c, 404, 'not_found', `no route for ${c.req.method} ${new URL(c.req.url).pathname}`));
  app.onError((e, c) => {
    if (e instanceof OptionError) return jsonError(c, 400, 'invalid_request', e.message);
    if (e instanceof OverloadedError) {
      c.header('Retry-After', String(Math.max(1, e.retryAfterSeconds)));
      return jsonError(c, 503, 'overloaded', e.message);
    }
    if (e instanceof HTTPException) {
      const status = e.status as ContentfulStatusCode;
      return jsonError(c, status, status === 400 ? 'invalid_json' : 'http_error', status === 400 ? `the body is not valid JSON: ${e.message}` : e.message);
    }
    if (e instanceof DeeprnnError && e.code === 'cancelled') return jsonError(c, 503, 'cancelled', e.message); // nobody is there to read it
    console.error(e);
    return jsonError(c, 500, 'internal', 'internal error');
  });
  return app;
}
