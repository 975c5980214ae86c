/**
 * The generation contract, declared once: every request field with its type, bounds, default and
 * description; the shapes of results and events; the validator. The HTTP schemas (zod, OpenAPI),
 * the CLI's options, the element's attributes and the browser worker's messages are all derived
 * from these tables, so a bound or a name changes in one place.
 */
import { checkConstraintShape, CONSTRAINT_SHAPE, type ConstraintSpec } from './constraint/spec.ts';
import { OptionError } from './errors.ts';

/** Bounds of the library and the CLI. */
export const LIBRARY_LIMITS = { maxPrefixChars: 10_000, maxNumChars: 100_000, maxScoreChars: 10_000_000 } as const;
/** Bounds of the HTTP API: tighter, to keep one request inside a Workers CPU budget. */
export const SERVICE_LIMITS = {
  maxPrefixChars: 1000,
  maxNumChars: 2000,
  maxScoreChars: 10_000,
  maxBodyBytes: 16 * 1024,
  maxScoreBodyBytes: 64 * 1024,
} as const;
export interface Limits {
  maxPrefixChars: number;
  maxNumChars: number;
  maxScoreChars: number;
}

export const MAX_SEED = 0xffffffff;
export const MAX_TEMPERATURE = 100;
export const MAX_LOGPROBS = 10;
export const MAX_STOP_SEQUENCES = 4;
export const MAX_STOP_CHARS = 32;
/** The last characters a generation keeps of its text: enough for a stop sequence and a paragraph start. */
export const TAIL_CHARS = MAX_STOP_CHARS + 2;
/** `tail` with `text` written after it, cut to TAIL_CHARS. */
export const appendTail = (tail: string, text: string): string => (tail + text).slice(-TAIL_CHARS);
export const MAX_BEAM_WIDTH = 16;
export const LENGTH_PENALTY_RANGE = [-10, 10] as const;
/**
 * The model folder (from the repository's root) that `npm start`, `deeprnn generate` and a plain
 * `wrangler dev` serve unless MODEL_DIR says otherwise: shared/platform/node.ts explains the choice.
 */
export const DEFAULT_MODEL = 'models/books-deep-lstm-int8';
/** Characters a request generates when it does not say (d2l's `predict_ch8(…, 50, …)`). */
export const DEFAULT_NUM_CHARS = 50;
/** The longest continuation token read: a state of ~17,000 floats (e.g. 4 LSTM layers of 2,048). */
export const MAX_CONTINUATION_CHARS = 96 * 1024;
/** The most a POST /v1/generate body may hold: its fields, and room for a continuation token beside them. */
export const GENERATE_BODY_BYTES = SERVICE_LIMITS.maxBodyBytes + MAX_CONTINUATION_CHARS;

/**
 * Why a generation ended: `length` (numChars reached), `stop` (a stop sequence was generated),
 * `deadline` (the server's per-request time limit), `budget` (the server's CPU budget per
 * request: the rest follows from the continuation).
 */
export type FinishReason = 'length' | 'stop' | 'deadline' | 'budget';
export const FINISH_REASONS: readonly FinishReason[] = ['length', 'stop', 'deadline', 'budget'];

// ---------------------------------------------------------------------------------------------
// Fields

type LimitKey = keyof Limits;
interface FieldBase {
  description: string;
  /** In the HTTP API: required, optional, or not a field there (CLI-only knobs have none). */
  api: 'required' | 'optional' | 'absent';
  /** A required field that may be left out when this other field is given. */
  unless?: string;
  /** Its CLI option's name when that is not the field's name in kebab-case. */
  option?: string;
  /** Also a CLI option (`--kebab-case`) and an element attribute (`kebab-case`). */
  cli: boolean;
  element: boolean;
  /** For the OpenAPI document: the examples of all fields together make one valid request. */
  example?: unknown;
}
export type FieldSpec = FieldBase &
  (
    | { kind: 'string'; maxChars: LimitKey | number; default?: string; pattern?: string }
    | { kind: 'integer'; min: number; max: LimitKey | number; default?: number }
    | { kind: 'number'; min: number; max: number; exclusiveMin?: boolean; default?: number }
    | { kind: 'boolean'; default?: boolean }
    | { kind: 'strings'; maxItems: number; maxChars: number }
    | { kind: 'constraint' }
  );

