/**
 * Generation, d2l's `predict_ch8`: the state starts at zeros, the model warms up on the prefix
 * (its outputs ignored), then produces `numChars` characters, each fed back as the next input.
 * The text returned includes the prefix, as in the book.
 */
import { OptionError } from './errors.ts';
import type { Model } from './model.ts';
import { beginState, referenceStep, type RecurrentState } from './reference.ts';
import { Rng } from './rng.ts';
import { sampleToken, validateSampling, type SamplingOptions } from './sampling.ts';
import { normalizePrefix } from './text.ts';

/** One recurrent step at batch 1, holding its own state: the reference pass or a faster kernel. */
export interface Stepper {
  /** Back to `begin_state` (zeros). */
  reset(): void;
  /** Feed one token; the logits over the vocabulary. The array may be reused by the next call. */
  step(token: number): Float32Array;
}

export function referenceStepper(model: Model): Stepper {
  let state: RecurrentState = beginState(model.arch);
  return {
    reset() {
      state = beginState(model.arch);
    },
    step(token) {
      const out = referenceStep(model, state, token);
      state = out.state;
      return out.logits;
    },
  };
}

/** Bounds of the library; a server may choose tighter ones. */
export const GENERATION_LIMITS = { maxNumChars: 100_000, maxPrefixChars: 10_000 } as const;

export interface GenerateOptions {
  prefix: string;
  numChars: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  /** Integer in [0, 2^32 − 1]; a random one is drawn (and returned) when absent. */
  seed?: number;
}

export interface ValidatedGeneration {
  /** The prefix after the model's preprocessing: what the model actually reads. */
  prefix: string;
  numChars: number;
  sampling: SamplingOptions;
  seed: number;
}

export interface GenerateResult {
  prefix: string;
  /** prefix + generated, as `predict_ch8` returns. */
  text: string;
  generated: string;
  numChars: number;
  seed: number;
  finishReason: 'length';
}

export function validateGenerateOptions(model: Model, o: GenerateOptions, limits: { maxNumChars: number; maxPrefixChars: number } = GENERATION_LIMITS): ValidatedGeneration {
  if (typeof o.prefix !== 'string') throw new OptionError('prefix must be a string');
  const length = [...o.prefix].length;
  if (length < 1 || length > limits.maxPrefixChars) throw new OptionError(`prefix must have 1 to ${limits.maxPrefixChars} characters, got ${length}`);
  const n = o.numChars;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > limits.maxNumChars) throw new OptionError(`numChars must be a whole number in [1, ${limits.maxNumChars}], got ${String(n)}`);
  const sampling: SamplingOptions = { temperature: o.temperature ?? 0 };
  if (o.topK !== undefined) sampling.topK = o.topK;
  if (o.topP !== undefined) sampling.topP = o.topP;
  validateSampling(sampling);
  let seed = o.seed;
  if (seed === undefined) seed = crypto.getRandomValues(new Uint32Array(1))[0];
  else if (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new OptionError(`seed must be a whole number in [0, 4294967295], got ${String(seed)}`);
  return { prefix: normalizePrefix(o.prefix, model.preprocessing), numChars: n, sampling, seed };
}

/**
 * predict_ch8's bookkeeping, for any runtime: the prefix as ids (warm-up steps, then the first
 * input), and the choice of each next character. Synchronous steppers and asynchronous ones
 * (onnxruntime) drive the same decoder, so they pick the same characters.
 */
export class Decoder {
  private readonly rng: Rng;
  /** Prefix ids fed only to build up the state; their outputs are ignored. */
  readonly warmup: number[];
  /** The last prefix id: the input of the first generation step. */
  readonly first: number;

  constructor(
    private readonly model: Model,
    private readonly g: ValidatedGeneration,
  ) {
    this.rng = new Rng(g.seed);
    const ids = model.vocab.encode(g.prefix);
    this.warmup = ids.slice(0, -1);
    this.first = ids[ids.length - 1];
  }

  /** The next token from the logits (never `<unk>`). */
  next(logits: ArrayLike<number>): number {
    return sampleToken(logits, this.g.sampling, this.rng, this.model.vocab.unkIndex);
  }

  char(token: number): string {
    return this.model.vocab.tokens[token];
  }
}

/** The generated characters one by one (the prefix is not repeated). */
export function* generateChars(model: Model, g: ValidatedGeneration, stepper: Stepper = referenceStepper(model)): Generator<string> {
  const d = new Decoder(model, g);
  stepper.reset();
  for (const t of d.warmup) stepper.step(t);
  let last = d.first;
  for (let i = 0; i < g.numChars; i++) {
    last = d.next(stepper.step(last));
    yield d.char(last);
  }
}

/** `predict_ch8`: the whole text at once. */
export function predict(model: Model, options: GenerateOptions, stepper?: Stepper): GenerateResult {
  const g = validateGenerateOptions(model, options);
  let generated = '';
  for (const c of generateChars(model, g, stepper)) generated += c;
  return { prefix: g.prefix, text: g.prefix + generated, generated, numChars: g.numChars, seed: g.seed, finishReason: 'length' };
}

/** The same, as an async iterator of characters for streaming; stop iterating to stop generating. */
export async function* streamChars(model: Model, g: ValidatedGeneration, stepper?: Stepper): AsyncGenerator<string> {
  for (const c of generateChars(model, g, stepper)) yield c;
}
