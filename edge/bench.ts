/**
 * npm run bench:http (not a test): the Node server under load, as JSON lines. It starts
 * `npm start`'s server in a child process (or measures BENCH_URL, any running deeprnn server,
 * e.g. an older version for comparison) and runs, each bounded in time:
 *   - CPU per 100-character request as Workers bill it (the app in this process, the Workers engine)
 *   - autocannon at 32 and 128 connections, 50- and 500-character requests: requests/s, latency,
 *     refusals (503) and errors, /healthz latency under that load, the server's event-loop delay
 *   - 100 clients that ask for 2000 characters and hang up after 0.3 s: server CPU spent on them
 *   - 200 Server-Sent Event streams opened at once: time to headers
 *   - fairness: a 20-character request during 128 streams of 2000 characters
 *   - models (when the server serves two or more: MODEL_DIR=a,b): two clients of 16 connections,
 *     one on each of the first two models, each one's requests/s; then both clients on the first
 *     model alone, and the two totals' ratio
 *   - a soak (BENCH_SOAK_SECONDS, default off): RSS before and after
 * Loopback only. Settings: BENCH_SECONDS (10), BENCH_URL, BENCH_SOAK_SECONDS (0), BENCH_CPU_MODEL, BENCH_ONLY (a
 * comma list of the parts to run: cpu, load, models, abandoned, streams, long; default all), and
 * the server's own (WORKERS, BATCH, QUEUE_SIZE, MODEL_DIR …) passed through.
 */
import autocannon from 'autocannon';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { createApp } from './app.ts';
import { workersEngine, WORKERS_SCHEDULE } from './engine/engines.ts';
import { IsolateRows } from './engine/placement.ts';
import { ModelRegistry, servedModel } from './registry.ts';
import { KernelModel } from '../shared/kernel/stepper.ts';
import { loadKernelNode, readArtifactDir } from '../shared/platform/node.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const SOAK = Number(process.env.BENCH_SOAK_SECONDS ?? 0);
const PARTS = ['cpu', 'load', 'models', 'abandoned', 'streams', 'long'] as const;
const only = process.env.BENCH_ONLY?.split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const unknownPart = only?.find((p) => !(PARTS as readonly string[]).includes(p));
if (unknownPart !== undefined) {
  console.error(`BENCH_ONLY: unknown part ${JSON.stringify(unknownPart)} (the parts: ${PARTS.join(', ')})`);
  process.exit(2);
}
const runs = (part: (typeof PARTS)[number]) => !only || only.includes(part);
const emit = (o: object) => console.log(JSON.stringify(o));
const body = (numChars: number, extra: object = {}) => JSON.stringify({ prefix: 'time traveller', numChars, temperature: 0.8, ...extra });
const post = (numChars: number, extra: object = {}, signal?: AbortSignal): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: body(numChars, extra),
  signal,
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] : null);

