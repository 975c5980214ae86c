/**
 * The HTTP app, free of any runtime: the Workers and Node entry points (worker.ts, node.ts) load
 * the served models, start a serving engine for each their own way, and hand the registry here.
 * The app is the middleware every request passes (security headers, CORS, API keys, rate limit,
 * telemetry) and four route groups mounted as sub-apps — our API (routes/api.ts), the
 * OpenAI-compatible one (routes/openai.ts), files (routes/files.ts) and pages (routes/pages.ts) —
 * each handed the registry. It parses, validates, schedules and writes; it never runs a
 * generation step itself.
 */
import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { methodNotAllowed } from 'hono/method-not-allowed';
import { matchedRoutes } from 'hono/route';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { DeeprnnError, OptionError } from '../shared/errors.ts';
import { ClientShareError, OverloadedError } from './engine/scheduler.ts';
import { keyId, sameKey, TokenBuckets, type RateLimit } from './guards.ts';
import { corsHeaders, jsonError, responseHeader, type AppEnv, type AssetReader } from './http.ts';
import { UnknownModelError, type ModelRegistry } from './registry.ts';
import { apiRoutes } from './routes/api.ts';
import { fileRoutes } from './routes/files.ts';
import { openaiRoutes } from './routes/openai.ts';
import { pageRoutes } from './routes/pages.ts';
import type { Kernel } from '../shared/kernel/kernel.ts';
import type { Telemetry } from './telemetry.ts';

export type { AssetReader } from './http.ts';

export interface AppOptions {
  /** The served models; requests name one with `model`, else the first serves. */
  registry: ModelRegistry;
  /** Origins allowed by CORS: '*' (default) or a list. Applies to the API, /static and /models. */
  corsOrigins?: '*' | string[];
  assets?: AssetReader;
  /** When set, /v1/* needs `Authorization: Bearer <one of these>`. */
  apiKeys?: readonly string[];
  /** When set, each client (API key, else address) gets this many requests per minute. */
  rateLimit?: RateLimit | null;
  /** The client's address, as the runtime knows it (the socket's, or a trusted proxy's header): rate limits key clients by it without API keys. */
  clientAddress?: (c: Context) => string | undefined;
  /** Failed API keys an address may send (default 10/min, burst 10); past it, 429 instead of 401. */
  authFailureLimit?: RateLimit;
  /** Share cached prefix states across clients (faster for common prefixes, but a client can time whether another sent one); default: each client its own. */
  sharedPrefixCache?: boolean;
  /** Figures of the runtime for /healthz (Node: event-loop delay, memory, CPU); `reset` starts a new window. */
  health?: (reset: boolean) => Record<string, unknown>;
  /** Where the app reports requests and generations (Node: Prometheus counters). */
  telemetry?: Telemetry;
  /** GET /metrics, where the runtime keeps metrics (Node: Prometheus' text format). */
  metrics?: () => Promise<{ contentType: string; body: string }>;
  /** Sign continuations with this (CONTINUATION_SECRET), and resume only those signed with it. */
  continuationSecret?: string;
  /** CPU milliseconds per request (CPU_MS): what does not fit ends with finishReason "budget" and a continuation. */
  cpuMs?: number;
  /** The kernel build generation runs on: the CPU_MS plan prices its steps (shared/cost.ts). */
  kernelBuild?: Kernel['build'];
  /**
   * The platform's rate limiter (Workers' [[ratelimits]] binding), keyed by API key, else client
   * address: used instead of the per-process token buckets when present.
   */
  rateLimiter?: { limit(o: { key: string }): Promise<{ success: boolean }> };
}

