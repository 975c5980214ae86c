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
  checkRequest,
  DEFAULT_NUM_CHARS,
  generateResult,
  GENERATE_FIELDS,
  LIBRARY_LIMITS,
  TAIL_CHARS,
  type FinishReason,
  type GeneratedToken,
  type GenerateRequest,
  type GenerateResult,
  type Limits,
  type StartEvent,
} from './contract.ts';
import { checkContinuation, decodeContinuation, encodeContinuation, weightsDigest, type Continuation } from './continuation.ts';
import { planBudget, type StepBudget } from './cost.ts';
import { OptionError } from './errors.ts';
import type { Kernel } from './kernel/kernel.ts';
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
  /** Resuming a continuation: the state and sampler it starts from (`ids` are what it still has to read). */
  resume?: { state: Float32Array; rng: number[]; generated: number };
  /** The text the stop sequences and paragraph starts see before this generation's first character. */
  tails: { text: string; stop: string };
  /** What the continuation it returns names (model, weights) and signs with; null: none is made. */
  token: { model: string; weightsSha256: string; secret?: string } | null;
  /** Steps a CPU budget allows this request (absent: no budget). */
  budget?: StepBudget;
}

/** What the runtime adds to a request's checks: its continuation secret and its CPU budget. */
export interface GenerationOptions {
  /** Sign continuations with HMAC-SHA-256, and accept only those signed so. */
  secret?: string;
  /** CPU milliseconds a request may spend (Workers: CPU_MS); what does not fit ends with finishReason "budget". */
  cpuMs?: number;
  /** The kernel build the steps run on, which the budget's plan prices (shared/cost.ts). */
  kernelBuild?: Kernel['build'];
}

/** Fields a continuation fixes: a request may repeat them, not change them. */
const FIXED_BY_CONTINUATION = ['temperature', 'topK', 'topP', 'seed', 'stop', 'logprobs', 'author'] as const;
/** Fields that never go with a continuation. */
const NOT_WITH_CONTINUATION = ['beamWidth', 'lengthPenalty', 'numReturn'] as const;

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
export function validateGeneration(
  model: Model,
  raw: unknown,
  limits: Limits = LIBRARY_LIMITS,
  surface: 'api' | 'library' = 'library',
  o: GenerationOptions = {},
): ValidatedGeneration {
  const r: GenerateRequest = checkRequest(GENERATE_FIELDS, raw, limits, surface);
  const g = r.continuation !== undefined ? resumed(model, r, limits, o) : fresh(model, r, limits, o);
  if (o.cpuMs !== undefined) {
    g.budget = planBudget(model, o.cpuMs, g.ids.length - 1, g.numChars, g.beam?.width ?? 1, o.kernelBuild);
    if (g.beam && g.budget.prefill < g.ids.length - 1) {
      throw new OptionError(
        `beam search cannot read this prefix within this server's CPU budget of ${o.cpuMs} ms per request (at most ${g.budget.prefill} characters), and its beams cannot be continued: shorten the prefix, or sample (beamWidth 1), which continues past the budget`,
      );
    }
  }
  return g;
}

/** The sampler's settings from a request's (or a token's) fields. */
function samplingOf(s: { temperature?: number; topK?: number; topP?: number }): SamplingOptions {
  const o: SamplingOptions = { temperature: s.temperature ?? 0 };
  if (s.topK !== undefined) o.topK = s.topK;
  if (s.topP !== undefined) o.topP = s.topP;
  return o;
}

/** What a sampling generation's continuation names and signs with. */
const tokenFor = (model: Model, o: GenerationOptions): ValidatedGeneration['token'] => ({
  model: model.name,
  weightsSha256: weightsDigest(model),
  secret: o.secret,
});

/**
 * Stop sequences are matched against what the model writes, as given (NFC): never put through
 * the preprocessing, which would turn d2l's "." into a space and stop at the first word. A
 * character the model can never write makes the stop a 400 naming it and the model's alphabet.
 */
