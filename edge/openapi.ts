/**
 * The request side of /openapi.json, as JSON Schema (2020-12, OpenAPI 3.1) written from the
 * contract's field tables (shared/contract.ts), the OpenAI mapping's table (edge/openai.ts) and
 * the models this server serves — so that what the document accepts is what the server accepts:
 * the service limits exactly (code points, as JSON Schema counts them), the rules between fields
 * (beam search and sampling, numReturn ≤ beamWidth, what a continuation excludes, prompts × n),
 * and per model the characters a stop sequence may hold and the authors it knows. The examples
 * are written for the first served model, so /docs' Try it out succeeds on any server.
 * Left to the server alone: what a continuation token holds, and a prefix whose preprocessing
 * makes it longer than the bound (NFKD: "㎯" reads as "mm/s2") or empty.
 */
import { constraintJsonSchema, constraintValueSchemas } from '../shared/constraint/spec.ts';
import { GENERATE_FIELDS, MAX_BEAM_WIDTH, MAX_SEED, maxOf, SCORE_FIELDS, SERVICE_LIMITS, type FieldSpec } from '../shared/contract.ts';
import { samplePrefix } from '../shared/decode/validate.ts';
import { CONSTRAINT_FIELDS, MAX_CHOICES, OPENAI_DEFAULTS, UNSUPPORTED_FIELDS } from './openai.ts';
import type { ModelRegistry } from './registry.ts';

/** A JSON Schema object (the subset the document uses). */
export type JsonSchema = { [k: string]: unknown };

/** What the document needs to know of each served model. */
export interface ServedFacts {
  name: string;
  /** The characters it can write, in code-point order. */
  alphabet: readonly string[];
  authors: readonly string[];
  samplePrefix: string;
}

export const servedFacts = (registry: ModelRegistry): ServedFacts[] =>
  registry.models.map((m) => ({
    name: m.name,
    alphabet: m.model.vocab.alphabet,
    authors: [...m.model.vocab.authors.keys()],
    samplePrefix: samplePrefix(m.model),
  }));

/** One field of the contract as JSON Schema, at the service limits. */
export function fieldJsonSchema(spec: FieldSpec): JsonSchema {
  const max = maxOf(spec, SERVICE_LIMITS);
  let s: JsonSchema;
  switch (spec.kind) {
    case 'string':
      s = { type: 'string', minLength: 1, maxLength: max, ...(spec.pattern ? { pattern: spec.pattern } : {}) };
      break;
    case 'strings':
      s = { type: 'array', maxItems: spec.maxItems, items: { type: 'string', minLength: 1, maxLength: spec.maxChars } };
      break;
    case 'boolean':
      s = { type: 'boolean' };
      break;
    case 'constraint':
      s = constraintJsonSchema();
      break;
    case 'integer':
      s = { type: 'integer', minimum: spec.min, maximum: max };
      break;
    case 'number':
      s = { type: 'number', ...(spec.exclusiveMin ? { exclusiveMinimum: spec.min } : { minimum: spec.min }), maximum: spec.max };
  }
  s.description = spec.description;
  if ('default' in spec && spec.default !== undefined) s.default = spec.default;
  return s;
}

/** A character as \\uXXXX escapes (an astral one as its surrogate pair). */
const escapeChar = (c: string): string => Array.from({ length: c.length }, (_, i) => `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`).join('');

/** A pattern matching strings made only of these characters (astral ones as surrogate pairs, read whole under the u flag). */
export const onlyOf = (chars: readonly string[]): string => `^(?:${chars.map(escapeChar).join('|')})+$`;

/** "This request is served by model `name`": it names it, or it names none and `name` is the default. */
function servedBy(f: ServedFacts, isDefault: boolean): JsonSchema {
  const named = { required: ['model'], properties: { model: { const: f.name } } };
  return isDefault ? { anyOf: [{ not: { required: ['model'] } }, named] } : named;
}

/**
 * Per served model: what its stop sequences may hold (`stop` shapes the pattern into the
 * request's stop field; null: the request has none), and, where the request has an `author`,
 * which authors (if any) the model takes.
 */
