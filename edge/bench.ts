/**
 * npm run bench:http (not a test): CPU time per request for a 100-character generation (the
 * Workers free plan allows 10 ms of CPU), and throughput and latency of the Node server under
 * autocannon, 32 connections, 50-character generations. JSON lines.
 */
import autocannon from 'autocannon';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { DEFAULT_MODEL_DIR, loadKernelNode, readModelDir } from '../shared/platform/node.ts';
import { createApp } from './app.ts';
import { ServedModel } from './generation.ts';
import { startNodeServer } from './node.ts';

const modelDir = process.env.MODEL_DIR ?? DEFAULT_MODEL_DIR;
/** The model wrangler.toml bundles (int8), run by the same portable kernel as in workerd. */
const WORKERS_MODEL_DIR = fileURLToPath(new URL('../models/timemachine-deep-lstm-int8', import.meta.url));
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const emit = (o: object) => console.log(JSON.stringify(o));
emit({ kind: 'machine', cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version, date: new Date().toISOString(), model: modelDir });

const server = await startNodeServer({ modelDir, port: 0, host: '127.0.0.1' });
const request = (numChars: number) => ({ method: 'POST' as const, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prefix: 'time traveller', numChars, temperature: 0.8, seed: 1 }) });

// CPU per request, as Workers count it: the handler's own work (app.fetch in this process, no
// sockets), the portable kernel that Workers run; then over HTTP, client and server together.
const handler = async (dir: string) => createApp(new ServedModel(await readModelDir(dir), await loadKernelNode(), { modelJson: '', weights: new Uint8Array() }));
const app = await handler(modelDir);
const workersApp = await handler(WORKERS_MODEL_DIR);
const cpuPerRequest = async (send: () => Promise<unknown>, n: number) => {
  for (let i = 0; i < 20; i++) await send();
  const before = process.cpuUsage();
  for (let i = 0; i < n; i++) await send();
  const used = process.cpuUsage(before);
  return +((used.user + used.system) / 1000 / n).toFixed(2);
};
emit({
  kind: 'cpu-per-request',
  numChars: 100,
  prefix: 'time traveller',
  handlerCpuMs: await cpuPerRequest(async () => (await app.request('/v1/generate', request(100))).arrayBuffer(), 300),
  workersModelHandlerCpuMs: await cpuPerRequest(async () => (await workersApp.request('/v1/generate', request(100))).arrayBuffer(), 300),
  overHttpCpuMs: await cpuPerRequest(async () => (await fetch(`${server.url}/v1/generate`, request(100))).arrayBuffer(), 300),
});

const result = await autocannon({ url: `${server.url}/v1/generate`, connections: 32, duration: seconds, ...request(50) });
emit({
  kind: 'load',
  tool: 'autocannon',
  connections: 32,
  numChars: 50,
  seconds,
  requestsPerSecond: result.requests.average,
  latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
  non2xx: result.non2xx,
  errors: result.errors,
});
await server.close();
