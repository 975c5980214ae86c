/**
 * The one validator of generation requests: a request (HTTP body, library call, CLI options, a
 * continuation token) checked against the contract and the model, and turned into the plain data
 * a decode job runs from (`ValidatedGeneration`: it crosses threads and Web Workers as is, and
 * holds no secret). Jobs live beside it: sampling-job.ts and beam-job.ts.
 */
import {
  DEFAULT_TEMPERATURE,
  appendTail,
  checkRequest,
  DEFAULT_NUM_CHARS,
  GENERATE_FIELDS,
  LIBRARY_LIMITS,
  quote,
  TAIL_CHARS,
  type GenerateRequest,
  type Limits,
} from '../contract.ts';
import { compileConstraint, shortestMatch } from '../constraint/constraint.ts';
import { constraintKind, type ConstraintSpec } from '../constraint/spec.ts';
import { checkContinuation, decodeContinuation, weightsDigest, type Continuation } from '../continuation.ts';
import { planBudget, type StepBudget } from '../cost.ts';
import { OptionError } from '../errors.ts';
import type { Kernel } from '../kernel/kernel.ts';
import type { Model } from '../model.ts';
import type { SamplingOptions } from '../sampling.ts';
import { normalizePrefix } from '../text.ts';

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
  /** What the continuation it leaves names (model, weights); null: it leaves none (beam search). Whoever finishes the job signs it. */
  token: { model: string; weightsSha256: string } | null;
  /** A result that numChars ended gets its token too (else only results a deadline or a budget cut). */
  returnContinuation: boolean;
  /**
   * The shape the text must take (shared/constraint/): the client's spec (each runtime compiles
   * it, cached), its name, and — resuming — the parser's state to go on from.
   */
  constraint?: {
    spec: ConstraintSpec;
    name: string;
    kind: 'automaton' | 'choice';
    stacks?: number[][];
    /** A choice: its options (one row each) and the longest's characters. */
    options?: number;
    longest?: number;
  };
  /** Steps a CPU budget allows this request (absent: no budget). */
  budget?: StepBudget;
  /** Whose cached prefix states the job may use (a server scopes them to the client; absent: shared). */
  cacheScope?: string;
}

/** What the runtime adds to a request's checks: its continuation secret and its CPU budget. */
export interface GenerationOptions {
  /** Accept only continuations signed with this (HMAC-SHA-256); `predict` signs the ones it returns with it. */
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
  const g = r.continuation !== undefined ? resumed(model, r, limits, o.secret) : fresh(model, r, limits);
  g.returnContinuation = r.returnContinuation ?? surface === 'library';
  if (o.cpuMs !== undefined) {
    const choice = g.constraint?.kind === 'choice' ? g.constraint : null;
    g.budget = planBudget(model, o.cpuMs, g.ids.length - 1, stepsOf(g), rowsOf(g), o.kernelBuild);
    if (choice && (g.budget.prefill < g.ids.length - 1 || g.budget.chars < choice.longest!)) {
      throw new OptionError(
        `scoring every choice cannot fit in this server's CPU budget of ${o.cpuMs} ms per request (the prefix and ${choice.longest} characters for each of the options), and a choice cannot be continued: shorten the prefix or the options, or send fewer`,
      );
    }
    if (g.beam && g.budget.prefill < g.ids.length - 1) {
      throw new OptionError(
        `beam search cannot read this prefix within this server's CPU budget of ${o.cpuMs} ms per request (at most ${g.budget.prefill} characters), and its beams cannot be continued: shorten the prefix, or sample (beamWidth 1), which continues past the budget`,
      );
    }
  }
  return g;
}

/** Rows of recurrent state a request's job holds: one per option of a choice, per beam, else one. */
export function rowsOf(g: ValidatedGeneration): number {
  return g.constraint?.kind === 'choice' ? g.constraint.options! : (g.beam?.width ?? 1);
}

/** Steps a request's job takes at most after its prefix: a choice's longest option, else numChars. */
export function stepsOf(g: ValidatedGeneration): number {
  return g.constraint?.kind === 'choice' ? g.constraint.longest! : g.numChars;
}

/** The sampler's settings from a request's (or a token's) fields; a temperature not given is the model's default. */
function samplingOf(s: { temperature?: number; topK?: number; topP?: number }, model: Model): SamplingOptions {
  const o: SamplingOptions = { temperature: s.temperature ?? DEFAULT_TEMPERATURE[model.preprocessing] };
  if (s.topK !== undefined) o.topK = s.topK;
  if (s.topP !== undefined) o.topP = s.topP;
  return o;
}

/** What a sampling generation's continuation names. */
const tokenFor = (model: Model): ValidatedGeneration['token'] => ({ model: model.name, weightsSha256: weightsDigest(model) });

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
        `stop[${i}] ${quote(raw)} can never be generated: ${model.name} cannot write ${missing.map((c) => JSON.stringify(c)).join(', ')} (its alphabet: ${model.vocab.describeAlphabet()})`,
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

