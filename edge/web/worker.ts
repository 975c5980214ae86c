/**
 * The Web Worker that generates in the page, off the main thread: it fetches a model artifact,
 * checks it (shared/artifact), and runs shared/generate on the WebAssembly kernel — or on
 * onnxruntime-web with the model's ONNX export — posting each character as it comes.
 */
import { decodeArtifact, MODEL_JSON, WEIGHTS_BIN } from '../../shared/artifact.ts';
import { Decoder, generateChars, validateGenerateOptions, type ValidatedGeneration } from '../../shared/generate.ts';
import { instantiateKernel, type Kernel } from '../../shared/kernel/kernel.ts';
import { kernelStepper, loadKernelWeights, type KernelWeights } from '../../shared/kernel/stepper.ts';
import type { Model } from '../../shared/model.ts';
import { onnxRunner } from '../../shared/onnx.ts';
import type { FromWorker, ToWorker } from './protocol.ts';

const scope = self as unknown as { postMessage(m: FromWorker): void; onmessage: ((e: MessageEvent<ToWorker>) => void) | null };
const post = (m: FromWorker) => scope.postMessage(m);
const cancelled = new Set<number>();

async function fetchOk(url: string): Promise<Response> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r;
}

let kernel: Promise<Kernel> | undefined;
const models = new Map<string, Promise<{ model: Model; weights: KernelWeights }>>();

function loadModel(modelUrl: string, assetsUrl: string) {
  let m = models.get(modelUrl);
  if (!m) {
    const base = modelUrl.endsWith('/') ? modelUrl : modelUrl + '/';
    m = (async () => {
      kernel ??= WebAssembly.compileStreaming(fetchOk(new URL('kernel.wasm', assetsUrl).href)).then((mod) => instantiateKernel(mod));
      const [json, bytes, k] = await Promise.all([fetchOk(base + MODEL_JSON).then((r) => r.text()), fetchOk(base + WEIGHTS_BIN).then((r) => r.arrayBuffer()), kernel]);
      const model = await decodeArtifact({ modelJson: json, weights: bytes });
      return { model, weights: loadKernelWeights(k, model) };
    })();
    models.set(modelUrl, m);
    m.catch(() => models.delete(modelUrl));
  }
  return m;
}

/** Let queued messages (a cancel) in between characters. */
const breathe = () => new Promise((r) => setTimeout(r, 0));

async function* kernelChars(weights: KernelWeights, g: ValidatedGeneration): AsyncGenerator<string> {
  let n = 0;
  for (const c of generateChars(weights.model, g, kernelStepper(weights))) {
    yield c;
    if (++n % 16 === 0) await breathe();
  }
}

async function* onnxChars(model: Model, modelUrl: string, assetsUrl: string, g: ValidatedGeneration): AsyncGenerator<string> {
  const ort = await import('onnxruntime-web/wasm');
  ort.env.wasm.wasmPaths = new URL('ort/', assetsUrl).href;
  ort.env.wasm.numThreads = 1;
  const session = await ort.InferenceSession.create(new Uint8Array(await (await fetchOk(`${modelUrl.replace(/\/$/, '')}/model.onnx`)).arrayBuffer()));
  const run = onnxRunner(ort, session, model.arch);
  const d = new Decoder(model, g);
  let logits = await run([...d.warmup, d.first]); // the whole prefix in one call
  for (let i = 0; i < g.numChars; i++) {
    const t = d.next(logits);
    yield d.char(t);
    if (i + 1 < g.numChars) logits = await run([t]);
  }
}

scope.onmessage = async (e) => {
  const msg = e.data;
  if (msg.type === 'cancel') return void cancelled.add(msg.id);
  const { id } = msg;
  try {
    const start = performance.now();
    const { model, weights } = await loadModel(msg.modelUrl, msg.assetsUrl);
    const g = validateGenerateOptions(model, msg.options);
    post({ type: 'start', id, model: model.name, prefix: g.prefix, seed: g.seed });
    let generated = '';
    const chars = msg.runtime === 'onnx' ? onnxChars(model, msg.modelUrl, msg.assetsUrl, g) : kernelChars(weights, g);
    for await (const text of chars) {
      if (cancelled.has(id)) return;
      generated += text;
      post({ type: 'token', id, text });
    }
    const timings = { totalMs: Math.round(performance.now() - start) };
    post({ type: 'done', id, result: { model: model.name, prefix: g.prefix, text: g.prefix + generated, generated, numChars: g.numChars, seed: g.seed, finishReason: 'length', timings } });
  } catch (err) {
    post({ type: 'error', id, message: (err as Error).message });
  } finally {
    cancelled.delete(id);
  }
};
