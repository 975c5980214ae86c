/**
 * A `choice` constraint as a job: every option is scored under the model — one row each, all
 * reading the prefix's state, option i's row fed its own characters — and one is picked with
 * its probability: P(option) ∝ Π p(cᵢ | prefix, c₍<ᵢ₎), each p at the request's temperature over
 * the characters sampling draws from; top-k and top-p keep the most probable options. Greedy and
 * beam search take the most probable (beams: the best numReturn by probability; the score is the
 * summed log-probability, with no length penalty). Renormalising per character along a
 * trie would favour options whose first characters few others share; scoring whole options
 * does not. The text is always one of the options: finishReason "stop", no continuation.
 */
import type { RowOps } from '../batch.ts';
import { compileConstraint } from '../constraint/constraint.ts';
import { generateResult, type BeamResult, type FinishReason, type GeneratedToken, type GenerateResult, type StartEvent } from '../contract.ts';
import type { Model } from '../model.ts';
import { Rng } from '../rng.ts';
import { asTokenLogprobs, modelTop } from '../sampling.ts';
import { startEvent, type DecodeJob } from './job.ts';
import type { ValidatedGeneration } from './validate.ts';

interface Option {
  text: string;
  ids: number[];
  /** Σ log p of its characters (at the request's temperature when sampling; the model's own otherwise). */
  sum: number;
  tokens: GeneratedToken[];
}

export class ChoiceJob implements DecodeJob {
  readonly rows: number;
  readonly prefill: number[];
  readonly start: StartEvent;
  finished = false;
  private readonly options: Option[];
  private readonly last: number;
  /** Steps taken: option i's row has read its first `step − 1` characters. */
  private step = 0;
  private readonly longest: number;
  private readonly V: number;
  private reason: FinishReason = 'stop';
  /** [rows] each row's normaliser at this step (NaN: not yet computed). */
  private readonly norms: Float64Array;
  /** [V] 1 where sampling never draws the id (<unk>, author tags). */
  private readonly excluded: Uint8Array;
  /** Options by rank, best first, once chosen (the chosen one first). */
  private ranked: Option[] = [];
  private taken = false;

  constructor(
    private readonly model: Model,
    private readonly g: ValidatedGeneration,
  ) {
    const c = compileConstraint(g.constraint!.spec, model);
    if (c.kind !== 'choice') throw new TypeError('a ChoiceJob runs a choice constraint');
    this.options = c.options.map((o) => ({ text: o.text, ids: o.ids, sum: 0, tokens: [] }));
    this.rows = this.options.length;
    this.prefill = g.ids.slice(0, -1);
    this.last = g.ids[g.ids.length - 1];
    this.longest = g.constraint!.longest!; // the validator measured it
    this.V = model.arch.vocabSize;
    this.start = startEvent(model, g);
    this.norms = new Float64Array(this.rows);
    this.excluded = Uint8Array.from({ length: this.V }, (_, id) => (model.vocab.isSpecial(id) ? 1 : 0));
  }

  inputs(out: Int32Array, at: number): void {
    // Step 0: the prefix's last id (row 0 holds the prefix's state; the others take it after). Then each option's own characters.
    for (let i = 0; i < this.rows; i++) out[at + i] = this.step === 0 ? this.last : (this.options[i].ids[this.step - 1] ?? 0);
  }

  advance(logits: Float32Array, at: number, stride: number, ops: RowOps): boolean {
    const { vocab } = this.model;
    const { temperature } = this.g.sampling;
    const sampling = temperature > 0 && !this.g.beam;
    // Each row's normaliser once per step (at step 0 every option reads row 0).
    const norms = this.norms.fill(NaN);
    const excluded = this.excluded;
    for (let i = 0; i < this.rows; i++) {
      const o = this.options[i];
      if (this.step >= o.ids.length) continue;
      const r = this.step === 0 ? 0 : i;
      const base = at + r * stride;
      if (Number.isNaN(norms[r])) norms[r] = sampling ? temperedNorm(logits, base, this.V, temperature, excluded) : modelNorm(logits, base, this.V);
      const id = o.ids[this.step];
      const lp = sampling ? logits[base + id] / temperature - norms[r] : logits[base + id] - norms[r];
      o.sum += lp;
      if (this.g.logprobs > 0) {
        const row = logits.subarray(base, base + this.V);
        o.tokens.push({ text: vocab.tokens[id], logprob: lp, top: asTokenLogprobs(modelTop(row, this.V, this.g.logprobs, vocab.isSpecial), vocab.tokens) });
      } else o.tokens.push({ text: vocab.tokens[id] });
    }
    if (this.step === 0 && this.rows > 1) ops.gather(new Array<number>(this.rows).fill(0));
    this.step++;
    if (this.step >= this.longest) this.choose();
    return !this.finished;
  }

