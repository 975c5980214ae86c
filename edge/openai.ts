/**
 * OpenAI's completions API mapped onto our one contract (shared/contract.ts): a request's fields
 * are checked with the contract's bounds under OpenAI's names, then each choice becomes a
 * generation request that the contract's validator checks like any other — so the bounds, the
 * errors and the text for a seed are those of POST /v1/generate. What a character model does
 * with OpenAI's words:
 * - a token is a character: `max_tokens` is numChars, `usage` counts characters, `logprobs`
 *   lists one entry per character;
 * - `seed` is our seed; choice j of a prompt uses seed + j, so choice 0 is /v1/generate's text;
 * - `stop` ends the text as ours does, but the stop sequence is left out of the returned text,
 *   as OpenAI does (ours keeps it);
 * - `echo` puts the prompt, as the model read it, before the text;
 * - defaults are OpenAI's: max_tokens 16, temperature 1.
 */
import {
  checkField,
  GENERATE_FIELDS,
  MAX_SEED,
  quote,
  SERVICE_LIMITS,
  type FinishReason,
  type GeneratedToken,
  type GenerateRequest,
} from '../shared/contract.ts';
import { OptionError } from '../shared/errors.ts';
import { validateGeneration, type GenerationOptions, type ValidatedGeneration } from '../shared/decode/validate.ts';
import type { Model } from '../shared/model.ts';

/** Choices one request may ask for: prompts × n (each is a row of a batch). */
export const MAX_CHOICES = 8;
/** OpenAI's defaults, where they differ from ours. */
export const OPENAI_DEFAULTS = { max_tokens: 16, temperature: 1 } as const;

/**
 * OpenAI fields we do not implement: a value that asks for something is named in a 400, never
 * ignored. Their neutral values (what clients such as LangChain send by default: penalties 0, an
 * empty logit_bias, best_of equal to n, no suffix) ask for nothing and pass.
 */
export const UNSUPPORTED_FIELDS: Record<
  string,
  { why: string; neutral: (v: unknown, r: Record<string, unknown>) => boolean; neutralText: string; schema: { [k: string]: unknown } }
> = {
  best_of: {
    why: 'generate n choices and score them with POST /v1/score, or use POST /v1/generate with beamWidth',
    neutral: (v, r) => v === (r.n ?? 1),
    neutralText: 'equal to n',
    schema: { type: 'integer', minimum: 1, maximum: MAX_CHOICES },
  },
  logit_bias: {
    why: 'a character model has no token ids to bias',
    neutral: (v) => typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0,
    neutralText: '{}',
    schema: { type: 'object', maxProperties: 0 },
  },
  suffix: {
    why: 'a left-to-right character model cannot fill in before a suffix',
    neutral: (v) => v === '',
    neutralText: '""',
    schema: { type: 'string', maxLength: 0 },
  },
  presence_penalty: { why: 'use temperature, top_p or stop instead', neutral: (v) => v === 0, neutralText: '0', schema: { type: 'number', const: 0 } },
  frequency_penalty: { why: 'use temperature, top_p or stop instead', neutral: (v) => v === 0, neutralText: '0', schema: { type: 'number', const: 0 } },
};
/**
 * The names other servers give a constraint (docs/constraints.md): OpenAI's `response_format`,
 * vLLM's `structured_outputs` and its older `guided_*` fields, llama.cpp's `grammar` and
 * `json_schema`. One of them per request; each becomes the contract's `constraint`.
 */
export const CONSTRAINT_FIELDS = [
  'response_format',
  'structured_outputs',
  'guided_regex',
  'guided_choice',
  'guided_json',
  'guided_grammar',
  'grammar',
  'json_schema',
] as const;
type ConstraintField = (typeof CONSTRAINT_FIELDS)[number];
const FIELDS = [
  'model',
  'prompt',
  'max_tokens',
  'temperature',
  'top_p',
  'n',
  'stop',
  'logprobs',
  'echo',
  'seed',
  'user',
  'stream',
  'stream_options',
  ...CONSTRAINT_FIELDS,
  'guided_decoding_backend',
  'return_continuation',
] as const;
/** Fields the request may carry: ours, and OpenAI's that we refuse unless neutral. */
const ACCEPTED: readonly string[] = [...FIELDS, ...Object.keys(UNSUPPORTED_FIELDS)];
/** OpenAI's names for the contract's fields, in validation messages. */
const OPENAI_NAME: Record<string, string> = { prefix: 'prompt', numChars: 'max_tokens', topP: 'top_p' };

