/**
 * JSON Schema → a grammar (grammar.ts) whose every match is a JSON text valid under the schema.
 * The subset (any other keyword that constrains is a 400 naming it, never dropped):
 * - `type` (one or a list), `enum`, `const`, `anyOf`, `$ref` to `#`, `#/$defs/…` or
 *   `#/definitions/…` (recursion allowed);
 * - objects: `properties` (written in their order), `required`, `additionalProperties` false —
 *   true or absent allows other properties, and none are written; an object with no
 *   `properties` takes any keys;
 * - arrays: `items`, `minItems`, `maxItems`; strings: `minLength`, `maxLength` (characters, each
 *   written as itself or as one of JSON's short escapes), or `pattern` (ECMAScript, searched as
 *   the standard says: unanchored unless ^/$); integers: `minimum`, `maximum`,
 *   `exclusiveMinimum`, `exclusiveMaximum`; numbers: up to 16 digits before and after the point.
 * - annotations (title, description, default, examples, $schema, $id, $comment) change nothing.
 * The text is compact JSON with at most one space after each `:` and `,` — whitespace that cannot
 * run on to the length limit — and no escapes `\u`, which a character model has no need of.
 */
import { OptionError } from '../errors.ts';
import { alt, charRanges, chars, complement, EMPTY, inRanges, literal, opt, rangePairs, ref, repeat, seq, type Expr, type Grammar } from './grammar.ts';
import { parseRegex } from './regex.ts';

type Schema = boolean | { [k: string]: unknown };
const ANNOTATIONS = new Set([
  'title',
  'description',
  'default',
  'examples',
  '$schema',
  '$id',
  '$comment',
  '$defs',
  'definitions',
  'deprecated',
  'readOnly',
  'writeOnly',
]);
const SUPPORTED = new Set([
  'type',
  'enum',
  'const',
  'anyOf',
  '$ref',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'minItems',
  'maxItems',
  'minLength',
  'maxLength',
  'pattern',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'uniqueItems',
]);
const TYPES = ['string', 'integer', 'number', 'boolean', 'null', 'object', 'array'] as const;
/** Integers with no bound on a side stop at this many digits there. */
const INT_DIGITS = 15;

const WS = opt(literal(' '));
const DIGIT = chars([[0x30, 0x39]]);
const NONZERO = chars([[0x31, 0x39]]);
/** A string's character: any but `"`, `\` and control characters, or a short escape. */
const PLAIN: [number, number][] = complement([
  [0, 0x1f],
  [0x22, 0x22],
  [0x5c, 0x5c],
]);
const STRING_CHAR = alt([
  chars(PLAIN),
  seq([
    literal('\\'),
    chars([
      [0x22, 0x22],
      [0x5c, 0x5c],
      [0x2f, 0x2f],
      [0x62, 0x62],
      [0x66, 0x66],
      [0x6e, 0x6e],
      [0x72, 0x72],
      [0x74, 0x74],
    ]),
  ]),
]);

/** Rules every JSON value needs, shared by `{}` and json_object. */
function addGenericRules(rules: Map<string, Expr>): void {
  if (rules.has('json-value')) return;
  rules.set('json-char', STRING_CHAR);
  rules.set('json-string', seq([literal('"'), repeat(ref('json-char'), 0, Infinity), literal('"')]));
  rules.set('json-number', numberExpr());
  const member = seq([ref('json-string'), literal(':'), WS, ref('json-value')]);
  rules.set('json-object', seq([literal('{'), opt(seq([member, repeat(seq([literal(','), WS, member]), 0, Infinity)])), literal('}')]));
  rules.set('json-array', seq([literal('['), opt(seq([ref('json-value'), repeat(seq([literal(','), WS, ref('json-value')]), 0, Infinity)])), literal(']')]));
  rules.set(
    'json-value',
    alt([ref('json-object'), ref('json-array'), ref('json-string'), ref('json-number'), literal('true'), literal('false'), literal('null')]),
  );
}

