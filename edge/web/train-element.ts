/**
 * <deeprnn-train>: train a model in the page on the visitor's own text, then generate from it.
 *
 *   <script type="module" src="https://your-host/static/deeprnn.js"></script>
 *   <deeprnn-train time-budget="2"></deeprnn-train>
 *
 * Paste a text or drop a .txt file, choose the time budget (and the size, or leave it to the
 * sizing rule, which measures the visitor's machine: trainer/sizing.ts), and train: `deeprnn
 * train` runs in a Web Worker (train.ts), a live perplexity chart (SVG, trainer/plot.ts) and a sample after
 * each validation show how it goes, Stop keeps the best model so far. The finished model is
 * generated from right there (<deeprnn-generate> on it), downloaded as the two files `deeprnn
 * train` writes, and kept in IndexedDB, so it is still there after a reload. Any of `deeprnn
 * train`'s options that a page can use is an attribute (`seed`, `epochs`, `batch-size`, …; --hidden
 * is `hidden-units`, since `hidden` is HTML's own attribute that hides an element).
 * Failures are shown in the element, fire `error` and reject `train()`; `progress` and `done`
 * events report the run.
 */
import { camelName } from '../../trainer/options.ts';
import type { TrainProgress } from '../../trainer/library.ts';
import { LIBRARY_TRAIN_OPTIONS } from '../../trainer/library-options.ts';
import { registerModel } from './generation-worker.ts';
import { escapeHtml } from './html.ts';
import { train, type PageTrainRun, type TrainedFiles } from './train.ts';

/** The most text a page trains on: ~7 bytes of memory per character go with it (the CLI has no such bound). */
export const MAX_PAGE_TEXT_BYTES = 32 * 1024 * 1024;
const DB = 'deeprnn';
const STORE = 'trained';

interface Saved {
  modelJson: string;
  weights: Uint8Array;
  savedAt: string;
}

function idb<T>(mode: IDBTransactionMode, op: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open(DB, 1);
    open.onupgradeneeded = () => open.result.createObjectStore(STORE);
    open.onerror = () => reject(open.error ?? new Error('IndexedDB is not available'));
    open.onsuccess = () => {
      const tx = open.result.transaction(STORE, mode);
      const req = op(tx.objectStore(STORE));
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error ?? new Error('IndexedDB request failed'));
      tx.oncomplete = () => open.result.close();
    };
  });
}

/** An option's attribute: its CLI name, but --hidden, whose name HTML already gives a meaning. */
const attributeOf = (option: string) => (option === 'hidden' ? 'hidden-units' : option);

export class DeeprnnTrain extends HTMLElement {
  /** Progress so far: epochs, and points within them. */
  readonly points: { epoch: number; perplexity: number; validationPerplexity: number | null }[] = [];
  /** The trained (or restored) model, and the URL <deeprnn-generate> reads it at. */
  files: TrainedFiles | null = null;
  modelUrl: string | null = null;
  error: string | null = null;
  private run: PageTrainRun | null = null;
  private built = false;
  private dropped: { name: string; bytes: Uint8Array } | null = null;
  private chartAt = 0;

  connectedCallback(): void {
    if (this.built) return;
    this.built = true;
    const v = (name: string, d: string) => escapeHtml(this.getAttribute(name) ?? d);
    this.innerHTML = `
<div class="deeprnn-train">
  <textarea class="deeprnn-text" rows="8" placeholder="Paste a text to train on, or drop a .txt file here (UTF-8)"></textarea>
  <div class="deeprnn-file"></div>
  <div class="deeprnn-settings">
    <label>Hidden units <input class="deeprnn-hidden" type="number" min="1" max="4096" placeholder="auto" value="${v('hidden-units', '')}"></label>
    <label>Layers <input class="deeprnn-layers" type="number" min="1" max="16" placeholder="auto" value="${v('layers', '')}"></label>
    <label>Time budget (minutes) <input class="deeprnn-budget" type="number" min="0.05" step="0.5" value="${v('time-budget', '2')}"></label>
    <button class="deeprnn-go" type="button">Train</button>
    <button class="deeprnn-stop" type="button" disabled>Stop</button>
  </div>
  <div class="deeprnn-status" role="status"></div>
  <div class="deeprnn-error" role="alert" hidden></div>
  <div class="deeprnn-chart"></div>
  <pre class="deeprnn-sample"></pre>
  <div class="deeprnn-result" hidden>
    <p><button class="deeprnn-generate-go" type="button">Generate from this model</button>
    <a class="deeprnn-dl-json" download="model.json">model.json</a> · <a class="deeprnn-dl-weights" download="weights.bin">weights.bin</a></p>
    <deeprnn-generate num-chars="200" temperature="0.8"></deeprnn-generate>
  </div>
</div>`;
    this.q('.deeprnn-go').addEventListener('click', () => void this.train().catch(() => {}));
    this.q('.deeprnn-stop').addEventListener('click', () => this.stop());
    this.q('.deeprnn-generate-go').addEventListener(
      'click',
      () => void (this.q('deeprnn-generate') as HTMLElement & { generate(): Promise<unknown> }).generate().catch(() => {}),
    );
    this.addEventListener('dragover', (e) => e.preventDefault());
    this.addEventListener('drop', (e) => {
      e.preventDefault();
      const file = e.dataTransfer?.files[0];
      if (file) void this.useFile(file);
    });
    void this.restore();
  }