/** A completions request, checked: what every choice needs. */
export interface CompletionPlan {
  model: string | undefined;
  prompts: string[];
  n: number;
  echo: boolean;
  /** null: no logprobs; k: each character's logprob and the k likeliest alternatives. */
  logprobs: number | null;
  stream: boolean;
  includeUsage: boolean;
  /** One per choice (prompt i, choice j at index i · n + j), in our contract's words. */
  requests: GenerateRequest[];
  /** The field the request's constraint came in (errors name it). */
  constraintField?: ConstraintField;
}

/** A JSON Schema sent as an object, or as JSON text (vLLM takes both). */
function schemaOf(field: string, v: unknown): unknown {
  if (typeof v !== 'string') return v;
  try {
    return JSON.parse(v);
  } catch {
    return fail(field, 'must be a JSON Schema (an object, or its JSON text)');
  }
}

/** The request's constraint, from whichever of the other servers' names it uses. */
function constraintOf(r: Record<string, unknown>): { field: ConstraintField; spec: unknown } | undefined {
  const given = CONSTRAINT_FIELDS.filter((f) => r[f] !== undefined && r[f] !== null);
  if (given.length > 1) fail(given[1], `cannot go with ${given[0]}: send one constraint`);
  if (r.guided_decoding_backend !== undefined && r.guided_decoding_backend !== null && typeof r.guided_decoding_backend !== 'string')
    fail('guided_decoding_backend', 'must be a string (every constraint here is exact per character, whichever is named)');
  if (given.length === 0) return undefined;
  const field = given[0];
  const v = r[field];
  const obj = (x: unknown): Record<string, unknown> =>
    typeof x === 'object' && x !== null && !Array.isArray(x) ? (x as Record<string, unknown>) : fail(field, `must be an object, got ${quote(x)}`);
  switch (field) {
    case 'response_format': {
      const f = obj(v);
      if (f.type === 'text') return undefined;
      if (f.type === 'json_object') return { field, spec: { jsonSchema: { type: 'object' } } };
      if (f.type === 'json_schema') {
        const js = obj(f.json_schema ?? fail(field, 'of type json_schema needs json_schema: {"name", "schema"}'));
        for (const k of Object.keys(js))
          if (!['name', 'schema', 'strict', 'description'].includes(k))
            fail(field, `json_schema has no field ${quote(k)} (fields: name, schema, strict, description)`);
        return { field, spec: { jsonSchema: js.schema ?? true } };
      }
      return fail(field, `type must be "text", "json_object" or "json_schema", got ${quote(f.type)}`);
    }
    case 'structured_outputs': {
      const o = obj(v);
      const keys = Object.keys(o).filter((k) => o[k] !== undefined && o[k] !== null && o[k] !== false);
      if (keys.length !== 1) fail(field, 'must hold exactly one of regex, choice, json, grammar, json_object');
      const [k] = keys;
      if (k === 'regex' || k === 'choice' || k === 'grammar') return { field, spec: { [k]: o[k] } };
      if (k === 'json') return { field, spec: { jsonSchema: schemaOf(field, o.json) } };
      if (k === 'json_object' && o.json_object === true) return { field, spec: { jsonSchema: { type: 'object' } } };
      return fail(field, `${quote(k)} is not supported (supported: regex, choice, json, grammar, json_object)`);
    }
    case 'guided_regex':
      return { field, spec: { regex: v } };
    case 'guided_choice':
      return { field, spec: { choice: v } };
    case 'guided_grammar':
    case 'grammar':
      return { field, spec: { grammar: v } };
    case 'guided_json':
    case 'json_schema':
      return { field, spec: { jsonSchema: schemaOf(field, v) } };
  }
}

const fail = (param: string, message: string): never => {
  throw new OptionError(`${param} ${message}`);
};

