/**
 * npm run bench:edge (not a test): what Workers cost for the models of MODEL_DIR (default: the
 * two shipped int8 models), as JSON lines —
 *   - the uploaded bundle (`wrangler deploy --dry-run`): its size, and gzip, with the models staged
 *   - under `wrangler dev`: the first request's latency (isolate start, fetching the weights from
 *     the assets, their checks) against the second's, and the first generation's
 * Loopback only. Settings: MODEL_DIR, BENCH_PORT (8796).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MODEL_DIR = process.env.MODEL_DIR || `${ROOT}models/timemachine-deep-lstm-int8,${ROOT}models/authors-deep-lstm-int8`;
const PORT = Number(process.env.BENCH_PORT ?? 8796);
const emit = (o: object) => console.log(JSON.stringify(o));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const edge = (args: string[]) => [join(ROOT, 'scripts/edge.ts'), ...args];
const env = { ...process.env, MODEL_DIR, WRANGLER_SEND_METRICS: 'false' };

emit({ kind: 'machine', cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version, date: new Date().toISOString(), models: MODEL_DIR });
const weights = await Promise.all(MODEL_DIR.split(',').map(async (d) => (await stat(join(d.trim(), 'weights.bin'))).size));

// The bundle wrangler would upload.
const out = await mkdtemp(join(tmpdir(), 'deeprnn-dry-run-'));
const dry = spawnSync(process.execPath, ['--import', 'tsx', ...edge(['deploy', '--dry-run', '--outdir', out])], { cwd: ROOT, env, encoding: 'utf8' });
if (dry.status !== 0) throw new Error(`wrangler deploy --dry-run failed: ${dry.stdout}${dry.stderr}`);
let bytes = 0;
let gzip = 0;
for (const f of await readdir(out)) {
  if (f.endsWith('.map') || f === 'README.md') continue;
  const b = await readFile(join(out, f));
  bytes += b.length;
  gzip += gzipSync(b, { level: 9 }).length;
}
await rm(out, { recursive: true, force: true });
emit({
  kind: 'bundle',
  files: 'worker.js + kernel.wasm',
  bytes,
  gzipBytes: gzip,
  wranglerSays: /Total Upload: ([^\n]+)/.exec(dry.stdout)?.[1] ?? null,
  modelWeightsBytes: weights,
});

// wrangler dev: wait until it accepts connections, then time the first requests.
const child = spawn(process.execPath, ['--import', 'tsx', ...edge(['dev', '--port', String(PORT), '--ip', '127.0.0.1', '--log-level', 'error'])], {
  cwd: ROOT,
  env,
  stdio: 'ignore',
});
const listening = async () =>
  new Promise<boolean>((resolve) => {
    const s = connect(PORT, '127.0.0.1', () => (s.destroy(), resolve(true)));
    s.on('error', () => resolve(false));
  });
try {
  const t0 = performance.now();
  while (!(await listening())) {
    if (performance.now() - t0 > 60_000) throw new Error('wrangler dev did not listen within 60 s');
    await sleep(100);
  }
  const listenMs = performance.now() - t0;
  const time = async (path: string, init?: RequestInit) => {
    const t = performance.now();
    const r = await fetch(`http://127.0.0.1:${PORT}${path}`, init);
    await r.arrayBuffer();
    return { status: r.status, ms: +(performance.now() - t).toFixed(1) };
  };
  const first = await time('/healthz');
  const second = await time('/healthz');
  const name = ((await (await fetch(`http://127.0.0.1:${PORT}/v1/models`)).json()) as { data: { id: string }[] }).data.map((m) => m.id);
  const gen = await time('/v1/generate', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prefix: 'The ', numChars: 100, seed: 1 }),
  });
  emit({ kind: 'wrangler-dev', listenMs: +listenMs.toFixed(0), firstRequest: first, secondRequest: second, firstGenerate100: gen, models: name });
} finally {
  child.kill('SIGTERM');
}
