/**
 * Node entry: `npm start`. Serves the app with the models in MODEL_DIR (one folder or several,
 * comma-separated); generation runs in worker threads (edge/engine/threads.ts), each holding
 * every model, so the event loop only parses, schedules and writes. Every setting is an
 * environment variable, declared once in `SETTINGS` and checked at start.
 */
import { serve, type ServerType } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import { readdir, readFile, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { join, resolve } from 'node:path';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { ArtifactError } from '../shared/errors.ts';
import { engineName, KernelModel } from '../shared/kernel/stepper.ts';
import { DEFAULT_MODEL_DIR, loadKernelNode, readArtifactDir } from '../shared/platform/node.ts';
import { createApp, parseOrigins, type AssetReader } from './app.ts';
import { localEngine } from './engine/engines.ts';
import type { GenerationService } from './engine/scheduler.ts';
import { startThreadEngine } from './engine/threads.ts';
import { parseApiKeys, parseCpuMs, parseRateLimit, type RateLimit } from './guards.ts';
import { prometheusMetrics } from './metrics.ts';
import { paced } from './pacing.ts';
import { checkUniqueNames, ModelRegistry, parseModelDirs, servedModel, type ServedArtifact } from './registry.ts';

export const STATIC_DIR = fileURLToPath(new URL('../build/web/static/', import.meta.url));

/** /static/*: exactly the files `npm run build:web` wrote (listed once); a directory is not a file. */
export async function nodeAssets(dir = STATIC_DIR): Promise<AssetReader> {
  const entries = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
  const files = new Map<string, string>(); // path → ETag
  for (const name of entries) {
    const path = name.split('\\').join('/');
    const s = await stat(join(dir, path));
    if (s.isFile()) files.set(path, `"${s.size.toString(16)}-${Math.floor(s.mtimeMs).toString(16)}"`);
  }
  return async (path, request) => {
    const etag = files.get(path);
    if (etag === undefined) return null;
    if (request.headers.get('if-none-match') === etag) return new Response(null, { status: 304, headers: { ETag: etag } });
    return new Response(await readFile(join(dir, path)), { headers: { ETag: etag } });
  };
}

function int(name: string, value: string, min: number, max: number): number {
  if (!/^\d+$/.test(value.trim()) || Number(value) < min || Number(value) > max)
    throw new Error(`${name} must be a whole number in [${min}, ${max}], got ${JSON.stringify(value)}`);
  return Number(value);
}

/** The server's settings: one row each, with its default and what it means (printed by --help). */
export const SETTINGS = {
  MODEL_DIR: {
    default: DEFAULT_MODEL_DIR,
    help: 'model artifact folder to serve, or several separated by commas (the first is the default model)',
    parse: parseModelDirs,
  },
  PORT: { default: '8787', help: 'TCP port (0: any free port)', parse: (v: string) => int('PORT', v, 0, 65535) },
  HOST: { default: '', help: 'interface to bind (default: all)', parse: (v: string) => v || undefined },
  ALLOWED_ORIGINS: { default: '*', help: 'comma-separated origins allowed by CORS on /v1, /static and /models', parse: parseOrigins },
  WORKERS: {
    default: String(availableParallelism()),
    help: 'generation threads (default: one per core; 0: generate on the main thread)',
    parse: (v: string) => int('WORKERS', v, 0, 256),
  },
  BATCH: {
    default: '128',
    help: "rows of each model's batch in each thread: generations advanced together (beam search takes one per beam)",
    parse: (v: string) => int('BATCH', v, 1, 4096),
  },
  QUEUE_SIZE: {
    default: '256',
    help: 'requests that may wait for a free row; past it, 503 with Retry-After',
    parse: (v: string) => int('QUEUE_SIZE', v, 0, 1_000_000),
  },
  DEADLINE_MS: {
    default: '30000',
    help: 'per-request time limit; generation ends with finishReason "deadline"',
    parse: (v: string) => int('DEADLINE_MS', v, 1, 3_600_000),
  },
  API_KEYS: { default: '', help: 'comma-separated API keys; when set, /v1/* needs Authorization: Bearer <key>', parse: parseApiKeys },
  RATE_LIMIT: { default: '', help: 'per-client limit, e.g. "60/min" or "60/min,burst=10" (default: none)', parse: parseRateLimit },
  CONTINUATION_SECRET: {
    default: '',
    help: 'sign continuation tokens with HMAC-SHA-256 and resume only those signed with it (default: a random secret made at start: tokens resume on this process only; set one to share tokens across restarts, instances and Workers)',
    parse: (v: string) => v || undefined,
  },
  TRUSTED_PROXY_HEADER: {
    default: '',
    help: "behind a proxy you run: the header it sets to the client's address (e.g. x-forwarded-for, whose last address is the one your proxy added); default: the socket's address",
    parse: (v: string) => v.trim().toLowerCase() || undefined,
  },
  CLIENT_ROWS: {
    default: '',
    help: "fair shares: rows of a model's batches one client (an API key, else an address) may hold at once; its other requests wait while others' pass (default: a quarter of the rows, at least one 16-beam request)",
    parse: (v: string) => (v ? int('CLIENT_ROWS', v, 1, 1_000_000) : undefined),
  },
  CLIENT_QUEUED_CHARS: {
    default: '200000',
    help: 'fair shares: work one client may have waiting, in characters × beams × choices; past it, 429',
    parse: (v: string) => int('CLIENT_QUEUED_CHARS', v, 1, 1_000_000_000),
  },
  STREAM_BACKLOG_CHARS: {
    default: '65536',
    help: 'characters a stream may have generated and not yet sent (a client that stopped reading); past it the generation ends and leaves the batch',
    parse: (v: string) => int('STREAM_BACKLOG_CHARS', v, 1, 100_000_000),
  },
  REQUEST_TIMEOUT_MS: {
    default: '30000',
    help: 'time a client has to send a whole request, headers and body (a slow body is cut off: 408)',
    parse: (v: string) => int('REQUEST_TIMEOUT_MS', v, 1000, 3_600_000),
  },
  HEADERS_TIMEOUT_MS: {
    default: '10000',
    help: "time a client has to send a request's headers",
    parse: (v: string) => int('HEADERS_TIMEOUT_MS', v, 1000, 3_600_000),
  },
  IDLE_TIMEOUT_MS: {
    default: '5000',
    help: 'an idle keep-alive connection is closed after this long',
    parse: (v: string) => int('IDLE_TIMEOUT_MS', v, 100, 3_600_000),
  },
  MAX_CONNECTIONS: {
    default: '4096',
    help: 'open connections at most; past it new ones are refused',
    parse: (v: string) => int('MAX_CONNECTIONS', v, 1, 1_000_000),
  },
  PREFIX_CACHE: {
    default: 'per-client',
    help: 'per-client: each client reuses only the prefix states it made itself; shared: every client reuses any (faster for common prefixes, but a client can time whether another sent one)',
    parse: (v: string) => {
      if (v !== 'per-client' && v !== 'shared') throw new Error(`PREFIX_CACHE must be per-client or shared, got ${JSON.stringify(v)}`);
      return v;
    },
  },
  CPU_MS: {
    default: '',
    help: 'CPU milliseconds per request, planned from each model\'s cost: the rest comes back as finishReason "budget" and a continuation (default: no budget)',
    parse: (v: string) => parseCpuMs(v, undefined),
  },
} as const;

export type ServerConfig = { [K in keyof typeof SETTINGS]: ReturnType<(typeof SETTINGS)[K]['parse']> };

/** The environment → a checked configuration; the first bad value throws one line. */
export function serverConfig(env: Record<string, string | undefined>): ServerConfig {
  const out: Record<string, unknown> = {};
  for (const [name, s] of Object.entries(SETTINGS)) {
    const v = env[name];
    out[name] = s.parse(v === undefined || v === '' ? s.default : v);
  }
  return out as ServerConfig;
}

export function parsePort(value: string | undefined): number {
  return serverConfig({ PORT: value }).PORT;
}

/** Event-loop delay sampling interval (ms). */
const LOOP_SAMPLE_MS = 2;

export interface NodeServer {
  url: string;
  server: ServerType;
  registry: ModelRegistry;
  /** The default model's engine. */
  engine: GenerationService;
  close(): Promise<void>;
}

export interface NodeServerOptions {
  /** One model folder, or several (the first is the default). */
  modelDir: string | string[];
  port: number;
  host?: string;
  corsOrigins?: '*' | string[];
  workers?: number;
  batch?: number;
  queueSize?: number;
  deadlineMs?: number;
  apiKeys?: readonly string[];
  rateLimit?: RateLimit | null;
  /** Signs and checks continuations; absent: a random one, made at start. */
  continuationSecret?: string;
  /** CPU milliseconds per request (no budget when absent). */
  cpuMs?: number;
  /** The header a trusted proxy sets to the client's address (else the socket's address). */
  trustedProxyHeader?: string;
  /** Fair shares (edge/engine/scheduler.ts): rows per client (default a quarter, at least 16), waiting work per client. */
  clientRows?: number;
  clientQueuedChars?: number;
  /** Unsent characters a stream may pile up before it is ended. */
  streamBacklogChars?: number;
  /** Connection limits: whole request, headers, idle keep-alive (ms), open connections. */
  requestTimeoutMs?: number;
  headersTimeoutMs?: number;
  idleTimeoutMs?: number;
  maxConnections?: number;
  prefixCache?: 'per-client' | 'shared';
  /** Told, in one line, what the server chose for the operator (a random continuation secret). */
  notice?: (line: string) => void;
}

/** The client's address: the last one of a trusted proxy's header (the one it added), else the socket's. */
export function clientAddressOf(header: string | undefined, socket: string | undefined): string | undefined {
  if (header === undefined) return socket;
  const last = header.split(',').pop()?.trim();
  return last || socket;
}

/**
 * Requests started per event-loop turn (edge/pacing.ts). Measured with 200 streams opened at
 * once on a cold server (2 cores): unpaced, the loop stalled 228–293 ms and /healthz took up to
 * 289 ms; 8 per turn, 32–52 and 41; 4 per turn, 20–30 and 24, with the same time to headers and
 * requests/s within the runs' noise.
 */
const PER_TURN = 4;
/** Requests that may wait for a turn (64 turns' worth); past it they start at once. */
const PACING_MAX_WAITING = 256;
/** /healthz skips the pacing queue: it is how a supervisor sees that the loop is alive. */
const HEALTHZ = /^https?:\/\/[^/]+\/healthz(\?|$)/;

/**
 * A body over its route's limit is answered 413 from its declared length, before it is read;
 * closing the connection then would reset it under a client that writes the whole body before
 * reading (Python's urllib: "Broken pipe" instead of the 413). So, as nginx's lingering close
 * does, what such a body still sends is read and dropped — up to LINGER_BYTES or LINGER_MS —
 * before the answer goes out; past the bound the connection closes as before.
 */
const LINGER_BYTES = 16 * 1024 * 1024;
const LINGER_MS = 5_000;
type Fetch = (request: Request, env?: unknown, ...rest: never[]) => Response | Promise<Response>;
function lingering<F extends Fetch>(fetch: F): F {
  return (async (request: Request, env?: unknown) => {
    const res = await fetch(request, env);
    const incoming = (env as { incoming?: IncomingMessage } | undefined)?.incoming;
    if (res.status === 413 && incoming && !incoming.readableEnded && !incoming.destroyed && !(Number(incoming.headers['content-length']) > LINGER_BYTES)) {
      await new Promise<void>((done) => {
        let read = 0;
        const finish = () => {
          clearTimeout(timer);
          incoming.off('data', onData);
          done();
        };
        const onData = (chunk: Buffer) => {
          read += chunk.length;
          if (read > LINGER_BYTES) finish();
        };
        const timer = setTimeout(finish, LINGER_MS);
        incoming.on('data', onData);
        incoming.once('end', finish);
        incoming.once('error', finish);
        incoming.once('close', finish);
        incoming.resume();
      });
    }
    return res;
  }) as F;
}

/**
 * Read and check every model folder, in order: a folder that is not a model, a corrupt model or
 * two folders with one name is one line naming the folder(s) and the reason. Also what
 * `npm run dev:edge` / `deploy` check before they hand the folders to Workers.
 */
export async function loadModelFolders(dirs: readonly string[]): Promise<ServedArtifact[]> {
  const out: ServedArtifact[] = [];
  for (const dir of dirs) {
    const s = await stat(dir).catch(() => null);
    if (!s) throw new ArtifactError('missing_file', `MODEL_DIR: ${dir} does not exist`);
    if (!s.isDirectory()) throw new ArtifactError('missing_file', `MODEL_DIR: ${dir} is a file, not a model folder`);
    let loaded: Awaited<ReturnType<typeof readArtifactDir>>;
    try {
      loaded = await readArtifactDir(dir);
    } catch (e) {
      const reason = (e as Error).message.replace(`${resolve(dir)}: `, '').replace(join(dir, '/'), '');
      throw new ArtifactError(e instanceof ArtifactError ? e.code : 'invalid_model', `MODEL_DIR: ${dir} is not a model that can be served: ${reason}`);
    }
    out.push({ model: loaded.model, files: { ...loaded.files, plotSvg: await readFile(join(dir, 'perplexity.svg'), 'utf8').catch(() => undefined) } });
  }
  checkUniqueNames(out.map((a, i) => ({ name: a.model.name, source: dirs[i] })));
  return out;
}

export async function startNodeServer(o: NodeServerOptions): Promise<NodeServer> {
  const artifacts = await loadModelFolders(typeof o.modelDir === 'string' ? parseModelDirs(o.modelDir) : o.modelDir); // refuses a corrupt model before listening
  const workers = o.workers ?? availableParallelism();
  const capacity = o.batch ?? 128;
  const schedule = {
    capacity,
    queueSize: o.queueSize ?? 256,
    deadlineMs: o.deadlineMs ?? 30_000,
    clientRows: o.clientRows ?? Math.max(16, Math.floor((capacity * Math.max(1, workers)) / 4)),
    clientQueuedWork: o.clientQueuedChars ?? 200_000,
    streamBacklog: o.streamBacklogChars ?? 65_536,
  };
  let services: GenerationService[];
  let closeEngine: () => Promise<void>;
  // The build every generation thread picks too (the same engine): what /healthz names and CPU_MS plans with.
  const kernel = await loadKernelNode();
  if (workers > 0) {
    const threads = await startThreadEngine(
      artifacts.map((a) => ({ files: a.files, engine: engineName(kernel, a.model) })),
      { ...schedule, workers },
    );
    services = threads.services;
    closeEngine = threads.close;
  } else {
    services = artifacts.map((a) => localEngine(new KernelModel(kernel, a.model), schedule));
    closeEngine = async () => void (await Promise.all(services.map((s) => s.close())));
  }
  const registry = new ModelRegistry(artifacts.map((a, i) => servedModel(a, services[i])));
  const metrics = prometheusMetrics(registry);
  // The event loop only parses, schedules and writes: /healthz shows how long it ever waited.
  const loop = monitorEventLoopDelay({ resolution: LOOP_SAMPLE_MS });
  loop.enable();
  // The histogram holds the time between samples: the delay is what exceeds the sampling interval.
  const ms = (ns: number) => +Math.max(0, ns / 1e6 - LOOP_SAMPLE_MS).toFixed(2);
  const health = (reset: boolean) => {
    const cpu = process.cpuUsage();
    const memory = process.memoryUsage();
    const out = {
      eventLoopDelayMs: { p50: ms(loop.percentile(50)), p99: ms(loop.percentile(99)), max: ms(loop.max) },
      rssBytes: memory.rss, // every thread's
      heapUsedBytes: memory.heapUsed, // the event loop's JS heap
      cpuSeconds: +((cpu.user + cpu.system) / 1e6).toFixed(3), // all threads of the process
    };
    if (reset) loop.reset();
    return out;
  };
  const app = createApp({
    registry,
    health,
    telemetry: metrics.telemetry,
    metrics: metrics.render,
    corsOrigins: o.corsOrigins,
    assets: await nodeAssets(),
    apiKeys: o.apiKeys,
    rateLimit: o.rateLimit,
    clientAddress: (c) => clientAddressOf(o.trustedProxyHeader ? c.req.header(o.trustedProxyHeader) : undefined, getConnInfo(c).remote.address),
    continuationSecret: o.continuationSecret ?? randomSecret(o.notice),
    sharedPrefixCache: o.prefixCache === 'shared',
    cpuMs: o.cpuMs,
    kernelBuild: kernel.build,
  });
  return new Promise((resolve, reject) => {
    const fetch = paced(lingering(app.fetch), {
      perTurn: PER_TURN,
      maxWaiting: PACING_MAX_WAITING,
      immediate: (r) => HEALTHZ.test(r.url),
      nextTurn: setImmediate,
    });
    // A client that sends slowly, or not at all, holds a connection for a bounded time only.
    const requestTimeout = o.requestTimeoutMs ?? 30_000;
    const serverOptions = {
      requestTimeout,
      headersTimeout: Math.min(o.headersTimeoutMs ?? 10_000, requestTimeout),
      keepAliveTimeout: o.idleTimeoutMs ?? 5_000,
      // How often Node looks for requests past those limits (its default, 30 s, would let a slow body run that long past them).
      connectionsCheckingInterval: Math.min(1_000, requestTimeout),
    };
    const server = serve({ fetch, port: o.port, hostname: o.host, serverOptions }, (info) => {
      (server as HttpServer).maxConnections = o.maxConnections ?? 4096;
      const host = info.family === 'IPv6' ? `[${info.address}]` : info.address;
      resolve({
        url: `http://${host === '0.0.0.0' || host === '[::]' ? 'localhost' : host}:${info.port}`,
        server,
        registry,
        engine: registry.default.engine,
        close: async () => {
          loop.disable();
          await new Promise<void>((done) => server.close(() => done()));
          await closeEngine();
        },
      });
    });
    server.once('error', (e: NodeJS.ErrnoException) => {
      void closeEngine();
      reject(
        new Error(
          e.code === 'EADDRINUSE'
            ? `port ${o.port} is already in use${o.host ? ` on ${o.host}` : ''} (set PORT to another one)`
            : e.code === 'EACCES'
              ? `no permission to listen on port ${o.port}`
              : e.message,
        ),
      );
    });
  });
}

/** A continuation secret for this process alone, said once to the operator. */
function randomSecret(notice: ((line: string) => void) | undefined): string {
  notice?.(
    'CONTINUATION_SECRET is not set: continuation tokens are signed with a random secret made now, so they resume on this process only (set CONTINUATION_SECRET to one value on every instance and Worker to share them)',
  );
  return [...crypto.getRandomValues(new Uint8Array(32))].map((b) => b.toString(16).padStart(2, '0')).join('');
}

const HELP = `deeprnn server (npm start). Settings, as environment variables:\n${Object.entries(SETTINGS)
  .map(([k, s]) => `  ${k.padEnd(16)} ${s.help}${s.default ? ` (default ${s.default})` : ''}`)
  .join('\n')}`;

async function main(): Promise<void> {
  if (process.argv.includes('--help')) return void console.log(HELP);
  let running: NodeServer;
  let config: ServerConfig;
  try {
    config = serverConfig(process.env);
    running = await startNodeServer({
      modelDir: config.MODEL_DIR,
      port: config.PORT,
      host: config.HOST,
      corsOrigins: config.ALLOWED_ORIGINS,
      workers: config.WORKERS,
      batch: config.BATCH,
      queueSize: config.QUEUE_SIZE,
      deadlineMs: config.DEADLINE_MS,
      apiKeys: config.API_KEYS,
      rateLimit: config.RATE_LIMIT,
      continuationSecret: config.CONTINUATION_SECRET,
      cpuMs: config.CPU_MS,
      trustedProxyHeader: config.TRUSTED_PROXY_HEADER,
      clientRows: config.CLIENT_ROWS,
      clientQueuedChars: config.CLIENT_QUEUED_CHARS,
      streamBacklogChars: config.STREAM_BACKLOG_CHARS,
      requestTimeoutMs: config.REQUEST_TIMEOUT_MS,
      headersTimeoutMs: config.HEADERS_TIMEOUT_MS,
      idleTimeoutMs: config.IDLE_TIMEOUT_MS,
      maxConnections: config.MAX_CONNECTIONS,
      prefixCache: config.PREFIX_CACHE,
      notice: (line) => console.log(`deeprnn: ${line}`),
    });
  } catch (e) {
    console.error(`deeprnn: cannot start the server: ${(e as Error).message}`);
    process.exit(1);
  }
  console.log(
    `deeprnn serving ${running.registry.names.join(', ')} at ${running.url}  (${running.engine.engine}; POST /v1/generate, /v1/score, /v1/completions, GET /v1/models, /metrics, API docs at /docs, demo page at /)`,
  );
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