/** A request's temperature when it gives none, by the model's preprocessing (shared/text.ts). */
export const DEFAULT_TEMPERATURE = { raw: 1, d2l: 0 } as const;

/** The served model a request names (a server may serve several); absent: the server's first. */
const MODEL_FIELD = {
  kind: 'string',
  maxChars: 128,
  api: 'optional',
  cli: false,
  element: false,
  example: 'timemachine-deep-lstm',
  description: 'Which of the served models to use, by name (GET /v1/models lists them). Default: the first one the server lists.',
} as const satisfies FieldSpec;

export const GENERATE_FIELDS = {
  prefix: {
    kind: 'string',
    maxChars: 'maxPrefixChars',
    api: 'required',
    unless: 'continuation',
    cli: true,
    element: true,
    example: 'time traveller',
    description:
      "Text the model warms up on, put through the model's preprocessing (d2l models: letters only, lower-case); the bound applies to what the model reads. Defaults, outside the HTTP API, to the sample prefix stored with the model. With a continuation: optional, text the model reads after where it stopped, before it goes on (co-writing).",
  },
  numChars: {
    kind: 'integer',
    min: 1,
    max: 'maxNumChars',
    default: DEFAULT_NUM_CHARS,
    api: 'required',
    unless: 'continuation',
    cli: true,
    element: true,
    example: 50,
    description:
      'Characters to generate at most (fewer when a stop sequence ends the text). With a continuation: optional, default the characters its request still wanted (else 50).',
  },
  temperature: {
    kind: 'number',
    min: 0,
    max: MAX_TEMPERATURE,
    api: 'optional',
    cli: true,
    element: true,
    example: 0.8,
    description: `0 is greedy (the likeliest character each time), higher samples more freely; default: the model's — ${DEFAULT_TEMPERATURE.raw} for raw-text models (as OpenAI's), ${DEFAULT_TEMPERATURE.d2l} for models of d2l's letters-only text (greedy, as d2l's predict_ch8). Greedy text from a raw-text model soon repeats a phrase.`,
  },
  topK: {
    kind: 'integer',
    min: 1,
    max: 1 << 20,
    api: 'optional',
    cli: true,
    element: true,
    description: 'Sample only among the k most likely characters.',
  },
  topP: {
    kind: 'number',
    min: 0,
    max: 1,
    exclusiveMin: true,
    api: 'optional',
    cli: true,
    element: true,
    description: 'Sample only from the smallest set of characters whose probability reaches p.',
  },
  seed: {
    kind: 'integer',
    min: 0,
    max: MAX_SEED,
    api: 'optional',
    cli: true,
    element: true,
    description: 'Same seed, same text (in Node, Workers and browsers). Drawn at random when absent, and returned.',
  },
  stop: {
    kind: 'strings',
    maxItems: MAX_STOP_SEQUENCES,
    maxChars: MAX_STOP_CHARS,
    api: 'optional',
    cli: true,
    element: true,
    example: ['\n\n', '.'],
    description: `Up to ${MAX_STOP_SEQUENCES} sequences of 1 to ${MAX_STOP_CHARS} characters: generation ends as soon as the generated text ends with one of them (finishReason "stop"). The stop sequence is kept at the end of the text. Matched against what the model writes, as given (never through its preprocessing): a character the model cannot write is refused, naming its alphabet (GET /v1/models lists each model's tokens).`,
  },
  logprobs: {
    kind: 'integer',
    min: 0,
    max: MAX_LOGPROBS,
    default: 0,
    api: 'optional',
    cli: true,
    element: false,
    example: 3,
    description: `For each generated character, its natural-log probability and the ${MAX_LOGPROBS} at most most likely alternatives (0: none). Sampling reports the distribution actually drawn from (after temperature, top-k and top-p, renormalised, <unk> and author tags excluded); greedy and beam search report the model's own distribution.`,
  },
  beamWidth: {
    kind: 'integer',
    min: 1,
    max: MAX_BEAM_WIDTH,
    default: 1,
    api: 'optional',
    cli: true,
    element: true,
    description: 'Beam search over this many hypotheses (1: greedy or sampling). Deterministic; temperature, topK and topP do not apply.',
  },
  lengthPenalty: {
    kind: 'number',
    min: LENGTH_PENALTY_RANGE[0],
    max: LENGTH_PENALTY_RANGE[1],
    default: 1,
    api: 'optional',
    cli: true,
    element: true,
    description:
      'Beam search ranks a hypothesis by its summed log-probability divided by (its length ^ lengthPenalty): above 0 favours longer texts, below 0 shorter ones. Matters when stop sequences end beams early.',
  },
  numReturn: {
    kind: 'integer',
    min: 1,
    max: MAX_BEAM_WIDTH,
    default: 1,
    api: 'optional',
    cli: true,
    element: false,
    description: 'How many of the best beams to return in `beams`, at most beamWidth.',
  },
  author: {
    kind: 'string',
    maxChars: 64,
    api: 'optional',
    cli: true,
    element: true,
    example: 'doyle',
    description: "For models trained with author tags: write in this author's manner (GET /v1/models lists them).",
  },
  constraint: {
    kind: 'constraint',
    api: 'optional',
    cli: false,
    element: true,
    description:
      'What shape the generated text must take, exactly: {"regex": ECMAScript pattern, matched whole} | {"choice": [options]} | {"jsonSchema": schema} | {"grammar": GBNF text} (docs/constraints.md lists the subset; anything outside it is refused by name). Every text matches it, at any temperature, with beams, streamed and resumed: a character is allowed only while a match still fits in numChars. Ends where nothing may follow, where the model writes what the constraint does not allow after a match, or at numChars. A choice is picked with its probability under the model (every option scored). Not with stop. A continuation names its constraint: send the same one with it.',
  },
  stream: {
    kind: 'boolean',
    api: 'optional',
    cli: false,
    element: false,
    description: 'Server-Sent Events instead of one JSON response (also chosen by Accept: text/event-stream).',
  },
  returnContinuation: {
    kind: 'boolean',
    api: 'optional',
    cli: false,
    element: false,
    description:
      "true: a result that numChars ended carries its continuation token too (about 4/3 × the model's state in bytes: 5.5 KB for a 2×256 LSTM), to go on from. A result the server cut (deadline, CPU budget) always carries one. Default: false on the HTTP API, true in the library.",
  },
  model: MODEL_FIELD,
  continuation: {
    kind: 'string',
    maxChars: MAX_CONTINUATION_CHARS,
    api: 'optional',
    cli: true,
    option: 'continue',
    element: true,
    // The token's form, for the OpenAPI document; what is inside (checksum, signature, fields) is checked by shared/continuation.ts.
    pattern: '^drc1\\.[A-Za-z0-9_-]+$',
    description:
      'Go on from where a result stopped: the `continuation` token of a result whose finishReason is length, deadline or budget. The text that follows is what the uninterrupted generation writes, on any runtime. Settings (temperature, topK, topP, seed, stop, logprobs, author) come from the token; one that contradicts it is refused. Beam search returns no continuation.',
  },
} as const satisfies Record<string, FieldSpec>;

