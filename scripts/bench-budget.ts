/**
 * npm run bench:budget (not a test): CPU per request on the Workers engine (the app in this
 * process, as bench:http's cpu part) against what shared/cost.ts plans, as JSON lines:
 *   - per model: the kernel's step (µs), the measured CPU of a request of 1 and of 201
 *     characters (→ µs per character and per request), and the plan's figures for both;
 *   - the same requests for 50, 200 and 2,000 characters and a 1,000-character prefix;
 *   - CPU_MS=10 (Workers' free plan): each slice's CPU, measured, and characters per slice;
 *   - the first request of a new isolate: read the files, SHA-256, decode, compile, answer.
 * Main-thread CPU from /proc (Linux), so helper threads (the TypeScript loader, GC) do not count.
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { createApp } from '../edge/app.ts';
import { workersEngine, WORKERS_SCHEDULE } from '../edge/engine/engines.ts';
import { IsolateRows } from '../edge/engine/placement.ts';
import { ModelRegistry, servedModel } from '../edge/registry.ts';
import { decodeArtifact } from '../shared/artifact.ts';
import type { GenerateResult } from '../shared/contract.ts';
import { macsPerStep, planBudget, stepCosts } from '../shared/cost.ts';
import { generationKernel } from '../shared/kernel/kernel.ts';
import { KernelModel } from '../shared/kernel/stepper.ts';
import { loadKernelNode, readArtifactDir } from '../shared/platform/node.ts';

const emit = (o: object) => console.log(JSON.stringify(o));
const TICK_MS = 1000 / 100; // /proc's clock ticks
const mainCpuMs = () => {
  const f = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) * TICK_MS;
};
const MODELS = ['timemachine-deep-lstm-int8', 'timemachine-deep-lstm', 'authors-deep-lstm-int8'];
/** A POST as an HTTP client sends it, Content-Length included (without it Hono's body limit re-reads the body). */
const post = (body: object): RequestInit => {
  const text = JSON.stringify(body);
  return { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(new TextEncoder().encode(text).length) }, body: text };
};

emit({ kind: 'machine', cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version, date: new Date().toISOString() });

