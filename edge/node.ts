/**
 * Node entry: `npm start`. Serves the app on PORT (default 8787) with the model in MODEL_DIR
 * (default models/timemachine-deep-lstm); ALLOWED_ORIGINS (comma-separated) narrows CORS.
 */
import { serve, type ServerType } from '@hono/node-server';
import { readdir, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { MiddlewareHandler } from 'hono';
import { fileURLToPath } from 'node:url';
import { DEFAULT_MODEL_DIR, loadKernelNode, readArtifactDir } from '../shared/platform/node.ts';
import { createApp, parseOrigins } from './app.ts';
import { ServedModel, type ModelFiles } from './generation.ts';

const STATIC_DIR = fileURLToPath(new URL('../build/web/static/', import.meta.url));
const TYPES: Record<string, string> = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.map': 'application/json' };

/** /static/*: exactly the files `npm run build:web` wrote, nothing else on disk is reachable. */
let staticNames: Promise<string[]> | undefined; // listed once, on first request
const nodeStatic: MiddlewareHandler = async (c) => {
  const name = c.req.path.slice('/static/'.length);
  const files = await (staticNames ??= readdir(STATIC_DIR, { recursive: true }).catch(() => []));
  if (!files.includes(name)) return c.json({ error: { code: 'not_found', message: `no static file ${name} (run npm run build:web)` } }, 404);
  const type = TYPES[extname(name)] ?? 'application/octet-stream';
  return c.body(new Uint8Array(await readFile(join(STATIC_DIR, name))), 200, { 'Content-Type': type, 'Cache-Control': 'public, max-age=300' });
};

export interface NodeServer {
  url: string;
  server: ServerType;
  close(): Promise<void>;
}

export function parsePort(value: string | undefined): number {
  if (value === undefined || value === '') return 8787;
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535) throw new Error(`PORT must be a whole number in [0, 65535], got ${JSON.stringify(value)}`);
  return port;
}

export async function startNodeServer(opts: { modelDir: string; port: number; host?: string; corsOrigins?: '*' | string[] }): Promise<NodeServer> {
  const { model, files: artifact } = await readArtifactDir(opts.modelDir); // refuses a corrupt model before listening
  const files: ModelFiles = { ...artifact, plotSvg: await readFile(join(opts.modelDir, 'perplexity.svg'), 'utf8').catch(() => undefined) };
  const app = createApp(new ServedModel(model, await loadKernelNode(), files), { corsOrigins: opts.corsOrigins, staticFiles: nodeStatic });
  return new Promise((resolve) => {
    const server = serve({ fetch: app.fetch, port: opts.port, hostname: opts.host }, (info) => {
      const host = info.family === 'IPv6' ? `[${info.address}]` : info.address;
      resolve({
        url: `http://${host === '0.0.0.0' || host === '[::]' ? 'localhost' : host}:${info.port}`,
        server,
        close: () => new Promise<void>((done) => server.close(() => done())),
      });
    });
  });
}

async function main(): Promise<void> {
  const modelDir = process.env.MODEL_DIR ?? DEFAULT_MODEL_DIR;
  let running: NodeServer;
  try {
    running = await startNodeServer({ modelDir, port: parsePort(process.env.PORT), host: process.env.HOST || undefined, corsOrigins: parseOrigins(process.env.ALLOWED_ORIGINS) });
  } catch (e) {
    console.error(`deeprnn: cannot start the server: ${(e as Error).message}`);
    process.exit(1);
  }
  console.log(`deeprnn serving ${modelDir} at ${running.url}  (POST /v1/generate, GET /v1/models, /openapi.json, demo page at /)`);
  const stop = (signal: string) => {
    console.log(`${signal}: shutting down`);
    // Finish in-flight responses, then exit; give up after 5 s.
    setTimeout(() => process.exit(1), 5000).unref();
    void running.close().then(() => process.exit(0));
    if ('closeIdleConnections' in running.server) running.server.closeIdleConnections();
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
