/**
 * What every route group of the app shares: the context it is handed (the registry, telemetry,
 * the runtime's static files), the one place a request's `model` is resolved, the error shape,
 * JSON bodies, and cached file responses. Runtime-free.
 */
import { OpenAPIHono } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import type { Context, MiddlewareHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { checkField, errorBody, errorParam, errorType, GENERATE_FIELDS, SERVICE_LIMITS } from '../shared/contract.ts';
import type { GeneratedToken, GenerateResult, StartEvent } from '../shared/contract.ts';
import { sealOutcome, startEvent } from '../shared/decode/job.ts';
import type { GenerationOptions, ValidatedGeneration } from '../shared/decode/validate.ts';
import type { ModelRegistry, ServedModel } from './registry.ts';
import { trackGeneration, type Telemetry } from './telemetry.ts';

/** Per-request values the app keeps: the model a request used (for telemetry), and who sent it once its API key is checked. */
export type AppEnv = { Variables: { model?: string; client?: string } };
export type AppContext = Context<AppEnv>;

/**
 * Static files (/static/*: the browser module, its wasm, onnxruntime-web, Swagger UI): the
 * runtime's way to read one — Node from disk, Workers from the assets binding. Null: no such file.
 */
export type AssetReader = (path: string, request: Request) => Promise<Response | null>;

/** What each route group is handed. */
export interface RouteContext {
  registry: ModelRegistry;
  telemetry?: Telemetry;
  assets?: AssetReader;
  /** The runtime's continuation secret and CPU budget, handed to every generation's checks. */
  generation: GenerationOptions;
  /** Who sent a request (a checked key, else the address): fair shares and the prefix cache's scope. */
  client: (c: AppContext) => string;
  /** Whether clients share cached prefix states (else each has its own). */
  sharedPrefixCache: boolean;
}

/** A route group: a sub-app of its own, mounted by createApp with `app.route('/', group)`. */
export const routeGroup = () => new OpenAPIHono<AppEnv>();

/**
 * The model a request names — the body's `model` field, a path segment or a query parameter —
 * checked as the contract's `model` field and looked up in the registry (unknown: 404 listing the
 * served ones). Every route that uses a model comes through here.
 */
export function resolveModel(c: AppContext, registry: ModelRegistry, name: unknown, field = 'model'): ServedModel {
  if (name !== undefined) checkField(field, GENERATE_FIELDS.model, name, SERVICE_LIMITS);
  const m = registry.resolve(name as string | undefined);
  c.set('model', m.name);
  return m;
}

/** A generation as a route runs it: characters as they come, then the result the client gets. */
export interface RouteGeneration {
  readonly start: StartEvent;
  tokens(): AsyncIterable<GeneratedToken[]>;
  readonly result: Promise<GenerateResult>;
  /** Tell telemetry the first character went out. */
  firstChar(): void;
}

/**
 * Run a validated generation on a served model: admitted by the model's engine (an
 * `OverloadedError` when it is full), its outcome sealed into the client's result — the state it
 * leaves becomes a continuation token signed with the server's secret, here and only here — and
 * counted by telemetry. Every generating route comes through here.
 */
export function runGeneration(
  ctx: RouteContext,
  c: AppContext,
  served: ServedModel,
  g: ValidatedGeneration,
  opts: { stream: boolean; signal?: AbortSignal },
): RouteGeneration {
  const client = ctx.client(c);
  if (!ctx.sharedPrefixCache) g.cacheScope = client;
  const gen = served.engine.generate(g, startEvent(served.model, g), { ...opts, client });
  const result = gen.outcome.then((o) => sealOutcome(o, ctx.generation.secret, g.returnContinuation));
  result.catch(() => {}); // callers that only stream need not await it
  const track = trackGeneration(ctx.telemetry, served.name, result);
  return { start: gen.start, tokens: () => gen.tokens(), result, firstChar: () => track.firstChar() };
}

/** The `model` field of a JSON body, if it is an object with one. */
export const bodyModel = (body: unknown): unknown =>
  typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as { model?: unknown }).model : undefined;

/** An error response, in the one shape every route uses (shared/contract.ts `ErrorBody`). */
export function jsonError(c: Context, status: ContentfulStatusCode, code: string, message: string, param: string | null = errorParam(message)) {
  return c.json(errorBody(code, message, { type: errorType(status), param }), status);
}

/**
 * A header on the response a route produced, set in place. Hono's `c.header` after the route
 * copies the response first, and on Node reading its body for the copy turns @hono/node-server's
 * lightweight response into a WHATWG one written through a web stream (with Hono's cors, 20% of
 * the main thread under load, measured). Headers a fetch gave back (a static asset on Workers)
 * are immutable: those responses are copied, as before.
 */