export const SCORE_FIELDS = {
  text: {
    kind: 'string',
    maxChars: 'maxScoreChars',
    api: 'required',
    cli: true,
    element: false,
    example: 'the time traveller',
    description: "The text to score, put through the model's preprocessing; the bound applies to what the model reads.",
  },
  author: GENERATE_FIELDS.author,
  model: MODEL_FIELD,
} as const satisfies Record<string, FieldSpec>;

export type GenerateFieldName = keyof typeof GENERATE_FIELDS;

type ValueOf<F extends FieldSpec> = F extends { kind: 'string' }
  ? string
  : F extends { kind: 'strings' }
    ? string[]
    : F extends { kind: 'boolean' }
      ? boolean
      : F extends { kind: 'constraint' }
        ? ConstraintSpec
        : number;
type Request<T extends Record<string, FieldSpec>> = { -readonly [K in keyof T as T[K]['api'] extends 'required' ? K : never]: ValueOf<T[K]> } & {
  -readonly [K in keyof T as T[K]['api'] extends 'required' ? never : K]?: ValueOf<T[K]>;
};
/** A generation request, as the HTTP API, the CLI, the element and the worker protocol carry it. */
export type GenerateRequest = Request<typeof GENERATE_FIELDS>;
export type ScoreRequest = Request<typeof SCORE_FIELDS>;

