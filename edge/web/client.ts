/**
 * <deeprnn-generate>: text generation in any web page, on any origin.
 *
 *   <script type="module" src="https://your-host/static/deeprnn.js"></script>
 *   <deeprnn-generate model="https://your-host/models/books-deep-lstm" num-chars="200" temperature="0.8" autostart></deeprnn-generate>
 *
 * With `model` it generates in the page — in a Web Worker, on the WebAssembly kernel (or on
 * onnxruntime-web with runtime="onnx") — from the artifact at that URL. With `endpoint` (a
 * /v1/generate URL) it streams from a server instead, from the server's model that `model-name`
 * names (default: the server's first). Either way the characters appear as they
 * are produced, and `token`, `done` and `error` events report them. Any failure is shown in the
 * element, fires `error`, and rejects `generate()`: never a silently empty element.
 *
 * The worker's code is bundled into this module and started from a Blob URL, and the kernel is
 * bundled into the worker: browsers refuse workers from another origin's URL, and a page must
 * never resolve our files against its own URL.
 */
import {
  attributeName,
  fromStrings,
  GENERATE_FIELDS,
  type GeneratedToken,
  type GenerateRequest,
  type GenerateResult,
  type StartEvent,
} from '../../shared/contract.ts';
import { generateFromServer } from '../../shared/remote.ts';
import { generationWorker, listeners, nextRequestId, runningWorker } from './generation-worker.ts';
import { BROWSER_RUNTIMES, type BrowserRuntime, type ModelRef, type ToWorker } from './protocol.ts';

/** The contract's fields that are element attributes (`num-chars`, `top-k`, …). */
const ATTRIBUTE_FIELDS = Object.fromEntries(Object.entries(GENERATE_FIELDS).filter(([, f]) => f.element));
/**
 * onnxruntime-web's files beside this module (the server's /static/ort/). Not a literal inside
 * `new URL(…, import.meta.url)`: bundlers such as Vite would look for ./ort/ at build time, where
 * an app has none (it serves them itself and sets `ort-base`), and warn.
 */
const ORT_DIR = './ort/';
const ORT_BASE = new URL(ORT_DIR, import.meta.url).href;

export class DeeprnnGenerate extends HTMLElement {
  static observedAttributes = ['model', 'runtime', 'ort-base'];
  /** prefix + generated so far. */
  text = '';
  result: GenerateResult | null = null;
  /** The last failure's message, also shown in the element. */
  error: string | null = null;
  private readonly output: HTMLPreElement;
  private readonly errorBox: HTMLParagraphElement;
  private stopCurrent: (() => void) | null = null;
  /** The model this element holds in the worker (freed there when no element holds it). */
  private held: ModelRef | null = null;

  constructor() {
    super();
    this.output = document.createElement('pre');
    this.output.className = 'deeprnn-output';
    this.output.style.whiteSpace = 'pre-wrap';
    this.errorBox = document.createElement('p');
    this.errorBox.className = 'deeprnn-error';
    this.errorBox.setAttribute('role', 'alert');
    this.errorBox.hidden = true;
  }

  connectedCallback(): void {
    if (!this.output.isConnected) this.append(this.output, this.errorBox);
    this.hold();
    if (this.hasAttribute('autostart')) void this.generate().catch(() => {}); // shown in the element
  }

  disconnectedCallback(): void {
    this.stop();
    this.letGo();
  }

  attributeChangedCallback(): void {
    if (this.isConnected) this.hold();
  }

  /** The in-page model this element's attributes name, or null (endpoint mode, or none). */
  private modelRef(): ModelRef | null {
    const model = this.getAttribute('model');
    if (!model || this.getAttribute('endpoint')) return null;
    const runtime = (this.getAttribute('runtime') ?? 'kernel') as BrowserRuntime;
    if (!BROWSER_RUNTIMES.includes(runtime)) throw new Error(`runtime must be one of ${BROWSER_RUNTIMES.join(', ')}, got ${JSON.stringify(runtime)}`);
    return { modelUrl: new URL(model, document.baseURI).href, runtime, ortBase: new URL(this.getAttribute('ort-base') ?? ORT_BASE, document.baseURI).href };
  }

  private hold(): void {
    let ref: ModelRef | null = null;
    try {
      ref = this.modelRef();
    } catch {
      // reported by generate()
    }
    if (JSON.stringify(ref) === JSON.stringify(this.held)) return;
    this.letGo();
    if (ref) {
      try {
        generationWorker().postMessage({ type: 'retain', ref } satisfies ToWorker);
        this.held = ref;
      } catch {
        // a page that forbids workers: generate() will say so
      }
    }
  }

  private letGo(): void {
    if (this.held) runningWorker()?.postMessage({ type: 'release', ref: this.held } satisfies ToWorker);
    this.held = null;
  }

