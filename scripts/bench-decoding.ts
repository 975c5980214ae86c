/**
 * npm run bench:decoding (a measurement, not a test): greedy decoding, beam search and sampling
 * compared on held-out Wells text. Prefixes are taken from the part of The Time Machine that
 * the served model never trained on (its last tenth); each decoder continues each prefix for
 * 200 characters, and we report, per decoder:
 *   - the mean log-probability per generated character under the model (higher: likelier text)
 *   - how often the output ends in a loop (its last 120 characters repeat with a period ≤ 40)
 *   - distinct 4-grams per 4-gram (variety)
 * JSON lines. MODEL_DIR selects the model (default: the served int8 model); PREFIXES how many.
 */
import { readFile } from 'node:fs/promises';
import { predict } from '../shared/generate.ts';
import { score, type LoadedModel } from '../shared/index.ts';
import { KernelModel } from '../shared/kernel/stepper.ts';
import { DEFAULT_MODEL_DIR, loadKernelNode, readModelDir } from '../shared/platform/node.ts';
import { normalizePrefix } from '../shared/text.ts';

const modelDir = process.env.MODEL_DIR || DEFAULT_MODEL_DIR;
const count = Number(process.env.PREFIXES ?? 40);
const model = await readModelDir(modelDir);
const km = new KernelModel(await loadKernelNode(), model);
const loaded: LoadedModel = { model, kernelModel: km, dispose: () => km.dispose() };
const book = normalizePrefix(await readFile(new URL('../data/timemachine.txt', import.meta.url), 'utf8'), model.preprocessing);
const heldOut = book.slice(Math.round(book.length * 0.9));
// Prefixes of 40 characters, starting at word boundaries spread through the held-out part.
const prefixes = Array.from({ length: count }, (_, i) => {
  const at = heldOut.indexOf(' ', Math.floor(((i + 0.5) / count) * (heldOut.length - 200))) + 1;
  return heldOut.slice(at, at + 40);
});

/** The output ends in a cycle: its last 120 characters repeat with some period ≤ 40. */
const loops = (s: string) => {
  const tail = s.slice(-120);
  for (let p = 1; p <= 40; p++) if ([...tail].every((c, i) => i < p || c === tail[i - p])) return true;
  return false;
};
const distinct4 = (s: string) => {
  const grams = new Set<string>();
  for (let i = 0; i + 4 <= s.length; i++) grams.add(s.slice(i, i + 4));
  return grams.size / Math.max(1, s.length - 3);
};

const decoders: [string, object][] = [
  ['greedy', {}],
  ['beam 4', { beamWidth: 4 }],
  ['beam 8', { beamWidth: 8 }],
  ['beam 8, lengthPenalty 0', { beamWidth: 8, lengthPenalty: 0 }],
  ['sampling T=0.8, top-k 20', { temperature: 0.8, topK: 20 }],
  ['sampling T=1', { temperature: 1 }],
];
console.log(
  JSON.stringify({
    kind: 'setup',
    model: model.name,
    storage: model.storage,
    prefixes: prefixes.length,
    numChars: 200,
    heldOutCharacters: heldOut.length,
    date: new Date().toISOString(),
  }),
);
for (const [name, options] of decoders) {
  let logprob = 0;
  let chars = 0;
  let looped = 0;
  let variety = 0;
  const t0 = performance.now();
  for (const [i, prefix] of prefixes.entries()) {
    const r = predict(model, { prefix, numChars: 200, seed: i, ...options }, km);
    // Every output scored the same way, by the model's own distribution (sampling's reported
    // log-probabilities are those of its filtered distribution).
    logprob += score(loaded, { text: r.text })
      .chars.slice(-r.numChars)
      .reduce((s, c) => s + (c.logprob ?? 0), 0);
    chars += r.numChars;
    if (loops(r.generated)) looped++;
    variety += distinct4(r.generated);
  }
  console.log(
    JSON.stringify({
      kind: 'decoder',
      decoder: name,
      meanLogprobPerChar: +(logprob / chars).toFixed(4),
      loopingOutputs: `${looped}/${prefixes.length}`,
      distinct4grams: +(variety / prefixes.length).toFixed(3),
      msPerOutput: +((performance.now() - t0) / prefixes.length).toFixed(1),
    }),
  );
}