function fresh(model: Model, r: GenerateRequest, limits: Limits): ValidatedGeneration {
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
          ? `author must be one of ${known.join(', ')}, got ${quote(r.author)}`
          : `this model was trained without author tags, so it takes no author (got ${quote(r.author)})`,
      );
    author = { name: r.author, id };
  }
  const ids = model.vocab.encode(prefix);
  if (author) ids.unshift(author.id);
  const numChars = r.numChars ?? GENERATE_FIELDS.numChars.default;
  const constraint = r.constraint === undefined ? undefined : constrain(model, r.constraint, numChars, r.stop, r.lengthPenalty);
  return {
    prefix,
    ids,
    numChars,
    sampling: samplingOf(r, model),
    seed: r.seed ?? crypto.getRandomValues(new Uint32Array(1))[0],
    logprobs: r.logprobs ?? 0,
    stop,
    beam: beamWidth > 1 ? { width: beamWidth, lengthPenalty: r.lengthPenalty ?? 1, numReturn: r.numReturn ?? 1 } : null,
    author,
    tails: { text: prefix.slice(-TAIL_CHARS), stop: '' },
    token: beamWidth > 1 || constraint?.kind === 'choice' ? null : tokenFor(model),
    returnContinuation: true,
    ...(constraint ? { constraint } : {}),
  };
}

/**
 * A constraint checked against the model and the length: compiled (a 400 names what is outside
 * the subset, or the characters the model cannot write), its shortest match within numChars,
 * and — resuming — the parser state the token carries.
 */
function constrain(
  model: Model,
  spec: ConstraintSpec,
  numChars: number,
  stop: readonly string[] | undefined,
  lengthPenalty: number | undefined,
  resume?: Continuation['constraint'],
): NonNullable<ValidatedGeneration['constraint']> {
  if (stop?.length) throw new OptionError('stop does not go with constraint: the constraint says where the text ends');
  const c = compileConstraint(spec, model);
  if (c.kind === 'choice') {
    if (lengthPenalty !== undefined) throw new OptionError('lengthPenalty does not go with a choice: its options are ranked by their probability');
    const i = c.options.findIndex((o) => o.ids.length > numChars);
    if (i >= 0) throw new OptionError(`constraint choice[${i}] has ${c.options[i].ids.length} characters, over numChars ${numChars}`);
    return { spec, name: c.name, kind: 'choice', options: c.options.length, longest: Math.max(...c.options.map((o) => o.ids.length)) };
  }
  const state = resume ? c.automaton.fromStacks(resume.stacks) : c.automaton.start;
  const shortest = resume ? c.automaton.minToAccept(state) : shortestMatch(c);
  if (shortest > numChars) {
    throw new OptionError(
      resume
        ? `constraint needs at least ${shortest} more characters to match from where the continuation stopped, over numChars ${numChars}`
        : `constraint has a shortest match of ${shortest} characters, over numChars ${numChars}`,
    );
  }
  return { spec, name: c.name, kind: 'automaton', ...(resume ? { stacks: resume.stacks } : {}) };
}

/** A request with a continuation: the token's settings, checked against the request's. */
function resumed(model: Model, r: GenerateRequest, limits: Limits, secret: string | undefined): ValidatedGeneration {
  const c = decodeContinuation(r.continuation!, secret, limits);
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
        `${k} is ${quote(r[k])} here and ${fixed[k] === undefined ? 'unset' : JSON.stringify(fixed[k])} in the continuation, whose settings it goes on with: leave ${k} out`,
      );
    }
  }
  const prefix = r.prefix === undefined ? '' : readPrefix(model, r.prefix, limits);
  // What a resumed request reads is held to the same bound as a fresh one's prefix.
  const unread = c.feed.length - 1;
  if (unread + [...prefix].length > limits.maxPrefixChars) {
    throw new OptionError(
      `this continuation still has ${unread} characters of its prefix to read, and with yours that is over ${limits.maxPrefixChars}: resume it without a prefix first, or send a shorter one`,
    );
  }
  const author = c.settings.author === undefined ? undefined : { name: c.settings.author, id: model.vocab.authors.get(c.settings.author)! };
  const numChars = r.numChars ?? (c.remaining > 0 ? Math.min(c.remaining, limits.maxNumChars) : DEFAULT_NUM_CHARS);
  if (c.constraint && r.constraint === undefined) {
    throw new OptionError(
      `constraint is required with this continuation: it was made under a ${c.constraint.name.split(':')[0]} constraint; send the same one`,
    );
  }
  if (!c.constraint && r.constraint !== undefined) throw new OptionError('constraint is not allowed with this continuation: it was made without one');
  if (c.constraint && r.constraint !== undefined && compileConstraint(r.constraint, model).name !== c.constraint.name) {
    throw new OptionError(
      `constraint is not the one this continuation was made under (a ${c.constraint.name.split(':')[0]} constraint; this is a ${constraintKind(r.constraint)} one): send the same constraint`,
    );
  }
  if (r.constraint !== undefined && prefix)
    throw new OptionError('prefix is not allowed with a constrained continuation: text you add would not be under the constraint');
  const constraint = r.constraint === undefined ? undefined : constrain(model, r.constraint, numChars, undefined, undefined, c.constraint);
  return {
    prefix,
    ids: [...c.feed, ...model.vocab.encode(prefix)],
    numChars,
    sampling: samplingOf(c.settings, model),
    seed: c.seed,
    logprobs: c.settings.logprobs,
    stop: c.settings.stop,
    beam: null,
    author,
    resume: { state: c.state, rng: c.rng, generated: c.generated },
    // Text the user adds starts a new stretch for the stop sequences: they match what the model writes.
    tails: prefix ? { text: appendTail(c.textTail, prefix), stop: '' } : { text: c.textTail, stop: c.stopTail },
    token: tokenFor(model),
    returnContinuation: true,
    ...(constraint ? { constraint } : {}),
  };
}