/** ALLOWED_ORIGINS, comma-separated; empty or "*" allows any origin. */
export function parseOrigins(value: string | undefined): '*' | string[] {
  const list = (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return list.length === 0 || list.includes('*') ? '*' : list;
}

/** The route a request matched, as its pattern (bounded label values for metrics). */
function routeLabel(c: Context): string {
  const last = matchedRoutes(c).at(-1);
  return last && last.method !== 'ALL' ? last.path : 'unmatched';
}

export function createApp(o: AppOptions): OpenAPIHono<AppEnv> {
  const { registry } = o;
  const app = new OpenAPIHono<AppEnv>();
  const corsOrigin = o.corsOrigins ?? '*';

  app.use('*', async (c, next) => {
    await next();
    responseHeader(c, 'X-Content-Type-Options', 'nosniff');
    responseHeader(c, 'Referrer-Policy', 'strict-origin-when-cross-origin');
    o.telemetry?.request(routeLabel(c), c.req.method, c.res.status, c.get('model'));
  });
  app.use(
    '*',
    methodNotAllowed({
      app,
      onMethodNotAllowed: (c, allowed) => (
        c.header('Allow', allowed.join(', ')), jsonError(c, 405, 'method_not_allowed', `${c.req.method} is not allowed here; use ${allowed.join(', ')}`, null)
      ),
    }),
  );
  for (const path of ['/v1/*', '/static/*', '/models/*', '/openapi.json']) {
    app.use(
      path,
      corsHeaders({
        origin: corsOrigin,
        allowMethods: ['GET', 'POST', 'OPTIONS'],
        allowHeaders: ['Content-Type', 'Accept', 'Authorization'],
        exposeHeaders: ['Retry-After', 'ETag'],
        maxAge: 600,
      }),
    );
  }

  // Who a client is: a checked API key (hashed), else its address — never a value it may invent.
  const address = (c: Context) => `ip:${o.clientAddress?.(c) ?? 'unknown'}`;
  if (o.apiKeys?.length) {
    const keys = o.apiKeys;
    const failures = new TokenBuckets(o.authFailureLimit ?? { perMinute: 10, burst: 10 });
    app.use('/v1/*', async (c, next) => {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header('authorization') ?? '');
      const key = m ? keys.find((k) => sameKey(k, m[1])) : undefined;
      if (key === undefined) {
        const wait = failures.take(address(c));
        if (wait > 0) {
          c.header('Retry-After', String(wait));
          return jsonError(c, 429, 'rate_limited', `too many failed API keys from this address; retry in ${wait} s`, null);
        }
        c.header('WWW-Authenticate', 'Bearer realm="deeprnn"');
        return jsonError(
          c,
          401,
          m ? 'invalid_api_key' : 'unauthorized',
          m ? 'the API key is not valid' : 'this server needs an API key: send Authorization: Bearer <key>',
          null,
        );
      }
      c.set('client', `key:${keyId(key)}`);
      await next();
    });
  }
  const clientKey = (c: Context) => c.get('client') ?? address(c);
  if (o.rateLimiter) {
    // The platform's limiter counts across isolates and places: one client's requests, wherever they land.
    const limiter = o.rateLimiter;
    app.use('/v1/*', async (c, next) => {
      if (!(await limiter.limit({ key: clientKey(c) })).success) {
        c.header('Retry-After', '60');
        return jsonError(c, 429, 'rate_limited', 'too many requests from this client; retry later', null);
      }
      await next();
    });
  } else if (o.rateLimit) {
    // Per process (Node) or per isolate (Workers, where it limits little: see docs/workers.md).
    const buckets = new TokenBuckets(o.rateLimit);
    app.use('/v1/*', async (c, next) => {
      const wait = buckets.take(clientKey(c));
      if (wait > 0) {
        c.header('Retry-After', String(wait));
        return jsonError(c, 429, 'rate_limited', `too many requests from this client; retry in ${wait} s`, null);
      }
      await next();
    });
  }

  const ctx = {
    registry,
    telemetry: o.telemetry,
    assets: o.assets,
    generation: { secret: o.continuationSecret || undefined, cpuMs: o.cpuMs, kernelBuild: o.kernelBuild },
    client: clientKey,
    sharedPrefixCache: o.sharedPrefixCache ?? false,
  };
  app.route('/', apiRoutes(ctx));
  app.route('/', openaiRoutes(ctx));
  app.route('/', fileRoutes(ctx));
  app.route('/', pageRoutes(ctx));

  app.get('/healthz', (c) => {
    // Resetting the loop's figures is for the operator: with API keys, it takes one.
    const asked = c.req.query('reset') !== undefined;
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header('authorization') ?? '')?.[1];
    if (asked && o.apiKeys?.length && !(bearer && o.apiKeys.some((k) => sameKey(k, bearer)))) {
      c.header('WWW-Authenticate', 'Bearer realm="deeprnn"');
      return jsonError(c, 401, 'unauthorized', '/healthz?reset needs an API key on this server: send Authorization: Bearer <key>', null);
    }
    const reset = asked;
    const models = registry.models.map((m) => ({ name: m.name, engine: m.engine.engine, ...m.engine.stats() }));
    const total = (k: 'running' | 'queued' | 'activeRows' | 'capacity') => models.reduce((n, m) => n + m[k], 0);
    return c.json({
      status: 'ok',
      model: registry.default.name,
      engine: registry.default.engine.engine,
      running: total('running'),
      queued: total('queued'),
      activeRows: total('activeRows'),
      capacity: total('capacity'),
      models,
      ...o.health?.(reset),
    });
  });
  if (o.metrics) {
    const metrics = o.metrics;
    app.get('/metrics', async (c) => {
      const m = await metrics();
      return c.body(m.body, 200, { 'Content-Type': m.contentType });
    });
  }
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'deeprnn generation API',
      version: '3.0.0',
      description:
        'Character-level text generation and scoring with a deep recurrent network (d2l.ai, "Deep Recurrent Neural Networks"), for every model the server serves; OpenAI-compatible completions beside it. Interactive documentation at /docs.',
    },
  });

  app.notFound((c) => jsonError(c, 404, 'not_found', `no route for ${c.req.method} ${new URL(c.req.url).pathname}`, null));
  app.onError((e, c) => {
    if (e instanceof OptionError) return jsonError(c, 400, 'invalid_request', e.message);
    if (e instanceof UnknownModelError) return jsonError(c, 404, 'model_not_found', e.message, 'model');
    if (e instanceof ClientShareError) {
      c.header('Retry-After', String(Math.max(1, e.retryAfterSeconds)));
      return jsonError(c, 429, 'rate_limited', e.message, null);
    }
    if (e instanceof OverloadedError) {
      c.header('Retry-After', String(Math.max(1, e.retryAfterSeconds)));
      return jsonError(c, 503, 'overloaded', e.message, null);
    }
    if (e instanceof HTTPException) {
      const status = e.status as ContentfulStatusCode;
      return jsonError(
        c,
        status,
        status === 400 ? 'invalid_json' : 'http_error',
        status === 400 ? `the body is not valid JSON: ${e.message}` : e.message,
        null,
      );
    }
    if (e instanceof DeeprnnError && e.code === 'cancelled') return jsonError(c, 503, 'cancelled', e.message, null); // nobody is there to read it
    console.error(e);
    return jsonError(c, 500, 'internal', 'internal error', null);
  });
  return app;
}