function numberExpr(): Expr {
  const int = seq([opt(literal('-')), alt([literal('0'), seq([NONZERO, repeat(DIGIT, 0, INT_DIGITS)])])]);
  return seq([
    int,
    opt(seq([literal('.'), repeat(DIGIT, 1, 16)])),
    opt(
      seq([
        chars([
          [0x45, 0x45],
          [0x65, 0x65],
        ]),
        opt(
          chars([
            [0x2b, 0x2b],
            [0x2d, 0x2d],
          ]),
        ),
        repeat(DIGIT, 1, 3),
      ]),
    ),
  ]);
}

/** Any JSON object (OpenAI's `json_object`). */
export function jsonObjectGrammar(): Grammar {
  const rules = new Map<string, Expr>([['root', ref('json-object')]]);
  addGenericRules(rules);
  return { rules, root: 'root' };
}

/** A schema → its grammar; errors name the keyword and where it is (a JSON pointer). */
export function jsonSchemaGrammar(schema: unknown): Grammar {
  const rules = new Map<string, Expr>();
  const rootSchema = asSchema(schema, '#');
  const defs = new Map<string, string>();
  rules.set('root', EMPTY); // placed first, filled last
  const fail = (at: string, msg: string): never => {
    throw new OptionError(`constraint jsonSchema ${at === '#' ? '' : `at ${at} `}${msg}`);
  };

  const defRule = (pointer: string): string => {
    const known = defs.get(pointer);
    if (known) return known;
    if (pointer === '#') return 'root';
    const m = /^#\/(\$defs|definitions)\/([^/]+)$/.exec(pointer);
    if (!m) return fail(pointer, `$ref ${JSON.stringify(pointer)} is not supported: refer to "#", "#/$defs/name" or "#/definitions/name"`);
    const name = decodeURIComponent(m[2]).replace(/~1/g, '/').replace(/~0/g, '~');
    const table = typeof rootSchema === 'object' ? rootSchema[m[1]] : undefined;
    const target = table && typeof table === 'object' ? (table as Record<string, unknown>)[name] : undefined;
    if (target === undefined) return fail(pointer, `$ref points to nothing: ${m[1]} has no ${JSON.stringify(name)}`);
    const rule = `def-${defs.size}`;
    defs.set(pointer, rule);
    rules.set(rule, EMPTY);
    rules.set(rule, value(asSchema(target, pointer), pointer));
    return rule;
  };

  function value(s: Schema, at: string): Expr {
    if (s === true) return (addGenericRules(rules), ref('json-value'));
    if (s === false) return fail(at, 'is false: no value matches it');
    for (const k of Object.keys(s)) {
      if (!SUPPORTED.has(k) && !ANNOTATIONS.has(k)) fail(at, `keyword ${JSON.stringify(k)} is not supported (supported: ${[...SUPPORTED].join(', ')})`);
    }
    if (s.$ref !== undefined) {
      if (typeof s.$ref !== 'string') fail(at, '$ref must be a string');
      const others = Object.keys(s).filter((k) => SUPPORTED.has(k) && k !== '$ref');
      if (others.length) fail(at, `keyword ${JSON.stringify(others[0])} beside $ref is not supported: put it in the definition`);
      return ref(defRule(s.$ref as string));
    }
    if (s.const !== undefined) return literal(compact(s.const, at));
    if (s.enum !== undefined) {
      if (!Array.isArray(s.enum) || s.enum.length === 0) fail(at, 'enum must be a non-empty list');
      return alt((s.enum as unknown[]).map((v) => literal(compact(v, at))));
    }
    if (s.anyOf !== undefined) {
      if (!Array.isArray(s.anyOf) || s.anyOf.length === 0) fail(at, 'anyOf must be a non-empty list of schemas');
      const rest = Object.fromEntries(Object.entries(s).filter(([k]) => k !== 'anyOf' && SUPPORTED.has(k)));
      if (Object.keys(rest).length) fail(at, `keyword ${JSON.stringify(Object.keys(rest)[0])} beside anyOf is not supported: put it in each branch`);
      return alt((s.anyOf as unknown[]).map((b, i) => value(asSchema(b, `${at}/anyOf/${i}`), `${at}/anyOf/${i}`)));
    }
    const type = s.type;
    if (type === undefined) {
      const typed = Object.keys(s).filter((k) => SUPPORTED.has(k));
      if (typed.length) fail(at, `keyword ${JSON.stringify(typed[0])} needs a "type" beside it here`);
      return (addGenericRules(rules), ref('json-value'));
    }
    const types = Array.isArray(type) ? type : [type];
    if (types.length === 0 || types.some((t) => !(TYPES as readonly unknown[]).includes(t)))
      fail(at, `type must be one of ${TYPES.join(', ')} (or a list of them), got ${JSON.stringify(type)}`);
    return alt((types as (typeof TYPES)[number][]).map((t) => typed(t, s, at)));
  }

  function typed(t: (typeof TYPES)[number], s: { [k: string]: unknown }, at: string): Expr {
    const only = (allowed: string[]) => {
      for (const k of Object.keys(s))
        if (SUPPORTED.has(k) && k !== 'type' && !allowed.includes(k)) fail(at, `keyword ${JSON.stringify(k)} does not apply to type ${t} here`);
    };
    switch (t) {
      case 'null':
        only([]);
        return literal('null');
      case 'boolean':
        only([]);
        return alt([literal('true'), literal('false')]);
      case 'number':
        only([]);
        return numberExpr();
      case 'integer': {
        only(['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum']);
        const bound = (k: string): number | undefined => {
          const v = s[k];
          if (v === undefined) return undefined;
          if (typeof v !== 'number' || !Number.isFinite(v)) return fail(at, `${k} must be a number, got ${JSON.stringify(v)}`);
          return v;
        };
        let lo = -(10 ** INT_DIGITS - 1);
        let hi = 10 ** INT_DIGITS - 1;
        const min = bound('minimum');
        const max = bound('maximum');
        const xmin = bound('exclusiveMinimum');
        const xmax = bound('exclusiveMaximum');
        if (min !== undefined) lo = Math.max(lo, Math.ceil(min));
        if (xmin !== undefined) lo = Math.max(lo, Math.floor(xmin) + 1);
        if (max !== undefined) hi = Math.min(hi, Math.floor(max));
        if (xmax !== undefined) hi = Math.min(hi, Math.ceil(xmax) - 1);
        if (lo > hi) fail(at, `has no integer within its bounds (${lo} > ${hi})`);
        return intRange(lo, hi);
      }
      case 'string': {
        only(['minLength', 'maxLength', 'pattern']);
        const count = (k: string, d: number): number => {
          const v = s[k] ?? d;
          if (v !== Infinity && (typeof v !== 'number' || !Number.isInteger(v) || v < 0))
            return fail(at, `${k} must be a whole number ≥ 0, got ${JSON.stringify(v)}`);
          return v as number;
        };
        const min = count('minLength', 0);
        const max = count('maxLength', Infinity);
        if (min > max) fail(at, `minLength ${min} is over maxLength ${max}`);
        if (max !== Infinity && max > 1000) fail(at, `maxLength over 1000 is not supported`);
        if (min > 1000) fail(at, `minLength over 1000 is not supported`);
        if (s.pattern !== undefined) {
          if (typeof s.pattern !== 'string') fail(at, 'pattern must be a string');
          if (s.minLength !== undefined || s.maxLength !== undefined)
            fail(at, 'minLength/maxLength beside pattern is not supported: put the length in the pattern ({m,n})');
          return seq([literal('"'), patternExpr(s.pattern as string, at), literal('"')]);
        }
        return seq([literal('"'), repeat(STRING_CHAR, min, max), literal('"')]);
      }
      case 'array': {
        only(['items', 'minItems', 'maxItems', 'uniqueItems']);
        if (s.uniqueItems === true) fail(at, 'uniqueItems true is not supported');
        const item = s.items === undefined ? (addGenericRules(rules), ref('json-value')) : value(asSchema(s.items, `${at}/items`), `${at}/items`);
        const min = s.minItems ?? 0;
        const max = s.maxItems ?? Infinity;
        if (typeof min !== 'number' || !Number.isInteger(min) || min < 0) fail(at, `minItems must be a whole number ≥ 0, got ${JSON.stringify(min)}`);
        if (max !== Infinity && (typeof max !== 'number' || !Number.isInteger(max) || max < 0))
          fail(at, `maxItems must be a whole number ≥ 0, got ${JSON.stringify(max)}`);
        if ((min as number) > (max as number)) fail(at, `minItems ${min} is over maxItems ${max}`);
        if ((min as number) > 1000 || (max !== Infinity && (max as number) > 1000)) fail(at, 'minItems/maxItems over 1000 is not supported');
        const itemRule = `${at === '#' ? 'root' : 'r'}-item-${rules.size}`;
        rules.set(itemRule, item);
        const one = ref(itemRule);
        const more = seq([literal(','), WS, one]);
        const lo = min as number;
        const hi = max as number;
        const body = hi === 0 ? EMPTY : lo === 0 ? opt(seq([one, repeat(more, 0, hi - 1)])) : seq([one, repeat(more, lo - 1, hi - 1)]);
        return seq([literal('['), body, literal(']')]);
      }
      case 'object': {
        only(['properties', 'required', 'additionalProperties']);
        const ap = s.additionalProperties;
        if (ap !== undefined && typeof ap !== 'boolean') fail(at, 'additionalProperties as a schema is not supported: use false (or true: none are written)');
        const props = s.properties;
        if (props !== undefined && (typeof props !== 'object' || props === null || Array.isArray(props))) fail(at, 'properties must be an object');
        const required = s.required ?? [];
        if (!Array.isArray(required) || required.some((r) => typeof r !== 'string')) fail(at, 'required must be a list of property names');
        const names = Object.keys((props as object) ?? {});
        for (const r of required as string[]) if (!names.includes(r)) fail(at, `required names ${JSON.stringify(r)}, which properties does not define`);
        if (names.length === 0) {
          if (ap === false) return literal('{}');
          return (addGenericRules(rules), ref('json-object'));
        }
        const members = names.map((n) =>
          seq([
            literal(JSON.stringify(n)),
            literal(':'),
            WS,
            value(asSchema((props as Record<string, unknown>)[n], `${at}/properties/${n}`), `${at}/properties/${n}`),
          ]),
        );
        const req = names.map((n) => (required as string[]).includes(n));
        // tail_i: the members from i on, each after a comma; first_i: the first member present from i on.
        const tag = `${at === '#' ? 'root' : 'r'}-obj-${rules.size}`;
        const tail = (k: number) => `${tag}-tail-${k}`;
        const first = (k: number) => `${tag}-first-${k}`;
        rules.set(tail(names.length), EMPTY);
        rules.set(first(names.length), EMPTY);
        for (let k = names.length - 1; k >= 0; k--) {
          const withComma = seq([literal(','), WS, members[k], ref(tail(k + 1))]);
          rules.set(tail(k), req[k] ? withComma : alt([withComma, ref(tail(k + 1))]));
          const starting = seq([members[k], ref(tail(k + 1))]);
          rules.set(first(k), req[k] ? starting : alt([starting, ref(first(k + 1))]));
        }
        return seq([literal('{'), ref(first(0)), literal('}')]);
      }
    }
  }

  function patternExpr(pattern: string, at: string): Expr {
    const p = parseRegex(pattern, `constraint jsonSchema pattern at ${at}`);
    if (p.expr.t === 'alt' && (p.anchoredStart || p.anchoredEnd)) fail(at, 'pattern with ^ or $ around a top-level | is not supported: group it, as ^(a|b)$');
    const body = inJsonString(p.expr);
    const any = repeat(STRING_CHAR, 0, Infinity);
    return seq([...(p.anchoredStart ? [] : [any]), body, ...(p.anchoredEnd ? [] : [any])]);
  }

  rules.set('root', value(rootSchema, '#'));
  return { rules, root: 'root' };
}