/** Start the server as `npm start` does (its command line, from package.json), in its own process. */
async function startServer(): Promise<{ url: string; stop(): void }> {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: { start: string } };
  const [, ...args] = pkg.scripts.start.replace(/^exec /, '').split(/\s+/); // [exec] node [flags] --import tsx edge/node.ts
  const child = spawn(process.execPath, args, {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  for (let i = 0; i < 600 && !/ at (http:\/\/\S+)/.test(out); i++) await sleep(50);
  const url = / at (http:\/\/\S+)/.exec(out)?.[1];
  if (!url) throw new Error(`the server did not start: ${out}`);
  return { url, stop: () => child.kill('SIGTERM') };
}

type Health = {
  running?: number;
  queued?: number;
  eventLoopDelayMs?: { p50: number; p99: number; max: number };
  rssBytes?: number;
  heapUsedBytes?: number;
  cpuSeconds?: number;
};

const external = process.env.BENCH_URL;
const server = external ? { url: external.replace(/\/$/, ''), stop() {} } : await startServer();
const url = server.url;
const health = async (reset = false): Promise<Health> => (await (await fetch(`${url}/healthz${reset ? '?reset' : ''}`)).json()) as Health;

/**
 * A probe in a process of its own (so the load generator's event loop does not delay it), warmed
 * up before it reports ready: a fresh process's first fetch loads and compiles its HTTP client,
 * which is the probe's own cost, not the server's.
 */
const PROBE_EVERY_MS = 50;
const PROBE = `
const url = process.argv[1]; const times = []; let failed = 0, done = false;
process.on('message', () => { done = true; });
(async () => {
  for (let i = 0; i < 5; i++) await fetch(url).then((r) => r.arrayBuffer(), () => null);
  process.send('ready');
  while (!done) {
    const t0 = performance.now();
    const ok = await fetch(url, { signal: AbortSignal.timeout(10000) }).then((r) => r.arrayBuffer().then(() => r.ok), () => false);
    if (ok) times.push(performance.now() - t0); else failed++;
    await new Promise((r) => setTimeout(r, ${PROBE_EVERY_MS}));
  }
  process.send({ times, failed }, () => process.exit(0));
})();`;

type Stats = { p50: number | null; p99: number | null; max: number | null; samples: number; failed: number };

/** Start probing /healthz (resolves once the probe is warm); `stop()` gives the latencies seen. */
async function startProbe(): Promise<{ stop(): Promise<Stats> }> {
  const child = spawn(process.execPath, ['-e', PROBE, `${url}/healthz`], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const messages: unknown[] = [];
  let wake = () => {};
  child.on('message', (m) => {
    messages.push(m);
    wake();
  });
  const next = async () => {
    while (!messages.length) await new Promise<void>((r) => (wake = r));
    return messages.shift();
  };
  await next(); // 'ready'
  return {
    async stop() {
      child.send('stop');
      const { times, failed } = (await next()) as { times: number[]; failed: number };
      const r = (v: number | null) => (v === null ? null : +v.toFixed(1));
      return { p50: r(pct(times, 50)), p99: r(pct(times, 99)), max: r(times.length ? Math.max(...times) : null), samples: times.length, failed };
    },
  };
}

emit({
  kind: 'machine',
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  node: process.version,
  date: new Date().toISOString(),
  server: external ?? 'npm start (this checkout)',
  settings: { WORKERS: process.env.WORKERS, BATCH: process.env.BATCH, QUEUE_SIZE: process.env.QUEUE_SIZE },
});

if (!external && runs('cpu')) {
  // CPU per request as Workers bill it: the handler's own work, in this process, on the Workers engine.
  // BENCH_CPU_MODEL: another rendition for the same figure (e.g. an int16-state export, as a peer).
  // The request carries Content-Length as an HTTP client's does (without it Hono's body limit
  // re-reads the body into a new Request: ~0.4 ms that no real request pays). `kernelMs`: the
  // same steps (prefix + characters) on the kernel alone, so `outsideMs` is what the request
  // path adds — routing, validation, sampling, the continuation, JSON.
  const kernel = await loadKernelNode();
  const artifact = await readArtifactDir(process.env.BENCH_CPU_MODEL ?? fileURLToPath(new URL('../models/timemachine-deep-lstm-int8', import.meta.url)));
  const engine = workersEngine(new KernelModel(kernel, artifact.model), {
    rows: new IsolateRows(WORKERS_SCHEDULE.capacity),
    deadlineMs: WORKERS_SCHEDULE.deadlineMs,
    ticksPerYield: WORKERS_SCHEDULE.ticksPerYield,
  });
  const app = createApp({ registry: new ModelRegistry([servedModel(artifact, engine)]) });
  const payload = body(100, { seed: 1 });
  const headers = { 'content-type': 'application/json', 'content-length': String(new TextEncoder().encode(payload).length) };
  const send = async () => (await app.request('/v1/generate', { method: 'POST', headers, body: payload })).arrayBuffer();
  const steps = 'time traveller'.length + 100;
  const alone = new KernelModel(kernel, artifact.model).acquire(1);
  const input = new Int32Array(1);
  const cpuMs = (f: () => unknown) => async (n: number) => {
    const before = process.cpuUsage();
    for (let i = 0; i < n; i++) await f();
    const used = process.cpuUsage(before);
    return (used.user + used.system) / 1000 / n;
  };
  const request = cpuMs(send);
  const kernelOnly = cpuMs(() => {
    for (let i = 0; i < steps; i++) {
      input[0] = (i * 7) % artifact.model.arch.vocabSize;
      alone.step(0, input);
    }
  });
  await request(100);
  await kernelOnly(100);
  for (let round = 0; round < 3; round++) {
    const ms = await request(300);
    const k = await kernelOnly(300);
    emit({
      kind: 'cpu-per-request',
      numChars: 100,
      model: 'int8 (the Workers model)',
      engine: 'Workers engine, in process',
      round,
      cpuMs: +ms.toFixed(2),
      kernelMs: +k.toFixed(2),
      outsideMs: +(ms - k).toFixed(2),
    });
  }
}

for (const [connections, numChars] of runs('load')
  ? ([
      [32, 50],
      [32, 500],
      [128, 50],
      [128, 500],
    ] as const)
  : []) {
  const probe = await startProbe();
  await health(true);
  const r = await autocannon({
    url: `${url}/v1/generate`,
    connections,
    duration: SECONDS,
    timeout: 10,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: body(numChars),
  });
  const h = await health(true);
  emit({
    kind: 'load',
    connections,
    numChars,
    seconds: SECONDS,
    requestsPerSecond: r.requests.average,
    ok: r['2xx'],
    refused503: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    latencyMs: { p50: r.latency.p50, p99: r.latency.p99, max: r.latency.max },
    healthzMs: await probe.stop(),
    serverEventLoopDelayMs: h.eventLoopDelayMs ?? null,
  });
  while (((await health()).running ?? 0) > 0) await sleep(100);
}

if (runs('models')) {
  // Two models under one load: 16 connections each, at once; then the first alone on 32.
  const names = ((await (await fetch(`${url}/v1/models`)).json()) as { data: { id: string }[] }).data.map((m) => m.id);
  if (names.length < 2) emit({ kind: 'models', skipped: `the server serves one model (${names[0]}); start it with MODEL_DIR=a,b to measure two` });
  else {
    const load = (model: string, connections: number) =>
      autocannon({
        url: `${url}/v1/generate`,
        connections,
        duration: SECONDS,
        timeout: 10,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: body(50, { model }),
      });
    const [a, b] = await Promise.all([load(names[0], 16), load(names[1], 16)]);
    while (((await health()).running ?? 0) > 0) await sleep(100);
    // Alone: the same two clients of 16 connections (the load generator shares these cores, so
    // its shape must be the same), both on the first model.
    const alone2 = await Promise.all([load(names[0], 16), load(names[0], 16)]);
    const alone = { requests: { average: alone2[0].requests.average + alone2[1].requests.average } };
    const total = a.requests.average + b.requests.average;
    emit({
      kind: 'models',
      numChars: 50,
      seconds: SECONDS,
      shared: {
        [names[0]]: { connections: 16, requestsPerSecond: a.requests.average, p99Ms: a.latency.p99, errors: a.errors + a.non2xx },
        [names[1]]: { connections: 16, requestsPerSecond: b.requests.average, p99Ms: b.latency.p99, errors: b.errors + b.non2xx },
      },
      totalRequestsPerSecond: +total.toFixed(1),
      aloneRequestsPerSecond: alone.requests.average,
      aloneModel: names[0],
      totalOverAlone: +(total / alone.requests.average).toFixed(3),
    });
    while (((await health()).running ?? 0) > 0) await sleep(100);
  }
}

if (runs('abandoned')) {
  // Clients that hang up: 100 non-streaming 2000-character requests, abandoned after 0.3 s.
  const before = await health(true);
  const aborts = Array.from({ length: 100 }, () => new AbortController());
  const sent = aborts.map((a) =>
    fetch(`${url}/v1/generate`, post(2000, {}, a.signal)).then(
      (r) => r.arrayBuffer(),
      () => null,
    ),
  );
  await sleep(300);
  for (const a of aborts) a.abort();
  await Promise.all(sent);
  let idle = await health();
  for (let i = 0; i < 200 && ((idle.running ?? 0) > 0 || (idle.queued ?? 0) > 0); i++) idle = await health(await sleep(50).then(() => false));
  await sleep(500);
  const after = await health();
  emit({
    kind: 'abandoned',
    clients: 100,
    numChars: 2000,
    hangUpAfterMs: 300,
    serverCpuSeconds: before.cpuSeconds !== undefined && after.cpuSeconds !== undefined ? +(after.cpuSeconds - before.cpuSeconds).toFixed(3) : null,
    idleAgain: (idle.running ?? 0) === 0,
  });
}

if (runs('streams')) {
  // 200 event streams at once: time to each one's headers; /healthz and the server's event loop
  // from the burst until 2 s into the streams.
  const probe = await startProbe();
  await health(true);
  const aborts = Array.from({ length: 200 }, () => new AbortController());
  const t0 = performance.now();
  const opened = aborts.map((a) =>
    fetch(`${url}/v1/generate`, post(2000, { stream: true }, a.signal)).then(
      (r) => ({ ms: performance.now() - t0, status: r.status, r }),
      () => null,
    ),
  );
  const got = await Promise.all(opened);
  await sleep(2000);
  const healthz = await probe.stop();
  const ok = got.filter((g) => g?.status === 200).map((g) => +g!.ms.toFixed(1));
  emit({
    kind: 'sse-streams',
    streams: 200,
    headers200: ok.length,
    refused503: got.filter((g) => g?.status === 503).length,
    timeToHeadersMs: { p50: pct(ok, 50), p99: pct(ok, 99), max: ok.length ? Math.max(...ok) : null },
    healthzMs: healthz,
    serverEventLoopDelayMs: (await health(true)).eventLoopDelayMs ?? null,
  });

  // Fairness: with those streams running, a 20-character request.
  await sleep(500);
  const t1 = performance.now();
  const small = await fetch(`${url}/v1/generate`, post(20));
  await small.arrayBuffer();
  emit({
    kind: 'fairness',
    during: `${ok.length} streams of 2000 characters`,
    numChars: 20,
    status: small.status,
    latencyMs: +(performance.now() - t1).toFixed(1),
  });
  for (const a of aborts) a.abort();
  for (const g of got) await g?.r.body?.cancel().catch(() => {});
  while (((await health()).running ?? 0) > 0) await sleep(100);
}

if (runs('long')) {
  // One 2000-character request: the event loop does not compute it.
  await health(true);
  const t0 = performance.now();
  await (await fetch(`${url}/v1/generate`, post(2000))).arrayBuffer();
  emit({
    kind: 'one-long-request',
    numChars: 2000,
    ms: +(performance.now() - t0).toFixed(1),
    serverEventLoopDelayMs: (await health(true)).eventLoopDelayMs ?? null,
  });
}

if (SOAK > 0) {
  // The server's RSS (all its threads) before, every tenth of the soak, and after.
  const mb = (bytes?: number) => (bytes ? Math.round(bytes / 2 ** 20) : null);
  const before = await health(true);
  const load = autocannon({
    url: `${url}/v1/generate`,
    connections: 32,
    duration: SOAK,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: body(50),
  });
  const during: { rssMB: number | null; heapMB: number | null }[] = [];
  for (let i = 1; i < 10; i++) {
    await sleep((SOAK * 1000) / 10);
    const h = await health();
    during.push({ rssMB: mb(h.rssBytes), heapMB: mb(h.heapUsedBytes) });
  }
  const r = await load;
  await sleep(2000);
  const after = await health(true);
  emit({
    kind: 'soak',
    seconds: SOAK,
    connections: 32,
    numChars: 50,
    requests: r.requests.total,
    errors: r.errors,
    rssBeforeMB: mb(before.rssBytes),
    during,
    rssAfterMB: mb(after.rssBytes),
    eventLoopDelayMs: after.eventLoopDelayMs ?? null,
  });
}

server.stop();
