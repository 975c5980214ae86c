/**
 * The pages at `/` and `/docs`. The demo page tries the model as a person would — prefix,
 * length, sampling knobs, author, beam search, seed — generating either in this browser (the
 * <deeprnn-generate> element and its Web Worker) or on the server (the same element reading
 * /v1/generate's event stream); it opens with settings that show what the model can do, and
 * greedy decoding one click away. `/docs` is Swagger UI over /openapi.json, served from here.
 */
import { GENERATE_FIELDS, SERVICE_LIMITS } from '../../shared/contract.ts';
import { samplePrefix } from '../../shared/decode/validate.ts';
import type { Model } from '../../shared/model.ts';
import { escapeHtml } from './html.ts';

/** What the demo page opens with: sampling, so the first text is not a greedy loop; its first text, on load, with this seed. */
export const DEMO_SETTINGS = { temperature: 0.8, topK: 20, numChars: 200, firstSeed: 1 } as const;

/** A setting's one-line hint: the first clause of its description in the contract, without its asides in parentheses. */
export function hint(field: keyof typeof GENERATE_FIELDS): string {
  const d = GENERATE_FIELDS[field].description;
  const cut = d.search(/;|\.(\s|$)/);
  return (cut > 0 ? d.slice(0, cut) : d)
    .replace(/\s*\([^)]*\)/g, '')
    .trim()
    .replace(/[,:]$/, '');
}

const label = (text: string, field: keyof typeof GENERATE_FIELDS, control: string, cls = '') =>
  `<label${cls ? ` class="${cls}"` : ''}>${text} ${control.replace(/^<(input|select)/, `<$1 aria-describedby="hint-${field}"`)}<small id="hint-${field}" class="hint">${escapeHtml(hint(field))}</small></label>`;

function modelCard(model: Model, hasPlot: boolean): string {
  const t = model.training;
  const a = model.arch;
  const rows: [string, string][] = [
    ['architecture', `${a.numLayers} × ${a.cell.toUpperCase()}, ${a.hiddenSize} hidden units, one-hot input over ${a.vocabSize} tokens`],
    ['preprocessing', model.preprocessing === 'd2l' ? 'd2l: letters and spaces, lower-case' : 'raw text: case, punctuation and line breaks kept'],
    ['weights', model.storage ?? 'float32'],
  ];
  if (model.vocab.authors.size) rows.push(['authors', [...model.vocab.authors.keys()].join(', ')]);
  if (t) {
    const hp = t.hyperparameters ?? {};
    rows.push(
      [
        'trained',
        `${t.epochs ?? '?'} epochs${t.selectedEpoch && t.selectedEpoch !== t.epochs ? ` (kept epoch ${t.selectedEpoch}, best on validation)` : ''}, ${hp.optimizer ?? '?'} lr ${hp.lr ?? '?'}, batch ${hp.batchSize ?? '?'} × ${hp.numSteps ?? '?'} steps, clip ${hp.clip ?? '?'}${hp.dropout ? `, dropout ${hp.dropout}` : ''}${hp.weightDrop ? `, weight drop ${hp.weightDrop}` : ''}`,
      ],
      ['perplexity', `train ${t.trainPerplexity ?? '?'}${t.validationPerplexity ? `, validation ${t.validationPerplexity}` : ''}`],
      ['corpus', `${(t.corpus?.files ?? []).join(', ')} (${t.corpus?.tokens ?? '?'} characters)`],
      ['engine', `${t.engine ?? '?'} (${t.backend ?? '?'}), ${t.tokensPerSecond ?? '?'} tokens/s${t.date ? `, ${t.date.slice(0, 10)}` : ''}`],
    );
  }
  const table = rows.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('');
  const plot = hasPlot
    ? `<img src="/models/${encodeURIComponent(model.name)}/perplexity.svg" alt="perplexity per epoch (train and validation)" width="560">`
    : '';
  return `<section class="card" aria-labelledby="card-title"><h2 id="card-title">Model card</h2><table>${table}</table>${plot}</section>`;
}