export function responseHeader(c: Context, name: string, value: string, append = false): void {
  try {
    if (append) c.res.headers.append(name, value);
    else c.res.headers.set(name, value);
  } catch {
    c.header(name, value, append ? { append: true } : undefined);
  }
}

export interface CorsOptions {
  origin: '*' | string[];
  allowMethods: string[];
  allowHeaders: string[];
  exposeHeaders: string[];
  maxAge: number;
}

/**
 * CORS as Hono's middleware answers it — preflights are its own — with the headers of every
 * other request set on the route's response after it ran (`responseHeader`), instead of on a
 * response made before it, which made Hono copy the route's response.
 */
export function corsHeaders(o: CorsOptions): MiddlewareHandler {
  const preflight = cors(o);
  const allowed = (origin: string) => (o.origin === '*' ? '*' : o.origin.includes(origin) ? origin : null);
  const expose = o.exposeHeaders.join(',');
  return async (c, next) => {
    if (c.req.method === 'OPTIONS') return preflight(c, next);
    await next();
    const origin = allowed(c.req.header('origin') ?? '');
    if (origin) responseHeader(c, 'Access-Control-Allow-Origin', origin);
    if (expose) responseHeader(c, 'Access-Control-Expose-Headers', expose);
    if (o.origin !== '*') responseHeader(c, 'Vary', 'Origin', true);
  };
}

/** application/json and application/*+json, nothing else (application/json-seq is not JSON). */
const JSON_TYPE = /^application\/(?:[\w.-]+\+)?json\s*(?:;|$)/i;

/** POST bodies on `path`: at most `maxBytes`, and JSON. */
export function jsonBody(app: OpenAPIHono<AppEnv>, path: string, maxBytes: number = SERVICE_LIMITS.maxBodyBytes): void {
  const tooLarge = (c: Context) => jsonError(c, 413, 'payload_too_large', `the request body is over ${maxBytes} bytes`, null);
  const streamed = bodyLimit({ maxSize: maxBytes, onError: tooLarge });
  app.use(path, async (c, next) => {
    // A declared length is checked from the header alone (the HTTP parser holds the body to it).
    // Hono's bodyLimit reads `request.body` first, and on Node that one property builds the whole
    // WHATWG Request and a web stream over the socket — 14% of the main thread's time under load
    // (32 × 50 characters, measured) — where reading the body reads the socket directly. Only a
    // body without a length (chunked) is counted as it streams.
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return await next();
    const length = c.req.header('content-length');
    if (length !== undefined && c.req.header('transfer-encoding') === undefined && /^\d+$/.test(length)) {
      if (Number(length) > maxBytes) return tooLarge(c);
      return await next();
    }
    return await streamed(c, next);
  });
  app.use(path, async (c, next) => {
    if (c.req.method === 'POST' && !JSON_TYPE.test(c.req.header('content-type') ?? '')) {
      return jsonError(c, 415, 'unsupported_media_type', 'send the request as JSON (Content-Type: application/json)', null);
    }
    await next();
  });
}

export async function readJson(c: Context): Promise<unknown> {
  try {
    return await c.req.json();
  } catch (e) {
    throw new HTTPException(400, { message: (e as Error).message });
  }
}

/** Aborted when the client goes away (Node: the socket closes; Workers: enable_request_signal). */
export const clientGone = (c: Context): AbortSignal | undefined => c.req.raw.signal;

const MIME: Record<string, string> = {
  js: 'text/javascript; charset=utf-8',
  mjs: 'text/javascript; charset=utf-8',
  wasm: 'application/wasm',
  onnx: 'application/octet-stream',
  css: 'text/css; charset=utf-8',
  json: 'application/json',
  map: 'application/json',
  svg: 'image/svg+xml',
  html: 'text/html; charset=utf-8',
  txt: 'text/plain; charset=utf-8',
};
export const mimeType = (path: string): string => MIME[/\.([a-z0-9]+)$/i.exec(path)?.[1]?.toLowerCase() ?? ''] ?? 'application/octet-stream';
/** Names esbuild gives content-hashed files (`chunk-ABCD1234.js`): their content never changes. */
export const isContentHashed = (path: string): boolean => /-[A-Z0-9]{8}\.(?:js|mjs|wasm|css)$/.test(path);
export const IMMUTABLE = 'public, max-age=31536000, immutable';
export const SHORT = 'public, max-age=300';

/** A file with a validator: 304 when the client already has this version. */
export function sendCached(c: Context, body: string | Uint8Array, type: string, etag: string): Response {
  c.header('ETag', etag);
  c.header('Cache-Control', SHORT);
  if ((c.req.header('if-none-match') ?? '').split(',').some((t) => t.trim() === etag)) return c.body(null, 304);
  return c.body(body as Uint8Array<ArrayBuffer>, 200, { 'Content-Type': type });
}