const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
/** A field's name as an element attribute. */
export const attributeName = kebab;
/** A field's name as a CLI option (without the dashes): its spec's `option`, else the attribute's. */
export const optionName = (name: string, spec: FieldSpec): string => spec.option ?? kebab(name);

export function maxOf(spec: FieldSpec, limits: Limits): number {
  const m = spec.kind === 'string' || spec.kind === 'strings' ? spec.maxChars : spec.kind === 'boolean' || spec.kind === 'constraint' ? 1 : spec.max;
  return typeof m === 'number' ? m : limits[m];
}

/** One line saying what a field accepts, for errors and help. */
export function describeBounds(spec: FieldSpec, limits: Limits): string {
  switch (spec.kind) {
    case 'string':
      return `a string of 1 to ${maxOf(spec, limits)} characters`;
    case 'strings':
      return `a list of at most ${spec.maxItems} strings of 1 to ${spec.maxChars} characters`;
    case 'boolean':
      return 'true or false';
    case 'constraint':
      return CONSTRAINT_SHAPE;
    case 'integer':
      return `a whole number in [${spec.min}, ${maxOf(spec, limits)}]`;
    case 'number':
      return `a number in ${spec.exclusiveMin ? '(' : '['}${spec.min}, ${spec.max}]`;
  }
}

// ---------------------------------------------------------------------------------------------
// Validation: one function for every surface. Types and bounds first, field by field; what
// depends on the model (preprocessing, vocabulary, authors) is checked by generate.ts.

/** Characters of a client's value an error message quotes, at most. */
const QUOTE_CHARS = 60;

/**
 * A client's value as an error message quotes it: JSON, cut to a short excerpt (a long string
 * says how long it was), nested values two levels deep at most, never throwing — a value nested
 * 50,000 levels deep or 100 KB long gets one short line, not a stack overflow or the whole value
 * echoed back.
 */
export function quote(v: unknown): string {
  const render = (x: unknown, depth: number): string => {
    if (typeof x === 'string') return x.length > QUOTE_CHARS ? `${JSON.stringify(x.slice(0, QUOTE_CHARS))}… (${x.length} characters)` : JSON.stringify(x);
    if (x === null || typeof x !== 'object') return x === undefined ? 'undefined' : (JSON.stringify(x) ?? String(x));
    if (Array.isArray(x)) {
      if (depth >= 2) return x.length ? '[…]' : '[]';
      return `[${x
        .slice(0, 5)
        .map((e) => render(e, depth + 1))
        .join(',')}${x.length > 5 ? `,… (${x.length} items)` : ''}]`;
    }
    const keys = Object.keys(x);
    if (depth >= 2) return keys.length ? '{…}' : '{}';
    const shown = keys.slice(0, 5).map((k) => `${render(k, 2)}:${render((x as Record<string, unknown>)[k], depth + 1)}`);
    return `{${shown.join(',')}${keys.length > 5 ? `,… (${keys.length} keys)` : ''}}`;
  };
  const out = render(v, 0);
  return out.length > 4 * QUOTE_CHARS ? `${out.slice(0, 4 * QUOTE_CHARS)}…` : out;
}

/** A client's string as a message shows it: at most QUOTE_CHARS characters, then how long it was. */
export const excerpt = (s: string): string => (s.length > QUOTE_CHARS ? `${s.slice(0, QUOTE_CHARS)}… (${s.length} characters)` : s);

/** Edit distance, for "did you mean" (names are short). */
function distance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0];
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = d[j];
      d[j] = Math.min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1));
      prev = cur;
    }
  }
  return d[b.length];
}

/**
 * The known name closest to `name`, when it is a plausible typo of it. A name whose length alone
 * puts it out of reach is never compared (the work stays small whatever a client sends).
 */
export function nearestName(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    if (Math.abs(name.length - k.length) > Math.max(1, Math.floor(k.length / 3))) continue;
    const dist = distance(name, k);
    if (dist < bestD) [best, bestD] = [k, dist];
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(best.length / 3)) ? best : undefined;
}