  /** The request the attributes describe (the contract's fields, by their attribute names). */
  get request(): Partial<GenerateRequest> {
    const values: Record<string, string | string[]> = {};
    for (const name of Object.keys(ATTRIBUTE_FIELDS)) {
      const v = this.getAttribute(attributeName(name));
      if (v === null || v === '') continue;
      // stop: one sequence, or a JSON array of them (["\n\n", "."]).
      values[name] = name === 'stop' && v.trim().startsWith('[') ? (JSON.parse(v) as string[]) : v;
    }
    return fromStrings(ATTRIBUTE_FIELDS, values, (f) => `attribute ${attributeName(f)}`);
  }

  stop(): void {
    this.stopCurrent?.();
    this.stopCurrent = null;
  }

  private begin(e: StartEvent): void {
    this.text = e.prefix;
    const span = document.createElement('span');
    span.className = 'deeprnn-prefix';
    span.style.opacity = '0.7'; // muted, still above 4.5:1 on the demo page's background (axe: color-contrast)
    span.textContent = e.prefix;
    this.output.replaceChildren(span);
    this.dispatchEvent(new CustomEvent('start', { detail: e }));
  }

  private tokens(tokens: GeneratedToken[]): void {
    for (const t of tokens) {
      this.text += t.text;
      this.output.append(t.text);
      this.dispatchEvent(new CustomEvent('token', { detail: t }));
    }
  }

  private finish(result: GenerateResult): GenerateResult {
    this.result = result;
    this.dispatchEvent(new CustomEvent('done', { detail: result }));
    return result;
  }

  private fail(message: string): Error {
    this.error = message;
    this.errorBox.textContent = `deeprnn: ${message}`;
    this.errorBox.hidden = false;
    this.dispatchEvent(new CustomEvent('error', { detail: { message } }));
    return new Error(message);
  }

  /** Generate once; resolves with the whole result, or rejects with the reason (also shown). */
  async generate(): Promise<GenerateResult> {
    this.stop();
    this.result = null;
    this.error = null;
    this.errorBox.hidden = true;
    try {
      const request = this.request;
      const endpoint = this.getAttribute('endpoint');
      if (endpoint) return await this.fromServer(new URL(endpoint, document.baseURI).href, request);
      const ref = this.modelRef();
      if (!ref) throw new Error('<deeprnn-generate> needs model="URL of a model folder" or endpoint="URL of /v1/generate"');
      return await this.inPage(ref, request);
    } catch (e) {
      if ((e as Error).message === 'stopped') throw e;
      throw this.fail((e as Error).message);
    }
  }

  private inPage(ref: ModelRef, request: Partial<GenerateRequest>): Promise<GenerateResult> {
    const id = nextRequestId();
    let w: Worker;
    try {
      w = generationWorker();
    } catch (e) {
      throw new Error(`cannot start the generation worker (${(e as Error).message}); a page's Content-Security-Policy must allow worker-src blob:`);
    }
    return new Promise<GenerateResult>((resolve, reject) => {
      this.stopCurrent = () => {
        w.postMessage({ type: 'cancel', id } satisfies ToWorker);
        listeners.delete(id);
        reject(new Error('stopped'));
      };
      listeners.set(id, (m) => {
        if (m.type === 'start') this.begin(m.event);
        else if (m.type === 'tokens') this.tokens(m.tokens);
        else if (m.type === 'done' || m.type === 'error') {
          listeners.delete(id);
          this.stopCurrent = null;
          if (m.type === 'done') resolve(this.finish(m.result));
          else reject(new Error(m.message));
        }
      });
      w.postMessage({ type: 'generate', id, ref, request } satisfies ToWorker);
    });
  }

  /** Streamed from a server, following its continuations (a CPU budget per request) without a seam. */
  private async fromServer(endpoint: string, request: Partial<GenerateRequest>): Promise<GenerateResult> {
    const abort = new AbortController();
    this.stopCurrent = () => abort.abort();
    const modelName = this.getAttribute('model-name') || undefined;
    const result = await generateFromServer(
      endpoint,
      { ...request, model: modelName },
      { signal: abort.signal, onStart: (e) => this.begin(e), onTokens: (t) => this.tokens(t) },
    );
    this.stopCurrent = null;
    return this.finish(result);
  }
}

if (!customElements.get('deeprnn-generate')) customElements.define('deeprnn-generate', DeeprnnGenerate);

export { registerModel, workerStats } from './generation-worker.ts';
export { train, type PageTrainRun, type TrainedFiles, type TrainInput, type TrainProgress } from './train.ts';
export { DeeprnnTrain, MAX_PAGE_TEXT_BYTES } from './train-element.ts';
