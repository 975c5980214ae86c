/**
 * How well a model predicts a text: per-character log-probabilities (scoring: `POST /v1/score`,
 * `deeprnn score`) and perplexity over whole corpora (training's validation and
 * `deeprnn evaluate`, which are the same function: `evaluateIds`).
 */
import { checkRequest, LIBRARY_LIMITS, quote, SCORE_FIELDS, type Limits, type ScoredChar, type ScoreResult } from './contract.ts';
import { planBudget } from './cost.ts';
import { OptionError } from './errors.ts';
import type { Kernel } from './kernel/kernel.ts';
import type { RowJob } from './batch.ts';
import type { RowStepper } from './kernel/stepper.ts';
import type { Model } from './model.ts';
import { logSumExp } from './sampling.ts';
import { normalizePrefix } from './text.ts';
import type { Vocab } from './vocab.ts';

// ---- scoring one text -------------------------------------------------------------------------

export interface ValidatedScore {
  /** The text after the model's preprocessing. */
  text: string;
  chars: string[];
  /** The author's tag (if any), then the text's ids. */
  ids: number[];
  author?: string;
}

export function validateScore(
  model: Model,
  raw: unknown,
  limits: Limits = LIBRARY_LIMITS,
  surface: 'api' | 'library' = 'library',
  /** A runtime's CPU budget per request (Workers' CPU_MS): a text that cannot be read within it is refused. */
  budget: { cpuMs?: number; kernelBuild?: Kernel['build'] } = {},
): ValidatedScore {
  const r = checkRequest(SCORE_FIELDS, raw, limits, surface);
  if (r.text === undefined) throw new OptionError('text is required');
  const text = normalizePrefix(r.text, model.preprocessing);
  const chars = [...text];
  if (chars.length > limits.maxScoreChars)
    throw new OptionError(`text must have at most ${limits.maxScoreChars} characters as the model reads it; after its preprocessing it has ${chars.length}`);
  const ids = model.vocab.encode(chars);
  if (r.author !== undefined) {
    const tag = model.vocab.authors.get(r.author);
    if (tag === undefined)
      throw new OptionError(
        model.vocab.authors.size
          ? `author must be one of ${[...model.vocab.authors.keys()].join(', ')}, got ${quote(r.author)}`
          : `this model was trained without author tags, so it takes no author (got ${quote(r.author)})`,
      );
    ids.unshift(tag);
  }
  if (budget.cpuMs !== undefined) {
    const fits = planBudget(model, budget.cpuMs, ids.length, 0, 1, budget.kernelBuild).prefill;
    if (fits < ids.length) {
      throw new OptionError(
        `text is too long to score within this server's CPU budget of ${budget.cpuMs} ms per request: at most ${fits} characters (it has ${ids.length})`,
      );
    }
  }
  const v: ValidatedScore = { text, chars, ids };
  if (r.author !== undefined) v.author = r.author;
  return v;
}

/**
 * Scoring as a job: the whole text is its prefix, and the logits after each character give the
 * log-probability of the next one. It reads the text as one stream from zero state, as
 * generation reads a prefix, so the log-probabilities it reports for a text are the ones a
 * generation reports for the same characters (greedy, where the distribution is the model's).
 */
export class ScoreJob implements RowJob {
  readonly rows = 1;
  readonly prefill: number[];
  finished = false;
  private readonly logprobs: (number | null)[];
  /** Index in `chars` of the character each prefix id predicts the next of. */
  private readonly offset: number;

  constructor(
    private readonly model: Model,
    private readonly s: ValidatedScore,
  ) {
    // The last id predicts nothing: it is not fed.
    this.prefill = s.ids.slice(0, -1);
    this.offset = s.ids.length - s.chars.length; // 1 with an author tag, else 0
    this.logprobs = s.chars.map(() => null);
    if (this.prefill.length === 0) this.finished = true;
  }

  read(i: number, logits: Float32Array): void {
    const V = this.model.arch.vocabSize;
    const row = logits.subarray(0, V);
    const target = this.s.ids[i + 1];
    this.logprobs[i + 1 - this.offset] = row[target] - logSumExp(row, V);
    if (i + 1 === this.prefill.length) this.finished = true;
  }

  inputs(): void {}

  advance(): boolean {
    return false;
  }