/** Check a POST /v1/completions body's fields and map it onto generation requests. */
export function planCompletion(raw: unknown): CompletionPlan {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new OptionError('the request must be a JSON object');
  const r = raw as Record<string, unknown>;
  for (const key of Object.keys(r)) {
    const u = UNSUPPORTED_FIELDS[key];
    if (u) {
      if (r[key] !== null && !u.neutral(r[key], r)) fail(key, `is not supported by this server (got ${quote(r[key])}): ${u.why}`);
      continue;
    }
    if (!ACCEPTED.includes(key)) fail(key, `is not a field of /v1/completions (fields: ${FIELDS.join(', ')})`);
  }
  if (r.model !== undefined) checkField('model', GENERATE_FIELDS.model, r.model, SERVICE_LIMITS);
  const prompt = r.prompt ?? fail('prompt', 'is required: a string, or a list of strings');
  const prompts =
    typeof prompt === 'string'
      ? [prompt]
      : Array.isArray(prompt) && prompt.length > 0 && prompt.every((p) => typeof p === 'string')
        ? (prompt as string[])
        : fail('prompt', 'must be a string or a non-empty list of strings (token ids are not supported: send text)');
  prompts.forEach((p, i) => checkField(prompts.length > 1 ? `prompt[${i}]` : 'prompt', GENERATE_FIELDS.prefix, p, SERVICE_LIMITS));
  const n = r.n ?? 1;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_CHOICES) fail('n', `must be a whole number in [1, ${MAX_CHOICES}], got ${quote(n)}`);
  if (prompts.length * (n as number) > MAX_CHOICES) fail('n', `times the number of prompts must be at most ${MAX_CHOICES}, got ${prompts.length} × ${n}`);
  const maxTokens = r.max_tokens ?? OPENAI_DEFAULTS.max_tokens;
  checkField('max_tokens', GENERATE_FIELDS.numChars, maxTokens, SERVICE_LIMITS);
  const temperature = r.temperature ?? OPENAI_DEFAULTS.temperature;
  checkField('temperature', GENERATE_FIELDS.temperature, temperature, SERVICE_LIMITS);
  if (r.top_p !== undefined && r.top_p !== null) checkField('top_p', GENERATE_FIELDS.topP, r.top_p, SERVICE_LIMITS);
  if (r.seed !== undefined && r.seed !== null) checkField('seed', GENERATE_FIELDS.seed, r.seed, SERVICE_LIMITS);
  let stop: string[] | undefined;
  if (r.stop !== undefined && r.stop !== null) {
    stop = typeof r.stop === 'string' ? [r.stop] : (r.stop as string[]);
    checkField('stop', GENERATE_FIELDS.stop, stop, SERVICE_LIMITS);
    if (stop.length === 0) stop = undefined;
  }
  let logprobs: number | null = null;
  if (r.logprobs !== undefined && r.logprobs !== null) {
    checkField('logprobs', GENERATE_FIELDS.logprobs, r.logprobs, SERVICE_LIMITS);
    logprobs = r.logprobs as number;
  }
  for (const flag of ['echo', 'stream', 'return_continuation'] as const)
    if (r[flag] !== undefined && r[flag] !== null) checkField(flag, GENERATE_FIELDS.stream, r[flag], SERVICE_LIMITS);
  const echo = r.echo === true;
  if (echo && logprobs !== null) fail('echo', 'with logprobs is not supported: score the prompt with POST /v1/score');
  if (r.user !== undefined && r.user !== null && (typeof r.user !== 'string' || [...r.user].length > 256))
    fail('user', 'must be a string of at most 256 characters');
  let includeUsage = false;
  if (r.stream_options !== undefined && r.stream_options !== null) {
    const o = r.stream_options as Record<string, unknown>;
    if (
      typeof o !== 'object' ||
      Array.isArray(o) ||
      Object.keys(o).some((k) => k !== 'include_usage') ||
      (o.include_usage !== undefined && typeof o.include_usage !== 'boolean')
    )
      fail('stream_options', 'must be {"include_usage": true|false}');
    if (r.stream !== true) fail('stream_options', 'is only allowed with stream: true');
    includeUsage = o.include_usage === true;
  }
  const constraint = constraintOf(r);
  if (constraint) {
    try {
      checkField('constraint', GENERATE_FIELDS.constraint, constraint.spec, SERVICE_LIMITS);
    } catch (e) {
      throw e instanceof OptionError ? new OptionError(e.message.replace(/^constraint/, constraint.field)) : e;
    }
  }
  // One seed for the request (drawn if absent), choice j of each prompt at seed + j.
  const seed = typeof r.seed === 'number' ? r.seed : crypto.getRandomValues(new Uint32Array(1))[0];
  const requests: GenerateRequest[] = [];
  for (const p of prompts) {
    for (let j = 0; j < (n as number); j++) {
      const q: GenerateRequest = { prefix: p, numChars: maxTokens as number, temperature: temperature as number, seed: (seed + j) % (MAX_SEED + 1) };
      if (typeof r.top_p === 'number') q.topP = r.top_p;
      if (stop) q.stop = stop;
      if (logprobs !== null) q.logprobs = Math.max(1, logprobs);
      if (constraint) q.constraint = constraint.spec as GenerateRequest['constraint'];
      if (r.return_continuation === true) q.returnContinuation = true;
      requests.push(q);
    }
  }
  const plan: CompletionPlan = {
    model: r.model as string | undefined,
    prompts,
    n: n as number,
    echo,
    logprobs,
    stream: r.stream === true,
    includeUsage,
    requests,
  };
  if (constraint) plan.constraintField = constraint.field;
  return plan;
}