function checkStops(model: Model, stops: readonly string[]): string[] {
  return stops.map((raw, i) => {
    const s = raw.normalize('NFC');
    const missing = [...new Set([...s].filter((c) => !model.vocab.has(c)))];
    if (missing.length > 0) {
      throw new OptionError(
        `stop[${i}] ${JSON.stringify(raw)} can never be generated: ${model.name} cannot write ${missing.map((c) => JSON.stringify(c)).join(', ')} (its alphabet: ${model.vocab.describeAlphabet()})`,
      );
    }
    return s;
  });
}

/** The prefix as the model reads it, checked against the bound. */
function readPrefix(model: Model, prefix: string, limits: Limits): string {
  const p = normalizePrefix(prefix, model.preprocessing);
  const n = [...p].length;
  if (n > limits.maxPrefixChars)
    throw new OptionError(`prefix must have at most ${limits.maxPrefixChars} characters as the model reads it; after its preprocessing it has ${n}`);
  return p;
}

function fresh(model: Model, r: GenerateRequest, limits: Limits, o: GenerationOptions): ValidatedGeneration {
  const prefix = readPrefix(model, r.prefix ?? samplePrefix(model), limits);
  if (prefix.length === 0) throw new OptionError('prefix is empty');
  const beamWidth = r.beamWidth ?? 1;
  if (beamWidth > 1 && ((r.temperature ?? 0) !== 0 || r.topK !== undefined || r.topP !== undefined)) {
    throw new OptionError('beamWidth > 1 is a deterministic search: temperature, topK and topP do not apply to it');
  }
  if ((r.numReturn ?? 1) > beamWidth) throw new OptionError(`numReturn must be at most beamWidth (${beamWidth}), got ${r.numReturn}`);
  if (beamWidth === 1 && r.lengthPenalty !== undefined && r.lengthPenalty !== 1)
    throw new OptionError('lengthPenalty applies to beam search only (beamWidth > 1)');
  const stop = checkStops(model, r.stop ?? []);
  let author: ValidatedGeneration['author'];
  if (r.author !== undefined) {
    const id = model.vocab.authors.get(r.author);
    const known = [...model.vocab.authors.keys()];
    if (id === undefined)
      throw new OptionError(
        known.length
          ? `author must be one of ${known.join(', ')}, got ${JSON.stringify(r.author)}`
          : `this model was trained without author tags, so it takes no author (got ${JSON.stringify(r.author)})`,
      );
    author = { name: r.author, id };
  }
  const ids = model.vocab.encode(prefix);
  if (author) ids.unshift(author.id);
  return {
    prefix,
    ids,
    numChars: r.numChars ?? GENERATE_FIELDS.numChars.default,
    sampling: samplingOf(r),
    seed: r.seed ?? crypto.getRandomValues(new Uint32Array(1))[0],
    logprobs: r.logprobs ?? 0,
    stop,
    beam: beamWidth > 1 ? { width: beamWidth, lengthPenalty: r.lengthPenalty ?? 1, numReturn: r.numReturn ?? 1 } : null,
    author,
    tails: { text: prefix.slice(-TAIL_CHARS), stop: '' },
    token: beamWidth > 1 ? null : tokenFor(model, o),
  };
}