/** One value against its field's type and bounds; the error names the field as `name`. */
export function checkField(name: string, spec: FieldSpec, v: unknown, limits: Limits): void {
  const bad = () => new OptionError(`${name} must be ${describeBounds(spec, limits)}, got ${quote(v)}`);
  switch (spec.kind) {
    case 'string':
      if (typeof v !== 'string' || v.length === 0 || (v.length > maxOf(spec, limits) && [...v].length > maxOf(spec, limits))) throw bad();
      return;
    case 'strings':
      if (!Array.isArray(v) || v.length > spec.maxItems || v.some((s) => typeof s !== 'string' || s.length === 0 || [...s].length > spec.maxChars)) throw bad();
      return;
    case 'boolean':
      if (typeof v !== 'boolean') throw bad();
      return;
    case 'constraint':
      checkConstraintShape(v, name);
      return;
    case 'integer':
      if (typeof v !== 'number' || !Number.isInteger(v) || v < spec.min || v > maxOf(spec, limits)) throw bad();
      return;
    case 'number':
      if (typeof v !== 'number' || !Number.isFinite(v) || v > spec.max || (spec.exclusiveMin ? v <= spec.min : v < spec.min)) throw bad();
  }
}

/**
 * Check a request's shape against a field table: not an object, an unknown field (named, with
 * the real field it is a near miss of — before any complaint that the real one is missing), a
 * missing required field, a value of the wrong type or out of bounds. `surface` is the set of
 * fields this caller accepts (the HTTP API has `stream`, the CLI does not).
 */
export function checkRequest<T extends Record<string, FieldSpec>>(fields: T, raw: unknown, limits: Limits, surface: 'api' | 'library' = 'api'): Request<T> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new OptionError('the request must be a JSON object');
  const known = Object.keys(fields).filter((k) => surface === 'library' || fields[k].api !== 'absent');
  const record = raw as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (known.includes(key)) continue;
    const near = nearestName(key, known);
    throw new OptionError(`${excerpt(key)} is not a field${near ? `; did you mean ${near}?` : ` (fields: ${known.join(', ')})`}`);
  }
  for (const key of known) {
    const spec = fields[key];
    const v = record[key];
    if (v === undefined) {
      if (surface === 'api' && spec.api === 'required' && (spec.unless === undefined || record[spec.unless] === undefined)) {
        throw new OptionError(`${key} is required${spec.unless ? ` (unless ${spec.unless} is given)` : ''}: ${describeBounds(spec, limits)}`);
      }
      continue;
    }
    checkField(key, spec, v, limits);
  }
  return record as Request<T>;
}

/**
 * Strings (CLI options, element attributes) → typed values, by the field table. Repeated options
 * (`--stop a --stop b`) arrive as arrays. Errors name the option as the caller knows it.
 */
export function fromStrings<T extends Record<string, FieldSpec>>(
  fields: T,
  values: Record<string, string | string[] | undefined>,
  name: (field: string) => string,
): Partial<Request<T>> {
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(fields)) {
    const raw = values[key];
    if (raw === undefined) continue;
    const one = Array.isArray(raw) ? raw[raw.length - 1] : raw;
    const what = () => new OptionError(`${name(key)} must be ${describeBounds(spec, LIBRARY_LIMITS)}, got ${quote(one)}`);
    switch (spec.kind) {
      case 'string':
        out[key] = one;
        break;
      case 'strings':
        out[key] = Array.isArray(raw) ? raw : [raw];
        break;
      case 'boolean':
        if (one !== '' && one !== 'true' && one !== 'false') throw what();
        out[key] = one !== 'false';
        break;
      case 'constraint': {
        let v: unknown;
        try {
          v = JSON.parse(one);
        } catch {
          throw new OptionError(`${name(key)} must be JSON: ${CONSTRAINT_SHAPE}, got ${quote(one)}`);
        }
        out[key] = checkConstraintShape(v, name(key));
        break;
      }
      case 'integer':
        if (!/^\s*-?\d+\s*$/.test(one)) throw what();
        out[key] = Number(one);
        break;
      case 'number': {
        const v = one.trim() === '' ? NaN : Number(one);
        if (!Number.isFinite(v)) throw what();
        out[key] = v;
      }
    }
  }
  return out as Partial<Request<T>>;
}