  /** Rank the options fully scored, and pick one. */
  private choose(): void {
    const scored = this.options.filter((o) => o.tokens.length === o.ids.length);
    // Most probable first; ties keep the order the client gave.
    const ranked = scored.map((o, k) => ({ o, k })).sort((a, b) => b.o.sum - a.o.sum || a.k - b.k);
    this.ranked = ranked.map((x) => x.o);
    const { temperature, topK, topP } = this.g.sampling;
    if (temperature > 0 && !this.g.beam && this.ranked.length > 1) {
      let kept = this.ranked.slice(0, topK ?? this.ranked.length);
      const max = kept[0].sum;
      const w = kept.map((o) => Math.exp(o.sum - max));
      const total = w.reduce((a, b) => a + b, 0);
      if (topP !== undefined && topP < 1) {
        let cum = 0;
        let n = 0;
        while (n < kept.length) {
          cum += w[n++] / total;
          if (cum >= topP) break;
        }
        kept = kept.slice(0, n);
      }
      const mass = w.slice(0, kept.length).reduce((a, b) => a + b, 0);
      let u = new Rng(this.g.seed).uniform() * mass;
      let j = kept.length - 1;
      for (let c = 0; c < kept.length; c++) {
        u -= w[c];
        if (u < 0) {
          j = c;
          break;
        }
      }
      this.ranked = [kept[j], ...this.ranked.filter((o) => o !== kept[j])];
    }
    this.finished = true;
  }

  stop(reason: FinishReason): void {
    if (this.finished) return;
    this.reason = reason;
    this.choose();
  }

  left(): null {
    return null;
  }

  take(): GeneratedToken[] {
    if (!this.finished || this.taken || this.ranked.length === 0) return [];
    this.taken = true;
    return this.ranked[0].tokens;
  }

  result(timings: { totalMs: number }): GenerateResult {
    const best = this.ranked[0];
    const beams: BeamResult[] | undefined = this.g.beam
      ? this.ranked.slice(0, this.g.beam.numReturn).map((o) => ({
          generated: o.text,
          text: this.g.prefix + o.text,
          score: o.sum,
          logprob: o.sum,
          finishReason: this.reason,
        }))
      : undefined;
    return generateResult({
      model: this.model.name,
      prefix: this.g.prefix,
      generated: best?.text ?? '',
      seed: this.g.seed,
      finishReason: this.reason,
      timings,
      author: this.g.author?.name,
      logprobs: this.g.logprobs > 0 ? (best?.tokens ?? []) : undefined,
      beams,
    });
  }
}

/** ln Σ exp(l / T) over the ids sampling draws from (excluded ones have none): ln p(id) = l[id] / T − this. */
function temperedNorm(logits: Float32Array, base: number, V: number, T: number, excluded: Uint8Array): number {
  let max = -Infinity;
  for (let j = 0; j < V; j++) if (excluded[j] === 0 && logits[base + j] > max) max = logits[base + j];
  let s = 0;
  for (let j = 0; j < V; j++) if (excluded[j] === 0) s += Math.exp((logits[base + j] - max) / T);
  return max / T + Math.log(s);
}

/** ln Σ exp(l) over every id: the model's own distribution, ln p(id) = l[id] − this. */
function modelNorm(logits: Float32Array, base: number, V: number): number {
  let max = -Infinity;
  for (let j = 0; j < V; j++) if (logits[base + j] > max) max = logits[base + j];
  let s = 0;
  for (let j = 0; j < V; j++) s += Math.exp(logits[base + j] - max);
  return max + Math.log(s);
}