/** A request with a continuation: the token's settings, checked against the request's. */
function resumed(model: Model, r: GenerateRequest, limits: Limits, o: GenerationOptions): ValidatedGeneration {
  const c = decodeContinuation(r.continuation!, o.secret);
  checkContinuation(c, model);
  for (const k of NOT_WITH_CONTINUATION) if (r[k] !== undefined) throw new OptionError(`${k} is not allowed with a continuation: beam search returns none`);
  const fixed: Record<(typeof FIXED_BY_CONTINUATION)[number], unknown> = {
    temperature: c.settings.temperature,
    topK: c.settings.topK,
    topP: c.settings.topP,
    seed: c.seed,
    logprobs: c.settings.logprobs,
    author: c.settings.author,
    stop: c.settings.stop,
  };
  for (const k of FIXED_BY_CONTINUATION) {
    const asked = k === 'stop' && r.stop ? checkStops(model, r.stop) : r[k];
    if (asked !== undefined && JSON.stringify(asked) !== JSON.stringify(fixed[k])) {
      throw new OptionError(
        `${k} is ${JSON.stringify(r[k])} here and ${fixed[k] === undefined ? 'unset' : JSON.stringify(fixed[k])} in the continuation, whose settings it goes on with: leave ${k} out`,
      );
    }
  }
  const prefix = r.prefix === undefined ? '' : readPrefix(model, r.prefix, limits);
  const author = c.settings.author === undefined ? undefined : { name: c.settings.author, id: model.vocab.authors.get(c.settings.author)! };
  return {
    prefix,
    ids: [...c.feed, ...model.vocab.encode(prefix)],
    numChars: r.numChars ?? (c.remaining > 0 ? Math.min(c.remaining, limits.maxNumChars) : DEFAULT_NUM_CHARS),
    sampling: samplingOf(c.settings),
    seed: c.seed,
    logprobs: c.settings.logprobs,
    stop: c.settings.stop,
    beam: null,
    author,
    resume: { state: c.state, rng: c.rng, generated: c.generated },
    // Text the user adds starts a new stretch for the stop sequences: they match what the model writes.
    tails: prefix ? { text: (c.textTail + prefix).slice(-TAIL_CHARS), stop: '' } : { text: c.textTail, stop: c.stopTail },
    token: tokenFor(model, o),
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
  /** Set once the job has nothing more to do (a job that only reads a prefix is finished from the start). */
  readonly finished: boolean;
  /** Its row 0 starts from this state (the layout of `RowStepper.readState`) instead of zeros. */
  readonly initialState?: Float32Array;
  /** It leaves the executor, having read `read` prefill ids; `state()` reads its row 0's state then. */
  leave?(read: number, state: () => Float32Array): void;
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
  readonly initialState?: Float32Array;
  finished = false;
  /** Ids fed after the prefill, before the next choice: the next input, or what a budget left unread. */
  private after: number[];
  private readonly rng: Rng;
  private generated = '';
  private count = 0;
  /** Characters this request may generate: numChars, or fewer under a CPU budget. */
  private readonly allowed: number;
  private reason: FinishReason = 'length';
  /** Tokens with log-probabilities not yet taken (without them a token is its character: `take` cuts them from `generated`). */
  private readonly out: GeneratedToken[] = [];
  private readonly all: GeneratedToken[] = [];
  /** Code units of `generated` already taken. */
  private taken = 0;
  private readonly V: number;
  /**
   * The last TAIL_CHARS characters before the next choice, of the text read and written
   * (paragraph starts) and of the text written since the prefix (stop sequences). Kept character
   * by character only where a choice reads them — tagged models, stop sequences — and otherwise
   * made once, when a continuation needs them (the same strings: slicing commutes with appending).
   */
  private textTail: string;
  private stopTail: string;
  private readonly tracksText: boolean;
  private readonly tracksStops: boolean;
  private continuation?: string;
  /** Where a paragraph starts, an author tag may be chosen: only <unk> stays excluded. */
  private readonly onlyUnk: (id: number) => boolean;

  constructor(
    private readonly model: Model,
    private readonly g: ValidatedGeneration,
  ) {
    // A budget reads what fits of the prefix (and then generates nothing: planBudget), the rest goes on in the continuation.
    const readable = Math.min(g.ids.length - 1, g.budget?.prefill ?? Infinity);
    this.prefill = g.ids.slice(0, readable);
    this.after = g.ids.slice(readable);
    this.allowed = Math.min(g.numChars, g.budget?.chars ?? Infinity);
    // Nothing to generate within the budget: read what fits, then hand the rest on.
    if (this.allowed === 0) this.end('budget');
    this.rng = g.resume ? Rng.fromState(g.resume.rng) : new Rng(g.seed);
    if (g.resume) this.initialState = g.resume.state;
    this.textTail = g.tails.text;
    this.stopTail = g.tails.stop;
    this.tracksText = model.vocab.authors.size > 0;
    this.tracksStops = g.stop.length > 0;
    this.V = model.arch.vocabSize;
    const unk = model.vocab.unkIndex;
    this.onlyUnk = (id) => id === unk;
    this.start = startEvent(model, g);
  }

  inputs(out: Int32Array, at: number): void {
    out[at] = this.after[0];
  }

  advance(logits: Float32Array, at: number): boolean {
    const { vocab, preprocessing } = this.model;
    const row = logits.subarray(at, at + this.V);
    // Author tags may be chosen where a paragraph starts, as training put them there: the
    // requested author's tag is fed then, or with no author the tag the model chose (it picks
    // who writes the paragraph). Forbidding them there left a tagged model, which expects a tag
    // after every blank line, writing line break after line break.
    const tagsAllowed = this.tracksText && atParagraphStart(this.textTail, preprocessing);
    const c = choose(row, this.V, this.g.sampling, this.rng, tagsAllowed ? this.onlyUnk : vocab.isSpecial, this.g.logprobs > 0 ? this.g.logprobs : -1);
    if (vocab.isSpecial(c.id)) {
      this.after = [this.g.author ? this.g.author.id : c.id];
      return true;
    }
    const text = vocab.tokens[c.id];
    if (this.g.logprobs > 0) {
      const token: GeneratedToken = { text, logprob: c.logprob, top: asTokenLogprobs(c.top, vocab.tokens) };
      this.out.push(token);
      this.all.push(token);
    }
    this.generated += text;
    if (this.tracksText) this.textTail = (this.textTail + text).slice(-TAIL_CHARS);
    if (this.tracksStops) this.stopTail = (this.stopTail + text).slice(-TAIL_CHARS);
    this.count++;
    this.after[0] = c.id;
    this.after.length = 1;
    if (this.tracksStops && this.stopped()) this.end('stop');
    else if (this.count >= this.g.numChars) this.end('length');
    else if (this.count >= this.allowed) this.end('budget');
    return !this.finished;
  }

  private stopped(): boolean {
    for (const s of this.g.stop) if (this.stopTail.endsWith(s)) return true;
    return false;
  }

  private end(reason: FinishReason): void {
    this.reason = reason;
    this.finished = true;
  }

  leave(read: number, state: () => Float32Array): void {
    if (!this.finished || this.reason === 'stop' || !this.g.token) return;
    const c: Continuation = {
      model: this.g.token.model,
      weightsSha256: this.g.token.weightsSha256,
      seed: this.g.seed,
      rng: this.rng.getState(),
      feed: [...this.prefill.slice(read), ...this.after],
      generated: (this.g.resume?.generated ?? 0) + this.count,
      remaining: this.reason === 'length' ? 0 : this.g.numChars - this.count,
      settings: { ...this.g.sampling, stop: this.g.stop, logprobs: this.g.logprobs, ...(this.g.author ? { author: this.g.author.name } : {}) },
      textTail: this.tracksText ? this.textTail : this.tail(this.textTail),
      stopTail: this.tracksStops ? this.stopTail : this.tail(this.stopTail),
      state: state(),
    };
    this.continuation = encodeContinuation(c, this.g.token.secret);
  }

  /** A tail as it was before generating, carried to now. */
  private tail(before: string): string {
    return (before + this.generated.slice(-TAIL_CHARS)).slice(-TAIL_CHARS);
  }

  take(): GeneratedToken[] {
    if (this.g.logprobs > 0) return this.out.splice(0);
    // Every generated token is one character (a vocabulary's printable tokens are), so the text since the last take is its tokens.
    const fresh = this.generated.slice(this.taken);
    this.taken = this.generated.length;
    return Array.from(fresh, (text) => ({ text }));
  }

  stop(reason: FinishReason): void {
    if (!this.finished) this.end(reason);
  }

  result(timings: { totalMs: number }): GenerateResult {
    return generateResult({
      model: this.model.name,
      prefix: this.g.prefix,
      generated: this.generated,
      seed: this.g.seed,
      finishReason: this.reason,
      timings,
      author: this.g.author?.name,
      logprobs: this.g.logprobs > 0 ? this.all : undefined,
      continuation: this.continuation,
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
export function predict(
  model: Model,
  request: unknown,
  on?: KernelModel | RowStepper,
  limits: Limits = LIBRARY_LIMITS,
  o: GenerationOptions = {},
): GenerateResult {
  const g = validateGeneration(model, request, limits, 'library', o);
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