// ---------------------------------------------------------------------------------------------
// Results and events

/** A character and its natural-log probability. */
export interface TokenLogprob {
  text: string;
  logprob: number;
}
/** One generated character, with (when asked for) its log-probability and the likeliest alternatives. */
export interface GeneratedToken {
  text: string;
  logprob?: number;
  top?: TokenLogprob[];
}

export interface BeamResult {
  generated: string;
  text: string;
  /** Summed log-probability divided by length ^ lengthPenalty: what the beams are ranked by. */
  score: number;
  /** Summed log-probability of the generated characters. */
  logprob: number;
  finishReason: FinishReason;
}

export interface GenerateResult {
  model: string;
  /** The prefix as the model read it (normalised). */
  prefix: string;
  /** prefix + generated, as d2l's `predict_ch8` returns. */
  text: string;
  generated: string;
  /** Characters generated. */
  numChars: number;
  seed: number;
  finishReason: FinishReason;
  author?: string;
  /** With `logprobs`: one entry per generated character. */
  logprobs?: GeneratedToken[];
  /** With beamWidth > 1: the best `numReturn` beams, best first (the top-level text is the first). */
  beams?: BeamResult[];
  /** When it ended before a stop sequence (length, deadline, budget; not beam search): the token that goes on from here. */
  continuation?: string;
  timings: { totalMs: number };
}

/** What a generation streams: `start` once, then `token` per character, then `done`. */
export interface StartEvent {
  model: string;
  prefix: string;
  seed: number;
  numChars: number;
  author?: string;
}

export interface ScoredChar {
  text: string;
  /** ln P(this character | the ones before); null for the first, which has no context. */
  logprob: number | null;
  /** The character is not in the model's vocabulary and was read as <unk>. */
  unknown?: true;
}

export interface ScoreResult {
  model: string;
  /** The text as the model read it (normalised). */
  text: string;
  chars: ScoredChar[];
  /** Characters whose probability was predicted. */
  predicted: number;
  /** Σ ln P over the predicted characters. */
  logprob: number;
  /** exp(−logprob / predicted). */
  perplexity: number;
  /** −logprob / predicted / ln 2. */
  bitsPerChar: number;
  /** Characters read as <unk>. */
  unknown: number;
  author?: string;
}

/** The result builder, used by every runtime: the same fields in the same order everywhere. */
export function generateResult(r: Omit<GenerateResult, 'text' | 'numChars'>): GenerateResult {
  const out: GenerateResult = {
    model: r.model,
    prefix: r.prefix,
    text: r.prefix + r.generated,
    generated: r.generated,
    numChars: [...r.generated].length,
    seed: r.seed,
    finishReason: r.finishReason,
    timings: r.timings,
  };
  if (r.author !== undefined) out.author = r.author;
  if (r.logprobs !== undefined) out.logprobs = r.logprobs;
  if (r.beams !== undefined) out.beams = r.beams;
  if (r.continuation !== undefined) out.continuation = r.continuation;
  return out;
}

/**
 * Error bodies, everywhere: `{"error": {"code", "message", "type", "param"}}` — our `code` and
 * `message`, and OpenAI's `type` and `param` beside them, so one shape serves our clients and
 * OpenAI's (which read `error.message`, `error.type`, `error.code` and `error.param`).
 */
export interface ErrorBody {
  error: { code: string; message: string; type?: string; param?: string | null };
}
export const errorBody = (code: string, message: string, extra?: { type: string; param: string | null }): ErrorBody => ({ error: { code, message, ...extra } });

/** OpenAI's error `type` for an HTTP status. */
export function errorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

/** The request field an error message is about (messages start with the field's name), or null. */
export function errorParam(message: string): string | null {
  // A constraint's messages name its kind and where in it before the verb ("constraint jsonSchema at #/a keyword … is not supported"), or a grammar's line ("constraint grammar line 3: …").
  return (
    /^(\w+)(?:\[\d+\])?(?: "(?:[^"\\]|\\.)*")?(?:(?: (?:regex|choice|jsonSchema|grammar)\b.*?)? (?:must|is|can|has|cannot|needs|uses)\b| grammar line \d+:)/.exec(
      message,
    )?.[1] ?? null
  );
}
