/**
 * The generation API as one Hono app, free of any runtime: the Workers and Node entry points
 * (worker.ts, node.ts) load a model their own way and hand it here.
 */
import { createRoute, OpenAPIHono, type z } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { HTTPException } from 'hono/http-exception';
import { methodNotAllowed } from 'hono/method-not-allowed';
import { streamSSE } from 'hono/streaming';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { OptionError } from '../shared/errors.ts';
import { generateChars, validateGenerateOptions, type ValidatedGeneration } from '../shared/generate.ts';
import type { ServedModel } from './generation.ts';
import { ErrorSchema, GenerateRequestSchema, GenerateResponseSchema, LIMITS, ModelsResponseSchema, type GenerateRequest } from './schemas.ts';
import { demoPage } from './web/page.ts';

export interface AppOptions {
  /** Origins allowed by CORS: '*' (default) or a list. */
  corsOrigins?: '*' | string[];
  /**
   * Serves /static/* (the browser module, its worker, the kernel) where the runtime does not
   * already: Node passes one; on Workers these are assets answered before the app runs.
   */
  staticFiles?: MiddlewareHandler;
}

type GenerateResponse = z.infer<typeof GenerateResponseSchema>;

/** ALLOWED_ORIGINS, comma-separated; empty or "*" allows any origin. */
export function parseOrigins(value: string | undefined): '*' | string[] {
  const list = (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  return list.length === 0 || list.includes('*') ? '*' : list;
}

function errorBody(code: string, message: string) {
  return { error: { code, message } };
}

const jsonError = (c: Context, status: ContentfulStatusCode, code: string, message: string) => c.json(errorBody(code, message), status);

const errorResponses = {
  400: { description: 'Invalid request', content: { 'application/json': { schema: ErrorSchema } } },
  413: { description: 'Body too large', content: { 'application/json': { schema: ErrorSchema } } },
  415: { description: 'Body is not JSON', content: { 'application/json': { schema: ErrorSchema } } },
} as const;

const generateRoute = createRoute({
  method: 'post',
  path: '/v1/generate',
  summary: "Generate text (d2l's predict_ch8)",
  request: { body: { required: true, content: { 'application/json': { schema: GenerateRequestSchema } } } },
  responses: {
    200: {
      description:
        'The generated text; with stream: true or Accept: text/event-stream, Server-Sent Events: `start` {model, prefix, seed, numChars}, one `token` {text} per character, then `done` with the GenerateResponse.',
      content: { 'application/json': { schema: GenerateResponseSchema }, 'text/event-stream': { schema: { type: 'string' } } },
    },
    ...errorResponses,
  },
});

const modelsRoute = createRoute({
  method: 'get',
  path: '/v1/models',
  summary: 'The model served: architecture, vocabulary, training record (never the weights)',
  responses: { 200: { description: 'Models', content: { 'application/json': { schema: ModelsResponseSchema } } } },
});

/** Run a validated generation on a pooled stepper, one character at a time. */
function* run(served: ServedModel, g: ValidatedGeneration): Generator<string> {
  const stepper = served.acquire();
  try {
    yield* generateChars(served.model, g, stepper);
  } finally {
    served.release(stepper);
  }
}

export function createApp(served: ServedModel, options: AppOptions = {}): OpenAPIHono {
  const { model } = served;
  const app = new OpenAPIHono({
    defaultHook: (result, c) => {
      if (!result.success) {
        const issue = result.error.issues[0];
        const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
        return jsonError(c, 400, 'invalid_request', `${where}${issue?.message ?? 'invalid request'}`);
      }
    },
  });

  app.use('*', methodNotAllowed({ app, onMethodNotAllowed: (c, allowed) => (c.header('Allow', allowed.join(', ')), jsonError(c, 405, 'method_not_allowed', `${c.req.method} is not allowed here; use ${allowed.join(', ')}`)) }));
  app.use('/v1/*', cors({ origin: options.corsOrigins ?? '*', allowMethods: ['GET', 'POST', 'OPTIONS'], allowHeaders: ['Content-Type', 'Accept'] }));
  app.use(
    '/v1/generate',
    bodyLimit({ maxSize: LIMITS.maxBodyBytes, onError: (c) => jsonError(c, 413, 'payload_too_large', `the request body is over ${LIMITS.maxBodyBytes} bytes`) }),
  );
  app.use('/v1/generate', async (c, next) => {
    if (c.req.method === 'POST' && !/^application\/(.+\+)?json\b/i.test(c.req.header('content-type') ?? '')) {
      return jsonError(c, 415, 'unsupported_media_type', 'send the request as JSON (Content-Type: application/json)');
    }
    await next();
  });

  app.openapi(generateRoute, async (c) => {
    const body: GenerateRequest = c.req.valid('json');
    const g = validateGenerateOptions(model, body, { maxNumChars: LIMITS.maxNumChars, maxPrefixChars: LIMITS.maxPrefixChars });
    const wantsStream = body.stream ?? (c.req.header('accept') ?? '').includes('text/event-stream');
    const start = Date.now();
    const totals = (generated: string): GenerateResponse => ({
      model: model.name,
      prefix: g.prefix,
      text: g.prefix + generated,
      generated,
      numChars: [...generated].length,
      seed: g.seed,
      finishReason: 'length',
      timings: { totalMs: Date.now() - start },
    });
    if (!wantsStream) {
      let generated = '';
      for (const ch of run(served, g)) generated += ch;
      return c.json(totals(generated), 200);
    }
    return streamSSE(c, async (stream) => {
      await stream.writeSSE({ event: 'start', data: JSON.stringify({ model: model.name, prefix: g.prefix, seed: g.seed, numChars: g.numChars }) });
      let generated = '';
      let n = 0;
      for (const ch of run(served, g)) {
        if (stream.aborted) return; // the client went away: stop generating
        generated += ch;
        await stream.writeSSE({ event: 'token', data: JSON.stringify({ text: ch }) });
        // Hand the event loop a turn now and then, so events leave while the rest is computed.
        if (++n % 8 === 0) await stream.sleep(0);
      }
      await stream.writeSSE({ event: 'done', data: JSON.stringify(totals(generated)) });
    }, async (e, stream) => {
      await stream.writeSSE({ event: 'error', data: JSON.stringify(errorBody('internal', e.message)) });
    }) as unknown as Response & { _data: GenerateResponse; _status: 200; _format: 'json' };
  });

  app.openapi(modelsRoute, (c) =>
    c.json({ models: [{ name: model.name, architecture: model.arch, vocabulary: { tokens: [...model.vocab.tokens], unkIndex: model.vocab.unkIndex, preprocessing: model.preprocessing }, training: model.training }] }, 200),
  );

  if (options.staticFiles) app.get('/static/*', options.staticFiles);
  app.get('/healthz', (c) => c.json({ status: 'ok', model: model.name, engine: served.engine }));
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: { title: 'deeprnn generation API', version: '1.0.0', description: 'Character-level text generation from a deep recurrent network (d2l.ai, "Deep Recurrent Neural Networks").' },
  });
  app.get('/', (c) => c.html(demoPage(model, { hasPlot: served.files.plotSvg !== undefined })));

  // The served artifact itself, for pages that generate in the browser (the same weights, so the
  // same text as the server for the same seed), plus its training plot and an ONNX rendition.
  app.get('/models/:name/:file', (c) => {
    const { name, file } = c.req.param();
    if (name !== model.name) return jsonError(c, 404, 'not_found', `no model named ${name}`);
    c.header('Cache-Control', 'public, max-age=300');
    const f = served.files;
    switch (file) {
      case 'model.json':
        return c.body(f.modelJson, 200, { 'Content-Type': 'application/json' });
      case 'weights.bin':
        return c.body(f.weights as Uint8Array<ArrayBuffer>, 200, { 'Content-Type': 'application/octet-stream' });
      case 'model.onnx':
        return c.body(served.onnxBytes as Uint8Array<ArrayBuffer>, 200, { 'Content-Type': 'application/octet-stream' });
      case 'perplexity.svg':
        if (f.plotSvg !== undefined) return c.body(f.plotSvg, 200, { 'Content-Type': 'image/svg+xml' });
    }
    return jsonError(c, 404, 'not_found', `model ${name} has no file ${file}`);
  });

  app.notFound((c) => jsonError(c, 404, 'not_found', `no route for ${c.req.method} ${new URL(c.req.url).pathname}`));
  app.onError((e, c) => {
    if (e instanceof OptionError) return jsonError(c, 400, 'invalid_request', e.message);
    if (e instanceof HTTPException) {
      const status = e.status as ContentfulStatusCode;
      return jsonError(c, status, status === 400 ? 'invalid_json' : 'http_error', status === 400 ? `the body is not valid JSON: ${e.message}` : e.message);
    }
    console.error(e);
    return jsonError(c, 500, 'internal', 'internal error');
  });
  return app;
}
