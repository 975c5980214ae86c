/**
 * <deeprnn-generate>: text generation in any web page.
 *
 *   <script type="module" src="https://your-host/static/deeprnn.js"></script>
 *   <deeprnn-generate model="https://your-host/models/timemachine-deep-lstm" prefix="time traveller" num-chars="200" autostart></deeprnn-generate>
 *
 * With `model` it generates in the page — in a Web Worker, on the WebAssembly kernel (or on
 * onnxruntime-web with runtime="onnx") — from the artifact at that URL. With `endpoint`
 * (a /v1/generate URL) it streams from a server instead. Either way the characters appear as
 * they are produced; `token` and `done` events report them.
 */
import type { GenerateOptions, GenerateResult } from '../../shared/generate.ts';
import type { BrowserRuntime, FromWorker, ToWorker } from './protocol.ts';

type Result = GenerateResult & { model: string; timings: { totalMs: number } };

const ASSETS = new URL('./', import.meta.url).href;
let worker: Worker | undefined;
let nextId = 1;
const listeners = new Map<number, (m: FromWorker) => void>();

function generationWorker(): Worker {
  if (!worker) {
    worker = new Worker(new URL('./deeprnn-worker.js', import.meta.url), { type: 'module' });
    worker.onmessage = (e: MessageEvent<FromWorker>) => listeners.get(e.data.id)?.(e.data);
  }
  return worker;
}

/** Parse a Server-Sent Events body, calling `on` for each event as it arrives. */
async function readSse(body: ReadableStream<Uint8Array>, on: (event: string, data: unknown) => void): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      on(/^event: (.*)$/m.exec(block)?.[1] ?? 'message', JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? 'null'));
    }
  }
}

export class DeeprnnGenerate extends HTMLElement {
  /** prefix + generated so far. */
  text = '';
  result: Result | null = null;
  private output: HTMLPreElement;
  private stopCurrent: (() => void) | null = null;

  constructor() {
    super();
    this.output = document.createElement('pre');
    this.output.className = 'deeprnn-output';
    this.output.style.whiteSpace = 'pre-wrap';
  }

  connectedCallback(): void {
    if (!this.output.isConnected) this.append(this.output);
    if (this.hasAttribute('autostart')) void this.generate().catch(() => {});
  }

  disconnectedCallback(): void {
    this.stop();
  }

  private num(name: string): number | undefined {
    const v = this.getAttribute(name);
    return v === null || v === '' ? undefined : Number(v);
  }

  /** The request the attributes describe. */
  get options(): GenerateOptions {
    return {
      prefix: this.getAttribute('prefix') ?? 'time traveller',
      numChars: this.num('num-chars') ?? 100,
      temperature: this.num('temperature'),
      topK: this.num('top-k'),
      topP: this.num('top-p'),
      seed: this.num('seed'),
    };
  }

  stop(): void {
    this.stopCurrent?.();
    this.stopCurrent = null;
  }

  private begin(prefix: string): void {
    this.text = prefix;
    const span = document.createElement('span');
    span.className = 'deeprnn-prefix';
    span.style.opacity = '0.6';
    span.textContent = prefix;
    this.output.replaceChildren(span);
  }

  private token(text: string): void {
    this.text += text;
    this.output.append(text);
    this.dispatchEvent(new CustomEvent('token', { detail: { text } }));
  }

  private finish(result: Result): Result {
    this.result = result;
    this.dispatchEvent(new CustomEvent('done', { detail: result }));
    return result;
  }

  /** Generate once; resolves with the whole result. */
  async generate(): Promise<Result> {
    this.stop();
    this.result = null;
    const options = this.options;
    const endpoint = this.getAttribute('endpoint');
    if (endpoint) return this.fromServer(endpoint, options);
    const model = this.getAttribute('model');
    if (!model) throw new Error('<deeprnn-generate> needs a model="URL of a model folder" or an endpoint="URL of /v1/generate"');
    return this.inPage(new URL(model, location.href).href, (this.getAttribute('runtime') as BrowserRuntime | null) ?? 'kernel', options);
  }

  private inPage(modelUrl: string, runtime: BrowserRuntime, options: GenerateOptions): Promise<Result> {
    const id = nextId++;
    const w = generationWorker();
    return new Promise<Result>((resolve, reject) => {
      this.stopCurrent = () => {
        w.postMessage({ type: 'cancel', id } satisfies ToWorker);
        listeners.delete(id);
        reject(new Error('stopped'));
      };
      listeners.set(id, (m) => {
        if (m.type === 'start') this.begin(m.prefix);
        else if (m.type === 'token') this.token(m.text);
        else {
          listeners.delete(id);
          this.stopCurrent = null;
          if (m.type === 'done') resolve(this.finish(m.result));
          else reject(new Error(m.message));
        }
      });
      w.postMessage({ type: 'generate', id, modelUrl, runtime, assetsUrl: ASSETS, options } satisfies ToWorker);
    });
  }

  private async fromServer(endpoint: string, options: GenerateOptions): Promise<Result> {
    const abort = new AbortController();
    this.stopCurrent = () => abort.abort();
    const res = await fetch(endpoint, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'text/event-stream' }, body: JSON.stringify({ ...options, stream: true }), signal: abort.signal });
    if (!res.ok || !res.body) throw new Error(((await res.json().catch(() => null)) as { error?: { message: string } } | null)?.error?.message ?? `HTTP ${res.status}`);
    let result: Result | null = null;
    await readSse(res.body, (event, data) => {
      if (event === 'start') this.begin((data as { prefix: string }).prefix);
      else if (event === 'token') this.token((data as { text: string }).text);
      else if (event === 'done') result = data as Result;
      else if (event === 'error') throw new Error((data as { error: { message: string } }).error.message);
    });
    this.stopCurrent = null;
    if (!result) throw new Error('the stream ended before its done event');
    return this.finish(result);
  }
}

if (!customElements.get('deeprnn-generate')) customElements.define('deeprnn-generate', DeeprnnGenerate);
