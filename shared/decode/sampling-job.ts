/**
 * Sampling, d2l's `predict_ch8` loop as a job: greedy at temperature 0, else temperature, top-k
 * and top-p from a seeded generator; one row. Stop sequences, log-probabilities and author tags
 * are checked character by character; a length or a CPU budget ends it with a state to go on
 * from (`left`), which the caller turns into a continuation token.
 */
import { appendTail, generateResult, TAIL_CHARS, type FinishReason, type GeneratedToken, type GenerateResult, type StartEvent } from '../contract.ts';
import type { Automaton } from '../constraint/automaton.ts';
import { compileConstraint } from '../constraint/constraint.ts';
import type { Continuation } from '../continuation.ts';
import type { Model } from '../model.ts';
import { Rng } from '../rng.ts';
import { asTokenLogprobs, choose } from '../sampling.ts';
import { atParagraphStart } from '../text.ts';
import { startEvent, type DecodeJob } from './job.ts';
import type { ValidatedGeneration } from './validate.ts';

/** Sampling (greedy at temperature 0): one row. */
export class SamplingJob implements DecodeJob {
  readonly rows = 1;
  readonly prefill: number[];
  readonly start: StartEvent;
  readonly initialState?: Float32Array;
  readonly cacheScope?: string;
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
  /** The state it leaves, set when it leaves the executor cut by a length or a budget. */
  private continuation: Continuation | null = null;
  /** Where a paragraph starts, an author tag may be chosen: only <unk> stays excluded. */
  private readonly onlyUnk: (id: number) => boolean;
  /** Under a constraint: its automaton, and the parser's state before the next choice. */
  private readonly automaton: Automaton | null = null;
  private parse = 0;
  /** Under a constraint, the exclusions above plus every character after which no match fits in what is left (made once: they read the job's state). */
  private readonly onlyUnkOrOff: (id: number) => boolean;
  private readonly specialOrOff: (id: number) => boolean;

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
    this.onlyUnkOrOff = this.onlyUnk;
    this.specialOrOff = model.vocab.isSpecial;
    this.start = startEvent(model, g);
    this.cacheScope = g.cacheScope;
    if (g.constraint) {
      const c = compileConstraint(g.constraint.spec, model);
      if (c.kind !== 'automaton') throw new TypeError('a choice runs as a ChoiceJob');
      this.automaton = c.automaton;
      this.parse = g.constraint.stacks ? c.automaton.fromStacks(g.constraint.stacks) : c.automaton.start;
      const A = c.automaton;
      const off = (id: number) => !A.allows(this.parse, id, this.g.numChars - this.count);
      this.onlyUnkOrOff = (id) => this.onlyUnk(id) || off(id);
      this.specialOrOff = (id) => model.vocab.isSpecial(id) || off(id);
      // A constraint whose only match is the empty text (or a resumed one already complete with nothing to add) is done.
      const end = A.endsAt(this.parse, g.numChars);
      if (end) this.end(end);
    }
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
    // Under a constraint, only characters after which a match still fits in what is left; at a
    // match that may go on, every character stays a candidate and one the constraint does not
    // allow there ends the text (the model's own weight of ending).
    const A = this.automaton;
    const parse = this.parse;
    const left = this.g.numChars - this.count;
    const constrained = A !== null && !A.accepting(parse);
    const excluded = tagsAllowed ? (constrained ? this.onlyUnkOrOff : this.onlyUnk) : constrained ? this.specialOrOff : vocab.isSpecial;
    const c = choose(row, this.V, this.g.sampling, this.rng, excluded, this.g.logprobs > 0 ? this.g.logprobs : -1);
    if (vocab.isSpecial(c.id)) {
      this.after = [this.g.author ? this.g.author.id : c.id];
      return true;
    }
    if (A && !A.allows(parse, c.id, left)) {
      this.end('stop');
      return false;
    }
    if (A) this.parse = A.next(parse, c.id);
    const text = vocab.tokens[c.id];
    if (this.g.logprobs > 0) {
      const token: GeneratedToken = { text, logprob: c.logprob, top: asTokenLogprobs(c.top, vocab.tokens) };
      this.out.push(token);
      this.all.push(token);
    }
    this.generated += text;
    if (this.tracksText) this.textTail = appendTail(this.textTail, text);
    if (this.tracksStops) this.stopTail = appendTail(this.stopTail, text);
    this.count++;
    this.after[0] = c.id;
    this.after.length = 1;
    const matchEnd = A ? A.endsAt(this.parse, this.g.numChars - this.count) : null;
    if (this.tracksStops && this.stopped()) this.end('stop');
    else if (matchEnd) this.end(matchEnd);
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
    if (this.automaton) c.constraint = { name: this.g.constraint!.name, stacks: this.automaton.stacks(this.parse) };
    this.continuation = c;
  }

  /** A tail as it was before generating, carried to now. */
  private tail(before: string): string {
    return appendTail(before, this.generated.slice(-TAIL_CHARS));
  }

  left(): Continuation | null {
    return this.continuation;
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
    });
  }
}