function perModel(
  facts: readonly ServedFacts[],
  o: { stop: ((pattern: string) => JsonSchema) | null; author: boolean; written?: (pattern: string) => Record<string, JsonSchema> },
): JsonSchema[] {
  return facts.map((f, i) => ({
    if: servedBy(f, i === 0),
    then: {
      properties: {
        ...(o.stop ? { stop: o.stop(onlyOf(f.alphabet)) } : {}),
        ...(o.author ? { author: f.authors.length ? { enum: [...f.authors] } : false } : {}),
        ...(o.written ? o.written(onlyOf(f.alphabet)) : {}),
      },
    },
  }));
}

/** A choice's options, as the model must be able to write them. */
const writtenChoice = (pattern: string): JsonSchema => ({ items: { pattern } });

/** The property examples the contract gives, each valid on the first served model and all of them together. */
function examples(fields: Record<string, FieldSpec>, first: ServedFacts): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(fields)) {
    if (spec.api === 'absent') continue;
    if (name === 'model') out[name] = first.name;
    else if (name === 'author') {
      if (first.authors.length) out[name] = first.authors[0];
    } else if (name === 'stop') {
      const writable = (spec.example as string[]).filter((s) => [...s].every((c) => first.alphabet.includes(c)));
      if (writable.length) out[name] = writable;
    } else if (spec.example !== undefined) out[name] = spec.example;
  }
  return out;
}

function objectOf(fields: Record<string, FieldSpec>, first: ServedFacts): { properties: Record<string, JsonSchema> } {
  const ex = examples(fields, first);
  const properties: Record<string, JsonSchema> = {};
  for (const [name, spec] of Object.entries(fields)) {
    if (spec.api === 'absent') continue;
    properties[name] = fieldJsonSchema(spec);
    if (name in ex) properties[name].example = ex[name];
  }
  return { properties };
}

/** POST /v1/generate's body. */
export function generateRequestJsonSchema(facts: readonly ServedFacts[]): JsonSchema {
  const { properties } = objectOf(GENERATE_FIELDS, facts[0]);
  properties.model.enum = facts.map((f) => f.name);
  const beam = { required: ['beamWidth'], properties: { beamWidth: { minimum: 2 } } };
  const rules: JsonSchema[] = [
    // Beam search is deterministic; lengthPenalty and numReturn are beam search's.
    {
      if: beam,
      then: { properties: { temperature: { const: 0 }, topK: false, topP: false } },
      else: { properties: { lengthPenalty: { const: 1 }, numReturn: { const: 1 } } },
    },
    // numReturn ≤ beamWidth.
    ...Array.from({ length: MAX_BEAM_WIDTH - 1 }, (_, i) => ({
      if: { required: ['numReturn'], properties: { numReturn: { minimum: i + 2 } } },
      then: { required: ['beamWidth'], properties: { beamWidth: { minimum: i + 2 } } },
    })),
    // A continuation goes on sampling: no beam search with it.
    { if: { required: ['continuation'] }, then: { properties: { beamWidth: false, lengthPenalty: false, numReturn: false } } },
    // A constraint says where the text ends: no stop sequences beside it.
    { if: { required: ['constraint'] }, then: { properties: { stop: { maxItems: 0 } } } },
    ...perModel(facts, {
      stop: (pattern) => ({ items: { pattern } }),
      author: true,
      written: (pattern) => ({ constraint: { properties: { choice: writtenChoice(pattern) } } }),
    }),
  ];
  return {
    type: 'object',
    properties,
    additionalProperties: false,
    anyOf: [{ required: ['prefix', 'numChars'] }, { required: ['continuation'] }],
    allOf: rules,
    description: 'A generation: prefix and numChars, or a continuation (then both are optional).',
  };
}

/** POST /v1/score's body. */
export function scoreRequestJsonSchema(facts: readonly ServedFacts[]): JsonSchema {
  const { properties } = objectOf(SCORE_FIELDS, facts[0]);
  properties.model.enum = facts.map((f) => f.name);
  const required = Object.entries(SCORE_FIELDS)
    .filter(([, f]) => f.api === 'required')
    .map(([n]) => n);
  return { type: 'object', properties, additionalProperties: false, required, allOf: perModel(facts, { stop: null, author: true }) };
}

const nullable = (s: JsonSchema): JsonSchema => ({ anyOf: [s, { type: 'null' }], ...(s.description ? { description: s.description } : {}) });
const bare = (s: JsonSchema): JsonSchema => {
  const { description: _, default: __, example: ___, ...rest } = s;
  return rest;
};

