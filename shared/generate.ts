/**
 * Generation, d2l's `predict_ch8` and what users of char-RNN tools ask for beyond it: the state
 * starts at zeros, the model warms up on the prefix (its outputs ignored), then produces up to
 * `numChars` characters, each fed back as the next input — by sampling (greedy at temperature 0)
 * or by beam search — with log-probabilities, stop sequences and an author to write as.
 *
 * A generation is a `DecodeJob`: it says which tokens to feed and what to do with the logits,
 * and never touches a stepper itself. Whoever runs it — the batched executor (shared/batch.ts)
 * on a server thread, in a Worker, in the browser, in the CLI; or onnxruntime in a page — drives
 * the same job, so every runtime picks the same characters.
 */
import { runJob } from './batch.ts';
import { beamJob } from './beam.ts';
import {
  checkRequest, generateResult, GENERATE_FIELDS, LIBRARY_LIMITS, type FinishReason, type GeneratedToken, type GenerateRequest, type GenerateResult, type Limits, type StartEvent,
} from './contract.ts';
import { OptionError } from './errors.ts';
import { KernelModel, referenceRows, type RowStepper } from './kernel/stepper.ts';
import type { Model } from './model.ts';
import { Rng } from './rng.ts';
import { asTokenLogprobs, choose, type SamplingOptions } from './sampling.ts';
import { atParagraphStart, normalizePrefix } from './text.ts';

/** A request checked against the contract and the model: everything a job needs. */
export interface ValidatedGeneration {
  /** The prefix after the model's preprocessing: what the model reads. */
  prefix: string;
  /** The ids fed before generating: the author's tag (if any), then the prefix. */
  ids: number[];
  numChars: number;
  sampling: SamplingOptions;
  seed: number;
  logprobs: number;
  /** Stop sequences after the model's preprocessing. */
  stop: string[];
  beam: { width: number; lengthPenalty: number; numReturn: number } | null;
  author?: { name: string; id: number };
}

/** The sample prefix a model was trained with (demo page, CLI and element default). */
export function samplePrefix(model: Model): string {
  const p = model.training?.samplePrefix;
  return typeof p === 'string' && p.length > 0 ? p : model.preprocessing === 'd2l' ? 'time traveller' : 'The ';
}

/**
 * The one validator of generation requests: the contract's checks (types, bounds, unknown and
 * missing fields), then what depends on the model. `surface` 'library' fills defaults (CLI,
 * element, worker); 'api' requires what the HTTP API requires.
 */
export function validateGeneration(model: Model, raw: unknown, limits: Limits = LIBRARY_LIMITS, surface: 'api' | 'library' = 'library'): ValidatedGeneration {
  const r: GenerateRequest = checkRequest(GENERATE_FIELDS, raw, limits, surface);
  const prefix = normalizePrefix(r.prefix ?? samplePrefix(model), model.preprocessing);
  const prefixChars = [...prefix].length;
  if (prefixChars === 0) throw new OptionError('prefix is empty');
  if (prefixChars > limits.maxPrefixChars) {
    throw new OptionError(`prefix must have at most ${limits.maxPrefixChars} characters as the model reads it; after its preprocessing it has ${prefixChars}`);
  }
  const beamWidth = r.beamWidth ?? 1;
  if (beamWidth > 1 && ((r.temperature ?? 0) !== 0 || r.topK !== undefined || r.topP !== undefined)) {
    throw new OptionError('beamWidth > 1 is a deterministic search: temperature, topK and topP do not apply to it');
  }
  if ((r.numReturn ?? 1) > beamWidth) throw new OptionError(`numReturn must be at most beamWidth (${beamWidth}), got ${r.numReturn}`);
  if (beamWidth === 1 && r.lengthPenalty !== undefined && r.lengthPenalty !== 1) throw new OptionError('lengthPenalty applies to beam search only (beamWidth > 1)');
  const stop = (r.stop ?? []).map((s, i) => {
    const n = normalizePrefix(s, model.preprocessing);
    const missing = [...new Set([...n].filter((c) => !model.vocab.has(c)))];
    if (n.length === 0 || missing.length > 0) {
      throw new OptionError(`stop[${i}] ${JSON.stringify(s)} can never be generated: the model has no ${missing.length ? missing.map((c) => JSON.stringify(c)).join(', ') : 'characters for it'}`);
    }
    return n;
  });
  let author: ValidatedGeneration['author'];
  if (r.author !== undefined) {
    const id = model.vocab.authors.get(r.author);
    const known = [...model.vocab.authors.keys()];
    if (id === undefined) throw new OptionError(known.length ? `author must be one of ${known.join(', ')}, got ${JSON.stringify(r.author)}` : `this model was trained without author tags, so it takes no author (got ${JSON.stringify(r.author)})`);
    author = { name: r.author, id };
  }
  const sampling: SamplingOptions = { temperature: r.temperature ?? 0 };
  if (r.topK !== undefined) sampling.topK = r.topK;
  if (r.topP !== undefined) sampling.topP = r.topP;
  const ids = model.vocab.encode(prefix);
  if (author) ids.unshift(author.id);
  return {
    prefix,
    ids,
    numChars: r.numChars ?? GENERATE_FIELDS.numChars.default,
    sampling,
    seed: r.seed ?? crypto.getRandomValues(new Uint32Array(1))[0],
    logprobs: r.logprobs ?? 0,
    stop,
    beam: beamWidth > 1 ? { width: beamWidth, lengthPenalty: r.lengthPenalty ?? 1, numReturn: r.numReturn ?? 1 } : null,
    author,
  };
}

