/**
 * Cloudflare Workers entry. The served model and the kernel are bundled as modules (workerd
 * cannot compile WebAssembly from bytes at run time), decoded and checked once per isolate.
 * A model that fails its checks is never served: every request gets 503.
 */
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { ExecutionContext } from 'hono';
import modelJson from '../models/timemachine-deep-lstm-int8/model.json';
import weights from '../models/timemachine-deep-lstm-int8/weights.bin';
import plotSvg from '../models/timemachine-deep-lstm-int8/perplexity.svg';
import kernelModule from '../shared/kernel/build/kernel.wasm';
import { decodeArtifact } from '../shared/artifact.ts';
import { instantiateKernel } from '../shared/kernel/kernel.ts';
import { createApp, parseOrigins } from './app.ts';
import { ServedModel } from './generation.ts';

export interface Env {
  ALLOWED_ORIGINS?: string;
}

let app: Promise<OpenAPIHono> | undefined;

async function build(env: Env): Promise<OpenAPIHono> {
  const model = await decodeArtifact({ modelJson, weights });
  const files = { modelJson: JSON.stringify(modelJson), weights: new Uint8Array(weights), plotSvg };
  // Static files (/static/*: the browser module, its worker, the kernel) are Workers assets
  // (wrangler.toml [assets]), answered before this code runs.
  return createApp(new ServedModel(model, await instantiateKernel(kernelModule), files), { corsOrigins: parseOrigins(env.ALLOWED_ORIGINS) });
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