  result(): ScoreResult {
    const { vocab } = this.model;
    let logprob = 0;
    let predicted = 0;
    let unknown = 0;
    const chars: ScoredChar[] = this.s.chars.map((text, i) => {
      const c: ScoredChar = { text, logprob: this.logprobs[i] };
      if (!vocab.has(text)) {
        c.unknown = true;
        unknown++;
      }
      if (c.logprob !== null) {
        logprob += c.logprob;
        predicted++;
      }
      return c;
    });
    const nll = predicted > 0 ? -logprob / predicted : 0;
    const out: ScoreResult = {
      model: this.model.name,
      text: this.s.text,
      chars,
      predicted,
      logprob,
      perplexity: Math.exp(nll),
      bitsPerChar: nll / Math.LN2,
      unknown,
    };
    if (this.s.author !== undefined) out.author = this.s.author;
    return out;
  }
}

// ---- perplexity of a corpus -------------------------------------------------------------------

/**
 * Characters per evaluation segment: a text is read as segments of this length, each from zero
 * state (as d2l's validation reads windows), all segments stepped together as one batch. The
 * result does not depend on the batch size or the machine.
 */
export const EVAL_SEGMENT = 1 << 16;

export interface Evaluation {
  /** Positions whose next character was predicted (author tags are read, never predicted). */
  predicted: number;
  /** Σ −ln P over them. */
  nll: number;
  /** Characters read as <unk> (ones the model never saw). */
  unknown: number;
  perplexity: number;
  bitsPerChar: number;
}

export function evaluation(nll: number, predicted: number, unknown: number): Evaluation {
  const mean = predicted > 0 ? nll / predicted : 0;
  return { predicted, nll, unknown, perplexity: Math.exp(mean), bitsPerChar: mean / Math.LN2 };
}

/** Several evaluations as one (files → overall): sums, not an average of averages. */
export function combine(parts: readonly Evaluation[]): Evaluation {
  return evaluation(
    parts.reduce((s, e) => s + e.nll, 0),
    parts.reduce((s, e) => s + e.predicted, 0),
    parts.reduce((s, e) => s + e.unknown, 0),
  );
}

/**
 * Perplexity of `ids` (a whole corpus file, or its held-out part) under the model behind
 * `stepper`, read in `EVAL_SEGMENT`-long segments from zero state, up to `stepper.capacity`
 * segments at a time. Training's validation and `deeprnn evaluate` both call this.
 */
export function evaluateIds(stepper: RowStepper, ids: ArrayLike<number>, vocab: Vocab): Evaluation {
  const V = vocab.size;
  const stride = stepper.logitsStride;
  let nll = 0;
  let predicted = 0;
  let unknown = 0;
  for (let i = 0; i < ids.length; i++) if (ids[i] === vocab.unkIndex) unknown++;
  const segments = Math.ceil(ids.length / EVAL_SEGMENT);
  for (let s0 = 0; s0 < segments; s0 += stepper.capacity) {
    const rows = Math.min(stepper.capacity, segments - s0);
    for (let r = 0; r < rows; r++) stepper.reset(r);
    const start = (r: number) => (s0 + r) * EVAL_SEGMENT;
    const end = (r: number) => Math.min(start(r) + EVAL_SEGMENT, ids.length);
    const tokens = new Int32Array(rows);
    for (let t = 0; t + 1 < EVAL_SEGMENT; t++) {
      // Rows whose segment has ended (only the last one is ever shorter) read a placeholder.
      let live = 0;
      for (let r = 0; r < rows; r++) {
        const p = start(r) + t;
        const on = p + 1 < end(r);
        tokens[r] = on ? ids[p] : 0;
        if (on) live++;
      }
      if (live === 0) break;
      const logits = stepper.step(0, tokens);
      for (let r = 0; r < rows; r++) {
        const p = start(r) + t;
        if (p + 1 >= end(r)) continue;
        const target = ids[p + 1];
        if (vocab.isSpecial(target) && target !== vocab.unkIndex) continue; // an author tag: read, not predicted
        const row = logits.subarray(r * stride, r * stride + V);
        nll += logSumExp(row, V) - row[target];
        predicted++;
      }
    }
  }
  return evaluation(nll, predicted, unknown);
}