/** The demo page for `model`; `models` are all the served ones (a picker when there are several). */
export function demoPage(model: Model, opts: { hasPlot: boolean; nonce: string; models?: readonly string[] }): string {
  const modelUrl = `/models/${encodeURIComponent(model.name)}`;
  const authors = [...model.vocab.authors.keys()];
  const authorField = authors.length
    ? label(
        'Author',
        'author',
        `<select id="author"><option value="">(any)</option>${authors.map((a, i) => `<option value="${escapeHtml(a)}"${i === 0 ? ' selected' : ''}>${escapeHtml(a)}</option>`).join('')}</select>`,
      )
    : '';
  const models = opts.models ?? [model.name];
  // Choosing another model opens its page (its card, its sample prefix, its authors).
  const picker =
    models.length > 1
      ? `<form id="pick" method="get" action="/"><label>Model <select id="model" name="model">${models.map((m) => `<option value="${escapeHtml(m)}"${m === model.name ? ' selected' : ''}>${escapeHtml(m)}</option>`).join('')}</select></label></form>`
      : '';
  const s = DEMO_SETTINGS;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>deeprnn — ${escapeHtml(model.name)}</title>
<link rel="icon" href="/favicon.ico" sizes="16x16">
<script type="module" src="/static/deeprnn.js"></script>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 48rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
  h1 { font-size: 1.4rem; margin: 0; }
  h2 { font-size: 1.05rem; margin: 0 0 0.5rem; }
  .sub { color: #666; margin: 0.2rem 0 1.5rem; }
  form { display: grid; grid-template-columns: repeat(auto-fit, minmax(10rem, 1fr)); gap: 0.8rem; align-items: start; }
  label { display: flex; flex-direction: column; font-size: 0.85rem; color: #444; }
  .hint { color: #595959; font-size: 0.75rem; line-height: 1.25; margin-top: 0.2rem; }
  .wide { grid-column: 1 / -1; }
  input, select { font: inherit; padding: 0.35rem 0.5rem; border: 1px solid #bbb; border-radius: 4px; }
  fieldset { border: 1px solid #ddd; border-radius: 6px; display: flex; gap: 1.2rem; flex-wrap: wrap; align-items: center; }
  fieldset label { flex-direction: row; gap: 0.35rem; align-items: center; font-size: 0.95rem; }
  .buttons { display: flex; gap: 0.6rem; }
  button { font: inherit; padding: 0.45rem 1rem; border: 0; border-radius: 4px; background: #1f6feb; color: white; cursor: pointer; }
  button.secondary { background: #eef; color: #1f3b8b; border: 1px solid #bcd; }
  button:disabled { background: #8aa; }
  deeprnn-generate pre { font-family: ui-monospace, monospace; background: #f6f8fa; border: 1px solid #ddd; border-radius: 6px; padding: 1rem; min-height: 6rem; margin: 1.5rem 0 0.4rem; }
  deeprnn-generate .deeprnn-error { color: #b00020; margin: 0.5rem 0; }
  #pick { display: block; margin: 0 0 1rem; }
  #pick label { flex-direction: row; gap: 0.5rem; align-items: center; }
  #status { color: #666; font-size: 0.85rem; min-height: 1.3rem; }
  .card { margin-top: 2rem; border-top: 1px solid #eee; padding-top: 1rem; }
  .card th { text-align: left; font-weight: 500; color: #555; padding-right: 1rem; vertical-align: top; white-space: nowrap; }
  .card td { font-size: 0.92rem; }
  .card img { margin-top: 1rem; max-width: 100%; border: 1px solid #eee; }
  deeprnn-train textarea { width: 100%; box-sizing: border-box; font: 0.9rem ui-monospace, monospace; }
  deeprnn-train .deeprnn-settings { display: flex; gap: 0.8rem; flex-wrap: wrap; align-items: end; margin: 0.6rem 0; }
  deeprnn-train .deeprnn-settings label { display: flex; flex-direction: column; font-size: 0.85rem; color: #444; }
  deeprnn-train .deeprnn-status { color: #666; font-size: 0.85rem; min-height: 1.3rem; }
  deeprnn-train .deeprnn-error { color: #b00020; margin: 0.5rem 0; }
  deeprnn-train pre { font-family: ui-monospace, monospace; background: #f6f8fa; border: 1px solid #ddd; border-radius: 6px; padding: 0.6rem; white-space: pre-wrap; }
  deeprnn-train pre:empty { display: none; }
  footer { margin-top: 2rem; font-size: 0.85rem; color: #666; }
</style>
</head>
<body>
<header>
<h1>deeprnn · ${escapeHtml(model.name)}</h1>
<p class="sub">A deep recurrent character-level language model (d2l.ai, “Deep Recurrent Neural Networks”).</p>
</header>
<main>
${picker}
<form id="form" aria-label="Generation settings">
  ${label('Prefix', 'prefix', `<input id="prefix" value="${escapeHtml(samplePrefix(model))}" maxlength="${SERVICE_LIMITS.maxPrefixChars}" required>`, 'wide')}
  ${label('Characters', 'numChars', `<input id="numChars" type="number" min="1" max="${SERVICE_LIMITS.maxNumChars}" value="${s.numChars}" required>`)}
  ${label('Temperature', 'temperature', `<input id="temperature" type="number" min="0" max="${GENERATE_FIELDS.temperature.max}" step="0.1" value="${s.temperature}">`)}
  ${label('Top-k', 'topK', `<input id="topK" type="number" min="1" value="${s.topK}" placeholder="all">`)}
  ${label('Top-p', 'topP', `<input id="topP" type="number" min="0.01" max="1" step="0.01" placeholder="1">`)}
  ${label('Seed', 'seed', `<input id="seed" type="number" min="0" max="${GENERATE_FIELDS.seed.max}" placeholder="random">`)}
  ${label('Beam width', 'beamWidth', `<input id="beamWidth" type="number" min="1" max="${GENERATE_FIELDS.beamWidth.max}" value="1">`)}
  ${authorField}
  <fieldset class="wide">
    <legend>Generate</legend>
    <label><input type="radio" name="where" value="browser" checked> in the browser</label>
    <label><input type="radio" name="where" value="server"> on the server</label>
    <label>runtime <select id="runtime"><option value="kernel">WebAssembly kernel</option><option value="onnx">onnxruntime-web (ONNX)</option></select></label>
  </fieldset>
  <div class="buttons wide"><button id="go" type="submit">Generate</button><button id="greedy" class="secondary" type="button" title="temperature 0: the most likely character each time, as d2l's predict_ch8">Greedy</button></div>
</form>
<section aria-label="Generated text">
<deeprnn-generate id="gen" model="${escapeHtml(modelUrl)}"></deeprnn-generate>
<div id="status" role="status"></div>
</section>
<section class="card" id="train-section" aria-labelledby="train-title"><h2 id="train-title">Train on your text</h2>
<p class="sub">Paste a text or drop a .txt file: <code>deeprnn train</code> runs in this page, in a Web Worker, on your text alone (nothing is sent anywhere), then you can generate from your model here and download it. It stays in this browser.</p>
<deeprnn-train time-budget="2"></deeprnn-train>
</section>
${modelCard(model, opts.hasPlot)}
</main>
<footer>API: <a href="/docs">/docs</a> (OpenAPI at <a href="/openapi.json">/openapi.json</a>)</footer>
<script type="module" nonce="${escapeHtml(opts.nonce)}">
const $ = (id) => document.getElementById(id);
const gen = $('gen');
const where = () => document.querySelector('input[name=where]:checked').value;
const sync = () => ($('runtime').disabled = where() === 'server');
document.querySelectorAll('input[name=where]').forEach((r) => r.addEventListener('change', sync));
const FIELDS = [['prefix', 'prefix'], ['numChars', 'num-chars'], ['temperature', 'temperature'], ['topK', 'top-k'], ['topP', 'top-p'], ['seed', 'seed'], ['beamWidth', 'beam-width'], ['author', 'author']];
async function run(first = false) {
  const beam = Number($('beamWidth').value || 1) > 1;
  for (const [id, attr] of FIELDS) {
    const el = $(id);
    const v = el ? el.value : '';
    // Beam search is a deterministic search: the sampling knobs do not apply to it.
    if (v === '' || (beam && ['temperature', 'top-k', 'top-p'].includes(attr))) gen.removeAttribute(attr); else gen.setAttribute(attr, v);
  }
  // The text a visitor finds on arrival: the opening settings, one seed, written in this page.
  if (first) gen.setAttribute('seed', ${JSON.stringify(String(DEMO_SETTINGS.firstSeed))});
  if (where() === 'server') { gen.setAttribute('endpoint', '/v1/generate'); gen.setAttribute('model-name', ${JSON.stringify(model.name).replace(/</g, '\\u003c')}); gen.removeAttribute('model'); }
  else { gen.setAttribute('model', ${JSON.stringify(modelUrl)}); gen.removeAttribute('endpoint'); gen.setAttribute('runtime', $('runtime').value); }
  $('go').disabled = $('greedy').disabled = true;
  $('status').textContent = 'generating ' + (where() === 'server' ? 'on the server' : 'in the browser (' + $('runtime').selectedOptions[0].text + ')') + '…';
  try {
    const r = await gen.generate();
    $('status').textContent = r.numChars + ' characters (' + r.finishReason + '), seed ' + r.seed + ', ' + r.timings.totalMs + ' ms ' + (where() === 'server' ? 'on the server' : 'in the browser');
  } catch (e) {
    $('status').textContent = 'error: ' + e.message;
  } finally {
    $('go').disabled = $('greedy').disabled = false;
    document.body.dataset.done = String(Date.now());
  }
}
$('model')?.addEventListener('change', () => $('pick').submit());
$('form').addEventListener('submit', (event) => { event.preventDefault(); run(); });
$('greedy').addEventListener('click', () => { $('temperature').value = '0'; $('topK').value = ''; $('topP').value = ''; run(); });
run(true);
</script>
</body>
</html>
`;
}

/** Swagger UI, from this server's own copy (no third-party CDN, so it works offline and under CSP). */
export function docsPage(nonce: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>deeprnn API</title>
<link rel="stylesheet" href="/static/swagger/swagger-ui.css">
</head>
<body>
<main id="swagger-ui"></main>
<script src="/static/swagger/swagger-ui-bundle.js"></script>
<script nonce="${escapeHtml(nonce)}">
window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true, tryItOutEnabled: true });
</script>
</body>
</html>
`;
}