  private q<T extends Element = HTMLElement>(sel: string): T {
    return this.querySelector(sel) as T;
  }

  /** A dropped (or chosen) file: its bytes, checked as UTF-8 by the trainer. */
  async useFile(file: File): Promise<void> {
    if (file.size > MAX_PAGE_TEXT_BYTES)
      return void this.fail(
        `${file.name} is ${(file.size / 2 ** 20).toFixed(1)} MiB; a page trains on at most ${MAX_PAGE_TEXT_BYTES / 2 ** 20} MiB (train larger texts with deeprnn train)`,
      );
    this.dropped = {
      name:
        file.name
          .replace(/\.[^.]*$/, '')
          .replace(/[^A-Za-z0-9_.-]/g, '-')
          .replace(/^[^A-Za-z0-9]+/, '') || 'text',
      bytes: new Uint8Array(await file.arrayBuffer()),
    };
    this.q('.deeprnn-file').textContent = `${file.name}: ${file.size.toLocaleString()} bytes`;
    (this.q('.deeprnn-text') as HTMLTextAreaElement).value = '';
  }

  private fail(message: string): Error {
    this.error = message;
    const box = this.q('.deeprnn-error');
    box.textContent = message;
    box.hidden = false;
    this.dispatchEvent(new CustomEvent('error', { detail: { message } }));
    return new Error(message);
  }

  /** The options: the size and budget fields, then any of deeprnn train's options given as attributes. */
  private options(): Record<string, unknown> {
    const o: Record<string, unknown> = {};
    for (const name of LIBRARY_TRAIN_OPTIONS) {
      if (!this.hasAttribute(attributeOf(name))) continue;
      const a = this.getAttribute(attributeOf(name))!;
      o[camelName(name)] = a === '' ? true : a;
    }
    const num = (sel: string) => (this.q(sel) as HTMLInputElement).value.trim();
    // An empty size field is the sizing rule's to fill (trainer/sizing.ts), as a left-out option is.
    for (const [key, sel] of [
      ['hidden', '.deeprnn-hidden'],
      ['layers', '.deeprnn-layers'],
      ['timeBudget', '.deeprnn-budget'],
    ] as const) {
      if (num(sel) === '') delete o[key];
      else o[key] = num(sel);
    }
    return o;
  }

  /** Train on the text; resolves with the model's files (or rejects with the reason, also shown). */
  async train(): Promise<TrainedFiles> {
    if (this.run) throw new Error('already training');
    this.error = null;
    this.q('.deeprnn-error').hidden = true;
    const text = (this.q('.deeprnn-text') as HTMLTextAreaElement).value;
    if (!this.dropped && text.trim() === '') throw this.fail('paste a text or drop a .txt file first');
    if (new Blob([text]).size > MAX_PAGE_TEXT_BYTES)
      throw this.fail(`the text is over ${MAX_PAGE_TEXT_BYTES / 2 ** 20} MiB: a page trains on at most that (train larger texts with deeprnn train)`);
    const corpus = this.dropped && text.trim() === '' ? [this.dropped] : text;
    this.points.length = 0;
    this.q('.deeprnn-chart').innerHTML = '';
    this.q('.deeprnn-sample').textContent = '';
    this.setRunning(true);
    const status = this.q('.deeprnn-status');
    status.textContent = 'starting…';
    this.run = train({
      corpus,
      ...this.options(),
      onProgress: (p) => this.progress(p),
    });
    try {
      const files = await this.run.result;
      status.textContent = `done (${files.stoppedBy}): validation perplexity ${this.bestValidation()?.toFixed(2) ?? '–'}, ${files.engine ? `${files.engine} (${files.backend})` : files.backend}`;
      await this.show(files);
      await idb('readwrite', (s) =>
        s.put({ modelJson: files.modelJson, weights: files.weights, savedAt: new Date().toISOString() } satisfies Saved, 'last'),
      ).catch(() => {});
      this.dispatchEvent(new CustomEvent('done', { detail: files }));
      return files;
    } catch (e) {
      status.textContent = '';
      throw this.fail((e as Error).message);
    } finally {
      this.run = null;
      this.setRunning(false);
      void this.chart(true);
    }
  }

