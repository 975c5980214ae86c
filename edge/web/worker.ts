/**
 * The Web Worker that generates in the page, off the main thread. It fetches a model artifact
 * (weights kept in the Cache API under their SHA-256, so a second visit does not download them),
 * checks it (shared/artifact), and runs generations on the WebAssembly kernel through the same
 * batched lane as the server — several elements on a page share one pooled stepper per model —
 * or, with runtime="onnx", on onnxruntime-web with the model's ONNX export (one session per
 * model). A model no element uses any more is freed.
 *
 * The element starts this worker from a Blob (its source is bundled into the element), so it
 * runs on pages of any origin; it resolves nothing against the page's URL.
 */
import { decodeArtifact, MODEL_JSON, parseModelJson, WEIGHTS_BIN } from '../../shared/artifact.ts';
import { runJobAsync } from '../../shared/batch.ts';
import { outcomeOf, sealOutcome, startEvent, type DecodeJob } from '../../shared/decode/job.ts';
import { validateGeneration } from '../../shared/decode/validate.ts';
import { createJob } from '../../shared/generate.ts';
import { base64Bytes, generationKernel, type Kernel } from '../../shared/kernel/kernel.ts';
import { KernelModel } from '../../shared/kernel/stepper.ts';
import type { Model } from '../../shared/model.ts';
import { onnxRows } from '../../shared/onnx.ts';
import { localEngine } from '../engine/engines.ts';
import type { Scheduler } from '../engine/scheduler.ts';
import { LOCAL_MODEL_SCHEME, ORT_MODULE, type FromWorker, type ModelRef, type ToWorker } from './protocol.ts';

const scope = self as unknown as { postMessage(m: FromWorker): void; onmessage: ((e: MessageEvent<ToWorker>) => void) | null };
const post = (m: FromWorker) => scope.postMessage(m);

/** Fetch, or say plainly why not (a CORS refusal and an unreachable host look the same from here). */
async function fetchOk(url: string, init?: RequestInit): Promise<Response> {
  let r: Response;
  try {
    r = await fetch(url, init);
  } catch (e) {
    throw new Error(`cannot fetch ${url}: the host is unreachable or does not allow this page's origin (CORS) (${(e as Error).message})`);
  }
  if (!r.ok) throw new Error(`cannot fetch ${url}: HTTP ${r.status}`);
  return r;
}

let kernel: Promise<Kernel> | undefined;
function loadKernel(): Promise<Kernel> {
  kernel ??= generationKernel({
    portable: base64Bytes(__DEEPRNN_KERNEL_BASE64__),
    dot: base64Bytes(__DEEPRNN_KERNEL_DOT_BASE64__),
    dotAdd: base64Bytes(__DEEPRNN_KERNEL_DOTADD_BASE64__),
  });
  return kernel;
}

const WEIGHTS_CACHE = 'deeprnn-weights-v1';
const cacheKey = (sha256: string) => `https://deeprnn.invalid/weights/${sha256}`;

/** Models made in this page (train()), by their local URL: never fetched. */
const local = new Map<string, { modelJson: string; weights: Uint8Array }>();

/** The artifact at `base`: model.json revalidated over HTTP, weights from the Cache API when their SHA-256 is there. */
async function fetchArtifact(base: string): Promise<Model> {
  const own = local.get(base);
  if (own) return decodeArtifact(own);
  if (base.startsWith(LOCAL_MODEL_SCHEME)) throw new Error(`${base} is not a model made in this page`);
  const modelJson = await (await fetchOk(base + MODEL_JSON)).text();
  const sha = parseModelJson(modelJson).weights.sha256;
  const cache = typeof caches === 'undefined' ? null : await caches.open(WEIGHTS_CACHE).catch(() => null); // no Cache API outside secure contexts
  const hit = await cache?.match(cacheKey(sha));
  if (hit) {
    try {
      return await decodeArtifact({ modelJson, weights: await hit.arrayBuffer() });
    } catch {
      await cache!.delete(cacheKey(sha)); // a damaged entry: fetch again
    }
  }
  const weights = await (await fetchOk(base + WEIGHTS_BIN)).arrayBuffer();
  const model = await decodeArtifact({ modelJson, weights }); // checks the SHA-256 before anything is cached
  await cache?.put(cacheKey(sha), new Response(weights, { headers: { 'Content-Type': 'application/octet-stream' } })).catch(() => {});
  return model;
}

interface Loaded {
  model: Model;
  kernelModel: KernelModel;
  engine: Scheduler;
  /** onnxruntime-web session, made on first use with runtime="onnx". */
  onnx: Promise<OnnxSession> | null;
}
interface OnnxSession {
  rows: ReturnType<typeof onnxRows>;
  /** Generations take the session's rows in turn. */
  turn: Promise<void>;
  release(): Promise<void>;
}

/** Models by folder URL, with how many elements (and generations in flight) hold each. */
const models = new Map<string, { loaded: Promise<Loaded>; holders: number; onnxHolders: number }>();

const folder = (url: string) => (url.endsWith('/') ? url : url + '/');