/** A pattern's characters as a JSON string writes them: `"` and `\` escaped, control characters as their short escapes (others never). */
function inJsonString(e: Expr): Expr {
  switch (e.t) {
    case 'chars': {
      const plain = charRanges(rangePairs(e.ranges).flatMap(([lo, hi]) => intersect(lo, hi, PLAIN)));
      const escapes: Expr[] = [];
      for (const [cp, esc] of [
        [0x22, '\\"'],
        [0x5c, '\\\\'],
        [0x08, '\\b'],
        [0x0c, '\\f'],
        [0x0a, '\\n'],
        [0x0d, '\\r'],
        [0x09, '\\t'],
      ] as const) {
        if (inRanges(e.ranges, cp)) escapes.push(literal(esc));
      }
      return alt([...(plain.length ? [{ t: 'chars', ranges: plain } as Expr] : []), ...escapes]);
    }
    case 'seq':
      return { t: 'seq', items: e.items.map(inJsonString) };
    case 'alt':
      return { t: 'alt', items: e.items.map(inJsonString) };
    case 'repeat':
      return { ...e, item: inJsonString(e.item) };
    case 'ref':
      return e;
  }
}

function intersect(lo: number, hi: number, pairs: [number, number][]): [number, number][] {
  const out: [number, number][] = [];
  for (const [a, b] of pairs) if (Math.max(a, lo) <= Math.min(b, hi)) out.push([Math.max(a, lo), Math.min(b, hi)]);
  return out;
}