  /** Stop after the current window: the run ends with the best model so far. */
  stop(): void {
    this.run?.stop();
  }

  private setRunning(on: boolean): void {
    (this.q('.deeprnn-go') as HTMLButtonElement).disabled = on;
    (this.q('.deeprnn-stop') as HTMLButtonElement).disabled = !on;
  }

  private bestValidation(): number | null {
    const v = this.points.map((p) => p.validationPerplexity).filter((x): x is number => x !== null);
    return v.length ? Math.min(...v) : null;
  }

  private progress(p: TrainProgress): void {
    const at = p.kind === 'epoch' ? p.epoch : p.epoch - 1 + p.window / Math.max(1, p.windows);
    if (p.kind === 'epoch' || performance.now() - this.chartAt > 1000)
      this.points.push({ epoch: +at.toFixed(3), perplexity: p.perplexity, validationPerplexity: p.kind === 'epoch' ? p.validationPerplexity : null });
    const left = p.secondsLeft === null ? '' : `, ${Math.ceil(p.secondsLeft)} s left`;
    this.q('.deeprnn-status').textContent =
      `epoch ${at.toFixed(2)}: perplexity ${p.perplexity.toFixed(2)}${p.validationPerplexity !== null ? `, validation ${p.validationPerplexity.toFixed(2)}` : ''}, ${p.tokensPerSecond.toLocaleString()} characters/s${left} on ${p.engine}`;
    if (p.sample) this.q('.deeprnn-sample').textContent = p.sample;
    this.dispatchEvent(new CustomEvent('progress', { detail: p }));
    void this.chart(false);
  }

  /** Redraw the chart at most once a second while training (trainer/plot.ts, loaded on first use). */
  private async chart(force: boolean): Promise<void> {
    if (!force && performance.now() - this.chartAt < 1000) return;
    this.chartAt = performance.now();
    if (this.points.length < 2) return;
    try {
      const { perplexityPlot } = await import('../../trainer/plot.ts');
      this.q('.deeprnn-chart').innerHTML = await perplexityPlot(this.points, 'perplexity', { width: 480, height: 220 });
    } catch (e) {
      this.q('.deeprnn-chart').textContent = `(no chart: ${(e as Error).message})`;
    }
  }

  /** Offer a model: generate from it, download its two files. */
  private async show(files: TrainedFiles): Promise<void> {
    this.files = files;
    this.modelUrl = await registerModel(files);
    const gen = this.q('deeprnn-generate');
    gen.setAttribute('model', this.modelUrl);
    const link = (sel: string, data: BlobPart, type: string) => {
      const a = this.q<HTMLAnchorElement>(sel);
      if (a.href.startsWith('blob:')) URL.revokeObjectURL(a.href);
      a.href = URL.createObjectURL(new Blob([data], { type }));
    };
    link('.deeprnn-dl-json', files.modelJson, 'application/json');
    link('.deeprnn-dl-weights', new Uint8Array(files.weights), 'application/octet-stream');
    this.q('.deeprnn-result').hidden = false;
  }

  /** The model trained last on this site, from IndexedDB. */
  private async restore(): Promise<void> {
    const saved = await idb<Saved | undefined>('readonly', (s) => s.get('last') as IDBRequest<Saved | undefined>).catch(() => undefined);
    if (!saved || this.files) return;
    await this.show({ modelJson: saved.modelJson, weights: saved.weights, stoppedBy: 'restored', engine: '', backend: '' });
    this.q('.deeprnn-status').textContent = `your model from ${saved.savedAt.slice(0, 16).replace('T', ' ')} (kept in this browser)`;
  }
}

if (!customElements.get('deeprnn-train')) customElements.define('deeprnn-train', DeeprnnTrain);