function hold(ref: ModelRef): Promise<Loaded> {
  const key = folder(ref.modelUrl);
  let m = models.get(key);
  if (!m) {
    const loaded = (async (): Promise<Loaded> => {
      const [model, k] = await Promise.all([fetchArtifact(key), loadKernel()]);
      const kernelModel = new KernelModel(k, model);
      return { model, kernelModel, engine: localEngine(kernelModel, { capacity: 8, queueSize: 256, deadlineMs: 3_600_000, ticksPerYield: 4 }), onnx: null };
    })();
    m = { loaded, holders: 0, onnxHolders: 0 };
    models.set(key, m);
    loaded.catch(() => models.delete(key)); // a failed load is retried next time
  }
  m.holders++;
  if (ref.runtime === 'onnx') m.onnxHolders++;
  return m.loaded;
}

/** Let go of a model; the last holder frees it (kernel memory and onnxruntime session). */
function unhold(ref: ModelRef): void {
  const key = folder(ref.modelUrl);
  const m = models.get(key);
  if (!m) return;
  m.holders = Math.max(0, m.holders - 1);
  if (ref.runtime === 'onnx') m.onnxHolders = Math.max(0, m.onnxHolders - 1);
  void m.loaded.then(
    async (l) => {
      if (m.onnxHolders === 0 && l.onnx) {
        const s = l.onnx;
        l.onnx = null;
        await (await s.catch(() => null))?.release();
      }
      if (m.holders === 0 && models.get(key) === m) {
        models.delete(key);
        await l.engine.close();
        l.kernelModel.dispose();
      }
    },
    () => {},
  );
}

async function onnxSession(l: Loaded, ref: ModelRef): Promise<OnnxSession> {
  l.onnx ??= (async () => {
    const ort = (await import(/* @vite-ignore */ new URL(ORT_MODULE, ref.ortBase).href)) as typeof import('onnxruntime-web/wasm');
    ort.env.wasm.wasmPaths = ref.ortBase;
    ort.env.wasm.numThreads = 1;
    const bytes = new Uint8Array(await (await fetchOk(folder(ref.modelUrl) + 'model.onnx')).arrayBuffer());
    const session = await ort.InferenceSession.create(bytes);
    return { rows: onnxRows(ort, session, l.model.arch, 16), turn: Promise.resolve(), release: () => session.release() };
  })();
  return l.onnx;
}

const cancels = new Map<number, AbortController>();

async function generate(id: number, ref: ModelRef, request: ToWorker & { type: 'generate' }): Promise<void> {
  const abort = new AbortController();
  cancels.set(id, abort);
  const l = await hold(ref);
  try {
    const g = validateGeneration(l.model, request.request);
    const start = startEvent(l.model, g);
    post({ type: 'start', id, event: start });
    if (ref.runtime === 'onnx') {
      const session = await onnxSession(l, ref);
      const job: DecodeJob = createJob(l.model, g);
      const t0 = performance.now();
      const run = session.turn.then(() =>
        runJobAsync(job, session.rows, () => {
          const tokens = job.take();
          if (tokens.length && !abort.signal.aborted) post({ type: 'tokens', id, tokens });
          return !abort.signal.aborted;
        }),
      );
      session.turn = run.catch(() => {});
      await run;
      if (!abort.signal.aborted)
        post({ type: 'done', id, result: sealOutcome(outcomeOf(job, { totalMs: Math.round(performance.now() - t0) }), undefined, g.returnContinuation) });
      return;
    }
    const gen = l.engine.generate(g, start, { stream: true, signal: abort.signal });
    for await (const tokens of gen.tokens()) if (!abort.signal.aborted) post({ type: 'tokens', id, tokens });
    const result = sealOutcome(await gen.outcome, undefined, g.returnContinuation); // a page's library signs nothing
    if (!abort.signal.aborted) post({ type: 'done', id, result });
  } finally {
    cancels.delete(id);
    unhold(ref);
  }
}

scope.onmessage = (e) => {
  const msg = e.data;
  switch (msg.type) {
    case 'cancel':
      return void cancels.get(msg.id)?.abort();
    case 'put':
      return void local.set(folder(msg.modelUrl), { modelJson: msg.modelJson, weights: msg.weights });
    case 'retain':
      return void hold(msg.ref).catch(() => {}); // errors surface on generate
    case 'release':
      return unhold(msg.ref);
    case 'stats':
      return void loadKernel().then((k) => {
        let onnxSessions = 0;
        for (const m of models.values()) if (m.onnxHolders > 0) onnxSessions++;
        post({
          type: 'stats',
          id: msg.id,
          stats: { wasmBytes: k.k.memory.buffer.byteLength, allocatedBytes: k.allocatedBytes, models: models.size, onnxSessions },
        });
      });
    case 'generate':
      return void generate(msg.id, msg.ref, msg).catch((err: Error) => {
        if (!cancels.get(msg.id)?.signal.aborted) post({ type: 'error', id: msg.id, message: err.message });
      });
  }
};