function asSchema(v: unknown, at: string): Schema {
  if (typeof v === 'boolean') return v;
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new OptionError(`constraint jsonSchema ${at === '#' ? '' : `at ${at} `}must be an object or a boolean`);
  return v as Schema;
}

/** A value as compact JSON (what `const` and `enum` write). */
function compact(v: unknown, at: string): string {
  const s = JSON.stringify(v);
  if (s === undefined) throw new OptionError(`constraint jsonSchema at ${at}: const/enum holds a value JSON cannot write`);
  return s;
}

// ---------------------------------------------------------------------------------------------
// Integer ranges as decimal text

/** The decimal writings of the integers in [lo, hi] (no leading zeros; negatives with "-"). */
export function intRange(lo: number, hi: number): Expr {
  const parts: Expr[] = [];
  if (lo < 0) parts.push(seq([literal('-'), nonNegative(Math.max(1, -hi), -lo)]));
  if (hi >= 0) parts.push(nonNegative(Math.max(0, lo), hi));
  return alt(parts);
}

function nonNegative(a: number, b: number): Expr {
  const parts: Expr[] = [];
  const la = String(a).length;
  const lb = String(b).length;
  for (let L = la; L <= lb; L++) {
    const lo = L === la ? String(a) : `1${'0'.repeat(L - 1)}`;
    const hi = L === lb ? String(b) : '9'.repeat(L);
    parts.push(sameLength(lo, hi));
  }
  return alt(parts);
}

/** Decimal strings of one length from lo to hi. */
function sameLength(lo: string, hi: string): Expr {
  if (lo.length === 0) return EMPTY;
  const d = (c: string, e: string) => chars([[c.charCodeAt(0), e.charCodeAt(0)]]);
  if (lo[0] === hi[0]) return seq([literal(lo[0]), sameLength(lo.slice(1), hi.slice(1))]);
  const n = lo.length - 1;
  const allDigits = repeat(DIGIT, n, n);
  if (/^0*$/.test(lo.slice(1)) && /^9*$/.test(hi.slice(1))) return seq([d(lo[0], hi[0]), allDigits]);
  const parts: Expr[] = [seq([literal(lo[0]), sameLength(lo.slice(1), '9'.repeat(n))])];
  const a = lo.charCodeAt(0) + 1;
  const b = hi.charCodeAt(0) - 1;
  if (a <= b) parts.push(seq([chars([[a, b]]), allDigits]));
  parts.push(seq([literal(hi[0]), sameLength('0'.repeat(n), hi.slice(1))]));
  return alt(parts);
}