/** The contract's validator on one choice, its messages in OpenAI's field names. */
export function validateChoice(
  model: Model,
  q: GenerateRequest,
  promptIndex: number,
  prompts: number,
  o: GenerationOptions = {},
  constraintField?: string,
): ValidatedGeneration {
  try {
    return validateGeneration(model, q, SERVICE_LIMITS, 'api', o);
  } catch (e) {
    if (!(e instanceof OptionError)) throw e;
    const renamed = e.message.replace(/^(\w+)/, (name) =>
      name === 'prefix' && prompts > 1 ? `prompt[${promptIndex}]` : name === 'constraint' && constraintField ? constraintField : (OPENAI_NAME[name] ?? name),
    );
    throw new OptionError(renamed);
  }
}

/** OpenAI's legacy logprobs object, for characters starting at `offset` in the returned text. */
export interface CompletionLogprobs {
  tokens: string[];
  token_logprobs: number[];
  top_logprobs: Record<string, number>[];
  text_offset: number[];
}

export function completionLogprobs(tokens: readonly GeneratedToken[], k: number, offset: number): CompletionLogprobs {
  const out: CompletionLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
  let at = offset;
  for (const t of tokens) {
    out.tokens.push(t.text);
    out.token_logprobs.push(t.logprob ?? 0);
    out.top_logprobs.push(Object.fromEntries((t.top ?? []).slice(0, k).map((a) => [a.text, a.logprob])));
    out.text_offset.push(at);
    at += t.text.length;
  }
  return out;
}

/** OpenAI's finish reasons: a deadline cut the text short, which OpenAI calls `length`. */
export const finishReason = (r: FinishReason): 'length' | 'stop' => (r === 'stop' ? 'stop' : 'length');

/**
 * Holds back streamed characters that may turn out to begin a stop sequence, so that the stop
 * sequence itself is never sent (OpenAI leaves it out of the text). With no stop sequences every
 * character passes at once.
 */
export class StopHoldback {
  private held: GeneratedToken[] = [];
  private readonly longest: number;

  constructor(private readonly stops: readonly string[]) {
    this.longest = Math.max(0, ...stops.map((s) => s.length));
  }

  /** Characters that can be sent now. */
  push(tokens: readonly GeneratedToken[]): GeneratedToken[] {
    if (this.longest === 0) return [...tokens];
    this.held.push(...tokens);
    const tail = this.held.map((t) => t.text).join('');
    // A completed stop sequence ends the generation: hold it back for `finish` to drop. Else the
    // longest end of what is held that is a proper start of some stop sequence stays held.
    let keep = stopLength(tail, this.stops);
    for (let k = keep > 0 ? 0 : Math.min(this.longest - 1, tail.length); k > 0; k--) {
      const end = tail.slice(tail.length - k);
      if (this.stops.some((s) => s.length > k && s.startsWith(end))) {
        keep = k;
        break;
      }
    }
    return this.held.splice(0, this.held.length - countTokens(this.held, keep));
  }

  /** The generation ended: what is left to send (without the stop sequence when it ended on one). */
  finish(reason: FinishReason): GeneratedToken[] {
    const rest = this.held;
    this.held = [];
    if (reason !== 'stop') return rest;
    return rest.slice(0, rest.length - countTokens(rest, stopLength(rest.map((t) => t.text).join(''), this.stops)));
  }
}

/** How many tokens from the end make up the last `chars` characters (a token is one character). */
export function countTokens(tokens: readonly GeneratedToken[], chars: number): number {
  let n = 0;
  for (let i = tokens.length - 1, c = 0; i >= 0 && c < chars; i--, n++) c += tokens[i].text.length;
  return n;
}

/** Characters of the stop sequence that ends `text` (the longest that does: it began first), or 0. */
export function stopLength(text: string, stops: readonly string[]): number {
  let best = 0;
  for (const s of stops) if (text.endsWith(s) && s.length > best) best = s.length;
  return best;
}