/** POST /v1/completions' body: OpenAI's names on the contract's bounds (edge/openai.ts maps them). */
export function completionRequestJsonSchema(facts: readonly ServedFacts[]): JsonSchema {
  const F = GENERATE_FIELDS;
  const prompt = bare(fieldJsonSchema(F.prefix));
  const stopItem = bare(fieldJsonSchema(F.stop)).items as JsonSchema;
  const properties: Record<string, JsonSchema> = {
    model: { type: 'string', enum: facts.map((f) => f.name), description: 'A served model (GET /v1/models); default: the first.', example: facts[0].name },
    prompt: {
      anyOf: [prompt, { type: 'array', minItems: 1, maxItems: MAX_CHOICES, items: prompt }],
      description: 'The text to continue (or several: one set of choices each). Token ids are not taken: send text.',
      example: facts[0].samplePrefix,
    },
    max_tokens: nullable({
      ...bare(fieldJsonSchema(F.numChars)),
      description: `Characters to generate (a token is a character); default ${OPENAI_DEFAULTS.max_tokens}.`,
    }),
    temperature: nullable({ ...bare(fieldJsonSchema(F.temperature)), description: `Default ${OPENAI_DEFAULTS.temperature}; 0 is greedy.` }),
    top_p: nullable({ ...bare(fieldJsonSchema(F.topP)), description: F.topP.description }),
    n: nullable({
      type: 'integer',
      minimum: 1,
      maximum: MAX_CHOICES,
      description: `Choices per prompt (prompts × n ≤ ${MAX_CHOICES}); choice j uses seed + j.`,
    }),
    stop: nullable({
      anyOf: [stopItem, { ...bare(fieldJsonSchema(F.stop)) }],
      description: `Up to ${F.stop.maxItems} sequences of the model's characters; the text ends before the first one generated (it is not returned).`,
    }),
    logprobs: nullable({ ...bare(fieldJsonSchema(F.logprobs)), description: "Each character's logprob and this many alternatives." }),
    echo: nullable({ type: 'boolean', description: 'Return the prompt, as the model read it, before the text.' }),
    seed: nullable({ type: 'integer', minimum: 0, maximum: MAX_SEED, description: F.seed.description }),
    user: nullable({ type: 'string', maxLength: 256, description: 'Accepted and ignored.' }),
    stream: nullable({ type: 'boolean', description: 'Server-Sent Events: `data: {chunk}` … `data: [DONE]`.' }),
    return_continuation: nullable({
      type: 'boolean',
      description: "deeprnn's: with true, a choice that max_tokens ended carries its continuation token too (the server's cuts always do).",
    }),
    stream_options: nullable({
      type: 'object',
      properties: { include_usage: { type: 'boolean' } },
      additionalProperties: false,
      description: 'With stream: true, {"include_usage": true} adds a last chunk with the usage.',
    }),
  };
  for (const [name, u] of Object.entries(UNSUPPORTED_FIELDS))
    properties[name] = nullable({ ...u.schema, description: `Not supported (${u.why}); accepted only as ${u.neutralText}.` });
  Object.assign(properties, completionConstraintSchemas());
  // The rules between fields, each an if whose condition names one field's value plainly — no
  // `not` over a whole body, which schema-driven generators (Schemathesis) cannot complement.
  const given = (name: string): JsonSchema => ({ required: [name], properties: { [name]: { type: ['string', 'number', 'boolean', 'array', 'object'] } } });
  const noStop = { stop: { anyOf: [{ type: 'null' }, { type: 'array', maxItems: 0 }] } };
  const rules: JsonSchema[] = [
    // One constraint per request, under whichever name; a constraint says where the text ends, so
    // no stop sequences beside it (response_format's "text" is no constraint: the rule after).
    ...CONSTRAINT_FIELDS.map((a) => ({
      if: given(a),
      then: {
        properties: {
          ...Object.fromEntries(CONSTRAINT_FIELDS.filter((b) => b !== a).map((b) => [b, { type: 'null' }])),
          ...(a === 'response_format' ? {} : noStop),
        },
      },
    })),
    {
      if: {
        required: ['response_format'],
        properties: { response_format: { type: 'object', required: ['type'], properties: { type: { enum: ['json_object', 'json_schema'] } } } },
      },
      then: { properties: noStop },
    },
    { if: { required: ['echo'], properties: { echo: { const: true } } }, then: { properties: { logprobs: { type: 'null' } } } },
    { if: given('stream_options'), then: { required: ['stream'], properties: { stream: { const: true } } } },
    // prompts × n ≤ MAX_CHOICES: with n ≥ j, at most MAX_CHOICES / j prompts.
    ...Array.from({ length: MAX_CHOICES - 1 }, (_, i) => ({
      if: { required: ['n'], properties: { n: { type: 'integer', minimum: i + 2 } } },
      then: { properties: { prompt: { anyOf: [{ type: 'string' }, { type: 'array', maxItems: Math.floor(MAX_CHOICES / (i + 2)) }] } } },
    })),
    // best_of, when given, equal to n (default 1).
    ...Array.from({ length: MAX_CHOICES }, (_, i) => ({
      if: { required: ['best_of'], properties: { best_of: { const: i + 1 } } },
      then: i === 0 ? { properties: { n: { anyOf: [{ type: 'null' }, { const: 1 }] } } } : { required: ['n'], properties: { n: { const: i + 1 } } },
    })),
    // OpenAI's request has no author.
    ...perModel(facts, {
      stop: (pattern) => ({ anyOf: [{ type: 'null' }, { type: 'string', pattern }, { type: 'array', items: { pattern } }] }),
      author: false,
      written: (pattern) => ({ guided_choice: writtenChoice(pattern), structured_outputs: { properties: { choice: writtenChoice(pattern) } } }),
    }),
  ];
  return { type: 'object', properties, additionalProperties: false, required: ['prompt'], allOf: rules };
}

