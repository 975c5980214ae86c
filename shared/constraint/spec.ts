/**
 * What a client may send as `constraint`, by shape and bounds: one of `regex`, `choice`,
 * `jsonSchema` or `grammar`. The contract (shared/contract.ts) checks a field with it; what the
 * spec means for a model is constraint.ts's.
 */
import { OptionError } from '../errors.ts';

export type ConstraintSpec = { regex: string } | { choice: string[] } | { jsonSchema: unknown } | { grammar: string };
export type ConstraintKind = 'regex' | 'choice' | 'jsonSchema' | 'grammar';
export const CONSTRAINT_KINDS: readonly ConstraintKind[] = ['regex', 'choice', 'jsonSchema', 'grammar'];

/** Bounds of a constraint's text (a JSON Schema's as compact JSON). */
export const CONSTRAINT_LIMITS = { regexChars: 4096, grammarChars: 16_384, schemaChars: 16_384, choices: 16, choiceChars: 1000 } as const;

/** One line saying what `constraint` accepts, for errors and help. */
export const CONSTRAINT_SHAPE = 'an object with exactly one of regex (a string), choice (a list of strings), jsonSchema (an object) or grammar (GBNF text)';

/** A client's value → a constraint spec, by shape and bounds (what depends on the model comes later). */
export function checkConstraintShape(v: unknown, name = 'constraint'): ConstraintSpec {
  const bad = (why: string): never => {
    throw new OptionError(`${name} must be ${CONSTRAINT_SHAPE}: ${why}`);
  };
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return bad(`got ${Array.isArray(v) ? 'a list' : v === null ? 'null' : typeof v}`);
  const keys = Object.keys(v);
  if (keys.length !== 1) return bad(`got ${keys.length === 0 ? 'none' : `${keys.length} keys (${keys.slice(0, 5).join(', ')})`}`);
  const [k] = keys;
  const x = (v as Record<string, unknown>)[k];
  switch (k) {
    case 'regex':
    case 'grammar': {
      const max = k === 'regex' ? CONSTRAINT_LIMITS.regexChars : CONSTRAINT_LIMITS.grammarChars;
      if (typeof x !== 'string' || x.length === 0 || x.length > max) bad(`${k} must be a string of 1 to ${max} characters`);
      return k === 'regex' ? { regex: x as string } : { grammar: x as string };
    }
    case 'choice': {
      if (!Array.isArray(x) || x.length === 0 || x.length > CONSTRAINT_LIMITS.choices)
        bad(`choice must be a list of 1 to ${CONSTRAINT_LIMITS.choices} strings`);
      const list = x as unknown[];
      list.forEach((c, i) => {
        if (typeof c !== 'string' || c.length === 0 || c.length > CONSTRAINT_LIMITS.choiceChars)
          bad(`choice[${i}] must be a string of 1 to ${CONSTRAINT_LIMITS.choiceChars} characters`);
      });
      const nfc = (list as string[]).map((c) => c.normalize('NFC'));
      const dup = nfc.findIndex((c, i) => nfc.indexOf(c) !== i);
      if (dup >= 0) bad(`choice[${dup}] repeats an earlier option`);
      return { choice: nfc };
    }
    case 'jsonSchema': {
      if (typeof x !== 'boolean' && (typeof x !== 'object' || x === null || Array.isArray(x))) bad('jsonSchema must be an object (or a boolean)');
      const text = JSON.stringify(x);
      if (text.length > CONSTRAINT_LIMITS.schemaChars) bad(`jsonSchema must be at most ${CONSTRAINT_LIMITS.schemaChars} characters as JSON`);
      return { jsonSchema: x };
    }
    default:
      return bad(`${JSON.stringify(k.length > 40 ? `${k.slice(0, 40)}…` : k)} is not one of them`);
  }
}

export const constraintKind = (c: ConstraintSpec): ConstraintKind => Object.keys(c)[0] as ConstraintKind;

/** Each kind's value as JSON Schema (without its description): the same shapes and bounds as `checkConstraintShape`. */
export function constraintValueSchemas(): Record<ConstraintKind, { [k: string]: unknown }> {
  const L = CONSTRAINT_LIMITS;
  return {
    regex: { type: 'string', minLength: 1, maxLength: L.regexChars },
    choice: { type: 'array', minItems: 1, maxItems: L.choices, uniqueItems: true, items: { type: 'string', minLength: 1, maxLength: L.choiceChars } },
    jsonSchema: { type: ['object', 'boolean'] },
    grammar: { type: 'string', minLength: 1, maxLength: L.grammarChars },
  };
}

const KIND_DESCRIPTIONS: Record<ConstraintKind, string> = {
  regex: 'An ECMAScript pattern the whole text matches (classes, groups, |, quantifiers; no backreferences or lookaround).',
  choice: 'The text is one of these, picked with its probability under the model.',
  jsonSchema: 'A JSON Schema (the subset in docs/constraints.md) the text, compact JSON, is valid under.',
  grammar: 'A GBNF grammar, as llama.cpp writes it, starting at rule root.',
};

/** `constraint` as JSON Schema (the OpenAPI document's): one object per kind, exactly one key. */
export function constraintJsonSchema(): { [k: string]: unknown } {
  const values = constraintValueSchemas();
  return {
    oneOf: CONSTRAINT_KINDS.map((key) => ({
      type: 'object',
      required: [key],
      additionalProperties: false,
      properties: { [key]: { ...values[key], description: KIND_DESCRIPTIONS[key] } },
    })),
  };
}
