/**
 * Cloudflare Workers entry. The served model and the kernel are bundled as modules (workerd
 * cannot compile WebAssembly from bytes at run time), decoded and checked once per isolate. A
 * model that fails its checks is never served: every request gets 503. There are no threads
 * here: each request runs its generation in its own context, on a pooled stepper.
 * /static/* reaches this code (wrangler.toml: run_worker_first) so that CORS and caching are the
 * app's, one policy with /v1/*; the files themselves come from the assets binding.
 */
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { ExecutionContext } from 'hono';
import modelJson from '../models/timemachine-deep-lstm-int8/model.json';
import weights from '../models/timemachine-deep-lstm-int8/weights.bin';
import plotSvg from '../models/timemachine-deep-lstm-int8/perplexity.svg';
import kernelModule from '../shared/kernel/build/kernel.wasm';
import { decodeArtifact } from '../shared/artifact.ts';
import { instantiateKernel } from '../shared/kernel/kernel.ts';
import { KernelModel } from '../shared/kernel/stepper.ts';
import { createApp, parseOrigins } from './app.ts';
import { requestScopedEngine } from './engine/lane.ts';
import { parseApiKeys, parseRateLimit } from './guards.ts';

export interface Env {
  ALLOWED_ORIGINS?: string;
  /** A secret (`wrangler secret put API_KEYS`): comma-separated keys. */
  API_KEYS?: string;
  RATE_LIMIT?: string;
  ASSETS?: { fetch(request: Request): Promise<Response> };
}

/** Rows of generation an isolate runs at once (each request in its own context), and the deadline. */
const WORKERS_SCHEDULE = { capacity: 16, deadlineMs: 25_000 };

let app: Promise<OpenAPIHono> | undefined;

async function build(env: Env): Promise<OpenAPIHono> {
  const model = await decodeArtifact({ modelJson, weights });
  const files = { modelJson: JSON.stringify(modelJson), weights: new Uint8Array(weights), plotSvg };
  return createApp({
    artifact: { model, files },
    engine: requestScopedEngine(new KernelModel(await instantiateKernel(kernelModule), model), WORKERS_SCHEDULE),
    corsOrigins: parseOrigins(env.ALLOWED_ORIGINS),
    apiKeys: parseApiKeys(env.API_KEYS),
    rateLimit: parseRateLimit(env.RATE_LIMIT),
    clientAddress: (c) => c.req.header('cf-connecting-ip'),
    assets: env.ASSETS
      ? async (path, request) => {
          const r = await env.ASSETS!.fetch(new Request(new URL(`/static/${path}`, request.url), { headers: request.headers }));
          return r.status === 404 ? null : r;
        }
      : undefined,
  });
}

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    let ready: OpenAPIHono;
    try {
      ready = await (app ??= build(env));
    } catch (e) {
      return Response.json({ error: { code: 'model_unavailable', message: `the bundled model failed its checks: ${(e as Error).message}` } }, { status: 503 });
    }
    return ready.fetch(request, env, ctx);
  },
};