/** Operations a job may ask of its rows between two steps. */
export interface RowOps {
  /** Its rows i take the state its rows from[i] had before the call, all at once. */
  gather(from: readonly number[]): void;
}

/**
 * Work as the executor sees it (shared/batch.ts): `rows` rows of recurrent state; `prefill` read
 * by its row 0 alone before it joins the batch (with `read` told the logits after each id, for
 * jobs that need them: scoring); then at every step one input per row, and the logits back.
 * Jobs are deterministic: the same job gives the same result on any runtime.
 */
export interface RowJob {
  readonly rows: number;
  readonly prefill: readonly number[];
  read?(index: number, logits: Float32Array): void;
  /** Write the next input of each of its rows at out[at + i]. */
  inputs(out: Int32Array, at: number): void;
  /** Its rows' logits after a step (row i at at + i · stride). Returns false once finished. */
  advance(logits: Float32Array, at: number, stride: number, ops: RowOps): boolean;
  /** Set once the job has nothing more to do. */
  readonly finished: boolean;
}

/** A generation: a `RowJob` that streams characters and ends with a `GenerateResult`. */
export interface DecodeJob extends RowJob {
  /** Characters produced since the last call, in order (for streaming). */
  take(): GeneratedToken[];
  /** End now (a deadline): the result so far. */
  stop(reason: FinishReason): void;
  /** The result, once finished. */
  result(timings: { totalMs: number }): GenerateResult;
  /** What the `start` event says. */
  readonly start: StartEvent;
}

export function startEvent(model: Model, g: ValidatedGeneration): StartEvent {
  const e: StartEvent = { model: model.name, prefix: g.prefix, seed: g.seed, numChars: g.numChars };
  if (g.author) e.author = g.author.name;
  return e;
}

/** Sampling (greedy at temperature 0): one row. */
class SamplingJob implements DecodeJob {
  readonly rows = 1;
  readonly prefill: number[];
  readonly start: StartEvent;
  finished = false;
  private next: number;
  private readonly rng: Rng;
  private generated = '';
  private count = 0;
  private reason: FinishReason = 'length';
  private readonly out: GeneratedToken[] = [];
  private readonly all: GeneratedToken[] = [];
  private readonly V: number;

  constructor(
    private readonly model: Model,
    private readonly g: ValidatedGeneration,
  ) {
    this.prefill = g.ids.slice(0, -1);
    this.next = g.ids[g.ids.length - 1];
    this.rng = new Rng(g.seed);
    this.V = model.arch.vocabSize;
    this.start = startEvent(model, g);
  }

  inputs(out: Int32Array, at: number): void {
    out[at] = this.next;
  }

  advance(logits: Float32Array, at: number): boolean {
    const { vocab, preprocessing } = this.model;
    const row = logits.subarray(at, at + this.V);
    // Author tags may be chosen where a paragraph starts; the requested author's tag is fed then.
    const tagsAllowed = this.g.author !== undefined && atParagraphStart(this.g.prefix + this.generated, preprocessing);
    const excluded = (id: number) => vocab.isSpecial(id) && !(tagsAllowed && id !== vocab.unkIndex);
    const c = choose(row, this.V, this.g.sampling, this.rng, excluded, this.g.logprobs > 0 ? this.g.logprobs : -1);
    if (vocab.isSpecial(c.id)) {
      this.next = this.g.author!.id;
      return true;
    }
    const text = vocab.tokens[c.id];
    const token: GeneratedToken = { text };
    if (this.g.logprobs > 0) {
      token.logprob = c.logprob;
      token.top = asTokenLogprobs(c.top, vocab.tokens);
    }
    this.out.push(token);
    if (this.g.logprobs > 0) this.all.push(token);
    this.generated += text;
    this.count++;
    this.next = c.id;
    if (this.g.stop.some((s) => this.generated.endsWith(s))) this.end('stop');
    else if (this.count >= this.g.numChars) this.end('length');
    return !this.finished;
  }

  private end(reason: FinishReason): void {
    this.reason = reason;
    this.finished = true;
  }

  take(): GeneratedToken[] {
    return this.out.splice(0);
  }

  stop(reason: FinishReason): void {
    if (!this.finished) this.end(reason);
  }

  result(timings: { totalMs: number }): GenerateResult {
    return generateResult({
      model: this.model.name, prefix: this.g.prefix, generated: this.generated, seed: this.g.seed, finishReason: this.reason, timings,
      author: this.g.author?.name, logprobs: this.g.logprobs > 0 ? this.all : undefined,
    });
  }
}

/** The job for a validated request: beam search when beamWidth > 1, sampling otherwise. */
export function createJob(model: Model, g: ValidatedGeneration): DecodeJob {
  return g.beam ? beamJob(model, g) : new SamplingJob(model, g);
}

/**
 * Generate in one call, synchronously (the CLI, training's sample predictions, tests): validate,
 * run the job to its end, return the result. On a `KernelModel` it borrows a pooled stepper; on
 * a `RowStepper` it uses that one; without either, the reference pass.
 */
export function predict(model: Model, request: unknown, on?: KernelModel | RowStepper, limits: Limits = LIBRARY_LIMITS): GenerateResult {
  const g = validateGeneration(model, request, limits);
  const job = createJob(model, g);
  const rows = on instanceof KernelModel ? on.acquire(job.rows) : (on ?? referenceRows(model, job.rows));
  const t0 = performance.now();
  try {
    runJob(job, rows);
  } finally {
    if (on instanceof KernelModel) on.release(rows as ReturnType<KernelModel['acquire']>);
  }
  return job.result({ totalMs: Math.round(performance.now() - t0) });
}