/** The other servers' names for a constraint (edge/openai.ts `CONSTRAINT_FIELDS`), as /v1/completions takes them. */
function completionConstraintSchemas(): Record<string, JsonSchema> {
  const { regex, choice, jsonSchema, grammar } = constraintValueSchemas();
  const schemaOrText = { anyOf: [jsonSchema, { type: 'string', minLength: 2 }] };
  const only = (type: string, extra: Record<string, JsonSchema> = {}, required: string[] = ['type']): JsonSchema => ({
    type: 'object',
    required,
    additionalProperties: false,
    properties: { type: { const: type }, ...extra },
  });
  return {
    response_format: nullable({
      oneOf: [
        only('text'),
        only('json_object'),
        only(
          'json_schema',
          {
            json_schema: {
              type: 'object',
              required: ['name'],
              additionalProperties: false,
              properties: { name: { type: 'string' }, schema: jsonSchema, strict: { type: ['boolean', 'null'] }, description: { type: 'string' } },
            },
          },
          ['type', 'json_schema'],
        ),
      ],
      description: "OpenAI's: json_object (any JSON object) or json_schema (its schema, the subset in docs/constraints.md; always exact, strict or not).",
    }),
    structured_outputs: nullable({
      type: 'object',
      minProperties: 1,
      maxProperties: 1,
      additionalProperties: false,
      properties: { regex, choice, json: schemaOrText, grammar, json_object: { const: true } },
      description: "vLLM's: one of regex, choice, json, grammar, json_object.",
    }),
    guided_regex: nullable({ ...regex, description: "vLLM's older name for structured_outputs.regex." }),
    guided_choice: nullable({ ...choice, description: "vLLM's older name for structured_outputs.choice." }),
    guided_json: nullable({ ...schemaOrText, description: "vLLM's older name for structured_outputs.json." }),
    guided_grammar: nullable({ ...grammar, description: "vLLM's older name for structured_outputs.grammar (GBNF)." }),
    guided_decoding_backend: nullable({ type: 'string', description: "vLLM's backend choice: accepted; every constraint here is exact per character." }),
    grammar: nullable({ ...grammar, description: "llama.cpp's: a GBNF grammar." }),
    json_schema: nullable({ ...jsonSchema, description: "llama.cpp's: a JSON Schema." }),
  };
}

/** The examples Swagger UI's Try it out sends: a request that works on the first served model. */
export function requestExamples(facts: readonly ServedFacts[]) {
  const f = facts[0];
  return {
    generate: { model: f.name, prefix: f.samplePrefix, numChars: 100, temperature: 0.8, seed: 7 },
    score: { model: f.name, text: f.samplePrefix },
    completion: { model: f.name, prompt: f.samplePrefix, max_tokens: 50, temperature: 0.8, seed: 7 },
  };
}
