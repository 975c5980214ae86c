/**
 * Cloudflare Workers entry. The served models are read from the static assets (edge/stage.ts
 * copies MODEL_DIR's folders there before `wrangler dev` / `deploy`), never from the code bundle,
 * so any model — and a bigger one than the bundle allows — is served without a source edit. They
 * are fetched and checked once per isolate; a model that fails its checks is never served: every
 * request gets 503 with the reason. The kernel is bundled as a module (workerd cannot compile
 * WebAssembly from bytes at run time). There are no threads here: each request runs its
 * generation in its own context, on a pooled stepper; all models share the isolate's rows.
 * /static/* and /models/* reach this code (wrangler.toml: run_worker_first) so that CORS and
 * caching are the app's, one policy with /v1/*.
 */
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { ExecutionContext } from 'hono';
import kernelModule from '../shared/kernel/build/kernel.wasm';
import kernelDotModule from '../shared/kernel/build/kernel-dot.wasm';
import kernelDotAddModule from '../shared/kernel/build/kernel-dotadd.wasm';
import { errorBody, errorType } from '../shared/contract.ts';
import { generationKernel } from '../shared/kernel/kernel.ts';
import { KernelModel } from '../shared/kernel/stepper.ts';
import { createApp, parseOrigins } from './app.ts';
import { workersEngine, WORKERS_SCHEDULE } from './engine/engines.ts';
import { IsolateRows } from './engine/placement.ts';
import { parseApiKeys, parseCpuMs, parseRateLimit } from './guards.ts';
import type { AppEnv } from './http.ts';
import { ModelRegistry, servedModel } from './registry.ts';
import { fetchStagedModels } from './worker-models.ts';

export interface Env {
  ALLOWED_ORIGINS?: string;
  /** A secret (`wrangler secret put API_KEYS`): comma-separated keys. */
  API_KEYS?: string;
  /** The per-isolate token bucket, where no LIMITER is bound. */
  RATE_LIMIT?: string;
  /** Workers' rate-limiting binding ([[ratelimits]] in wrangler.toml): counted across isolates. */
  LIMITER?: { limit(o: { key: string }): Promise<{ success: boolean }> };
  /** CPU milliseconds a request may spend (default 10: the free plan). */
  CPU_MS?: string;
  /** A secret (`wrangler secret put CONTINUATION_SECRET`): continuations are signed with it. */
  CONTINUATION_SECRET?: string;
  ASSETS?: { fetch(request: Request): Promise<Response> };
}

/** Workers' free plan: 10 ms of CPU per request. A paid plan sets CPU_MS (and limits.cpu_ms) higher. */
const DEFAULT_CPU_MS = 10;

let app: Promise<OpenAPIHono<AppEnv>> | undefined;

async function build(env: Env): Promise<OpenAPIHono<AppEnv>> {
  const assets = env.ASSETS;
  if (!assets) throw new Error('the Worker has no ASSETS binding (wrangler.toml [assets])');
  const artifacts = await fetchStagedModels((path) => assets.fetch(new Request(new URL(path, 'https://assets.invalid'))));
  // The fastest build this workerd runs (shared/kernel/kernel.ts generationKernel): the same texts.
  const kernel = await generationKernel({ portable: kernelModule, dot: kernelDotModule, dotAdd: kernelDotAddModule });
  const rows = new IsolateRows(WORKERS_SCHEDULE.capacity);
  const registry = new ModelRegistry(
    artifacts.map((a) =>
      servedModel(
        a,
        workersEngine(new KernelModel(kernel, a.model), { rows, deadlineMs: WORKERS_SCHEDULE.deadlineMs, ticksPerYield: WORKERS_SCHEDULE.ticksPerYield }),
      ),
    ),
  );
  return createApp({
    registry,
    corsOrigins: parseOrigins(env.ALLOWED_ORIGINS),
    apiKeys: parseApiKeys(env.API_KEYS),
    rateLimit: parseRateLimit(env.RATE_LIMIT),
    rateLimiter: env.LIMITER,
    continuationSecret: env.CONTINUATION_SECRET,
    cpuMs: parseCpuMs(env.CPU_MS, DEFAULT_CPU_MS),
    kernelBuild: kernel.build,
    clientAddress: (c) => c.req.header('cf-connecting-ip'),
    assets: async (path, request) => {
      const r = await assets.fetch(new Request(new URL(`/static/${path}`, request.url), { headers: request.headers }));
      return r.status === 404 ? null : r;
    },
  });
}

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    let ready: OpenAPIHono<AppEnv>;
    try {
      ready = await (app ??= build(env));
    } catch (e) {
      app = undefined; // a later request tries again (a staging fixed, a binding added)
      return Response.json(errorBody('model_unavailable', `the Worker cannot serve: ${(e as Error).message}`, { type: errorType(503), param: null }), {
        status: 503,
      });
    }
    return ready.fetch(request, env, ctx);
  },
};