const kernel = await loadKernelNode();
for (const name of MODELS) {
  const dir = fileURLToPath(new URL(`../models/${name}`, import.meta.url));
  const artifact = await readArtifactDir(dir);
  const model = artifact.model;
  const app = (cpuMs?: number) =>
    createApp({
      registry: new ModelRegistry([
        servedModel(
          artifact,
          workersEngine(new KernelModel(kernel, model), {
            rows: new IsolateRows(WORKERS_SCHEDULE.capacity),
            deadlineMs: WORKERS_SCHEDULE.deadlineMs,
            ticksPerYield: WORKERS_SCHEDULE.ticksPerYield,
          }),
        ),
      ]),
      cpuMs,
      kernelBuild: kernel.build,
    });
  const free = app();
  const send = async (a: ReturnType<typeof app>, body: object) => (await a.request('/v1/generate', post(body))).json() as Promise<GenerateResult>;
  /** Main-thread CPU ms per request, over enough requests for /proc's 10 ms ticks. */
  const cpuPer = async (a: ReturnType<typeof app>, body: object) => {
    for (let i = 0; i < 5; i++) await send(a, body);
    let n = 0;
    const t0 = mainCpuMs();
    const w0 = performance.now();
    while (performance.now() - w0 < 3000 || n < 20) {
      await send(a, body);
      n++;
    }
    return (mainCpuMs() - t0) / n;
  };
  const rows = new KernelModel(kernel, model).acquire(1);
  for (let i = 0; i < 500; i++) rows.step(0, [1]);
  const s0 = performance.now();
  for (let i = 0; i < 5000; i++) rows.step(0, [1]);
  const stepUs = ((performance.now() - s0) / 5000) * 1000;
  const prefix = 'time traveller';
  const one = await cpuPer(free, { prefix, numChars: 1, temperature: 0.8, seed: 1 });
  const many = await cpuPer(free, { prefix, numChars: 201, temperature: 0.8, seed: 1 });
  const perChar = ((many - one) / 200) * 1000;
  const plan = stepCosts(model, 1, kernel.build);
  emit({
    kind: 'model',
    model: name,
    storage: model.storage,
    macsPerStep: macsPerStep(model),
    kernelStepUs: +stepUs.toFixed(1),
    nsPerMac: +((stepUs * 1000) / macsPerStep(model)).toFixed(4),
    measured: { charUs: +perChar.toFixed(1), requestUs: +((one - ((prefix.length - 1 + 1) * perChar) / 1000) * 1000).toFixed(0) },
    planned: { charUs: +plan.charUs.toFixed(1), prefixUs: +plan.prefixUs.toFixed(1), requestUs: +plan.requestUs.toFixed(0) },
  });
  for (const [what, body] of [
    ['50 characters', { prefix, numChars: 50, temperature: 0.8, seed: 1 }],
    ['200 characters', { prefix, numChars: 200, temperature: 0.8, seed: 1 }],
    ['2000 characters', { prefix, numChars: 2000, temperature: 0.8, seed: 1 }],
    ['1000-character prefix, 1 character', { prefix: 'the time traveller '.repeat(60).slice(0, 1000), numChars: 1, seed: 1 }],
  ] as const) {
    emit({ kind: 'cpu-per-request', model: name, request: what, cpuMs: +(await cpuPer(free, body)).toFixed(2) });
  }
  // The free plan: each slice of a 2,000-character request, and of a 1,000-character prefix.
  const budgeted = app(10);
  for (const [what, body] of [
    ['2000 characters', { prefix, numChars: 2000, temperature: 0.8, seed: 1 }],
    ['1000-character prefix', { prefix: 'the time traveller '.repeat(60).slice(0, 1000), numChars: 50, seed: 1 }],
  ] as const) {
    const first = await send(budgeted, body);
    const sliceCpu = await cpuPer(budgeted, body);
    const planned = planBudget(model, 10, [...body.prefix].length - 1, body.numChars, 1, kernel.build);
    emit({
      kind: 'free-plan-slice',
      model: name,
      request: what,
      cpuMsLimit: 10,
      planned,
      charsInFirstSlice: first.numChars,
      finishReason: first.finishReason,
      measuredCpuMs: +sliceCpu.toFixed(2),
    });
  }
}

// The first request of a new isolate: the files as the Worker fetches them, checked and decoded, the kernel compiled, one request answered.
const dir = fileURLToPath(new URL('../models/timemachine-deep-lstm-int8', import.meta.url));
const files = { modelJson: readFileSync(`${dir}/model.json`, 'utf8'), weights: new Uint8Array(readFileSync(`${dir}/weights.bin`)) };
// The generation builds as the Worker holds them, chosen among as it chooses (generationKernel).
const build = (name: string) => new Uint8Array(readFileSync(fileURLToPath(new URL(`../shared/kernel/build/${name}`, import.meta.url))));
const builds = { portable: build('kernel.wasm'), dot: build('kernel-dot.wasm'), dotAdd: build('kernel-dotadd.wasm') };
const t0 = mainCpuMs();
const w0 = performance.now();
for (let i = 0; i < 20; i++) {
  const model = await decodeArtifact(files);
  const k = await generationKernel(builds);
  const a = createApp({
    registry: new ModelRegistry([servedModel({ model, files }, workersEngine(new KernelModel(k, model), { rows: new IsolateRows(16), deadlineMs: 25_000 }))]),
    cpuMs: 10,
    kernelBuild: k.build,
  });
  await (await a.request('/v1/generate', post({ prefix: 'time traveller', numChars: 100, seed: 1 }))).arrayBuffer();
}
emit({
  kind: 'first-request',
  model: 'timemachine-deep-lstm-int8',
  what: 'decode + SHA-256 + compile and choose the kernel build + 100 characters',
  build: kernel.build,
  cpuMs: +((mainCpuMs() - t0) / 20).toFixed(1),
  wallMs: +((performance.now() - w0) / 20).toFixed(1),
});
