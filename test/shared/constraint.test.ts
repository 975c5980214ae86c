/**
 * Constraints, checked against independent judges: ECMAScript's own RegExp on every string up to
 * a length over a small alphabet (the automaton accepts exactly what it accepts, and knows the
 * fewest characters to a match), hand-written recognisers for grammars, ajv for JSON Schema, and
 * every integer of a window for integer bounds.
 */
import Ajv from 'ajv';
import { describe, expect, it } from 'vitest';
import { Automaton } from '../../shared/constraint/automaton.ts';
import { parseGbnf } from '../../shared/constraint/gbnf.ts';
import { compileGrammar, type Expr, type Grammar } from '../../shared/constraint/grammar.ts';
import { intRange, jsonSchemaGrammar } from '../../shared/constraint/json-schema.ts';
import { parseRegex } from '../../shared/constraint/regex.ts';
import { checkConstraintShape } from '../../shared/constraint/spec.ts';
import { OptionError } from '../../shared/errors.ts';

/** A vocabulary as a model has one: <unk> first, then characters. */
function automaton(g: Grammar, chars: readonly string[]): Automaton {
  const tokens = ['<unk>', ...chars];
  const codePoints = Int32Array.from(tokens, (t, i) => (i === 0 ? -1 : t.codePointAt(0)!));
  return new Automaton(compileGrammar(g, { codePoints }), tokens.length);
}
const ofExpr = (expr: Expr): Grammar => ({ rules: new Map([['root', expr]]), root: 'root' });
const BIG = 1 << 20;

/**
 * Every string over `chars` up to `depth` characters, walked on the automaton: it accepts a
 * string exactly when `judge` does, a character it refuses leads to no match within the depth,
 * and its fewest characters to a match is the shortest extension the judge accepts.
 */
function differential(a: Automaton, chars: readonly string[], depth: number, judge: (s: string) => boolean): number {
  let visited = 0;
  const walk = (s: number, text: string): number => {
    visited++;
    expect(a.accepting(s), JSON.stringify(text)).toBe(judge(text));
    let nearest = judge(text) ? 0 : Infinity;
    if (text.length < depth) {
      for (const [k, c] of chars.entries()) {
        const id = k + 1;
        if (a.allows(s, id, BIG)) nearest = Math.min(nearest, 1 + walk(a.next(s, id), text + c));
        else expect(noMatchBelow(text + c, chars, depth, judge), JSON.stringify(text + c)).toBe(true);
      }
    }
    const m = a.minToAccept(s);
    if (text.length + m <= depth) expect(nearest, `fewest to a match after ${JSON.stringify(text)}`).toBe(m);
    else expect(nearest).toBe(Infinity);
    return nearest;
  };
  walk(a.start, '');
  return visited;
}

/** No string starting with `text`, up to `depth` characters, is accepted (checked on a sample of extensions). */
function noMatchBelow(text: string, chars: readonly string[], depth: number, judge: (s: string) => boolean): boolean {
  if (judge(text)) return false;
  if (text.length >= depth) return true;
  return chars.every((c) => !judge(text + c)) && chars.slice(0, 2).every((c) => noMatchBelow(text + c + c, chars, depth, judge));
}

describe('regex: exactly what ECMAScript matches, whole', () => {
  const CHARS = ['a', 'b', 'c', ' ', '.', 'A', '1'];
  const PATTERNS = [
    'a*b',
    '(ab|a)*c?',
    '[A-Z][a-z ]*\\.',
    '[^a ]+',
    'a{2,3}b{0,2}|c+',
    '(a|b){3}',
    '\\d+(\\.\\d{1,2})?',
    '\\w+ \\w+',
    '(?:a|)+b', // a nullable alternative inside +: the nullable branch is taken by the grammar's ε
    '^(ab)+$',
    'a.c',
    '[\\s\\S]{2}',
    '(?<word>[abc]+)( (?<more>[abc]+))*',
    'a{2,}',
    '[.]{1,3}[^.]?',
  ];
  for (const p of PATTERNS) {
    it(p, () => {
      let a: Automaton;
      try {
        a = automaton(ofExpr(parseRegex(p).expr), CHARS);
      } catch (e) {
        // The one construct refused on purpose: a repetition of something that may be empty.
        expect(p).toBe('(?:a|)+b');
        expect((e as Error).message).toMatch(/can recurse without reading a character/);
        return;
      }
      const re = new RegExp(`^(?:${p.replace(/^\^|\$$/g, '')})$`);
      expect(differential(a, CHARS, 5, (s) => re.test(s))).toBeGreaterThan(1);
    });
  }

  it('refuses what it cannot read exactly, by name', () => {
    const refused: [string, RegExp][] = [
      ['(a)\\1', /backreference/],
      ['a(?=b)', /lookaround/],
      ['\\bword', /word boundary/],
      ['\\p{L}+', /Unicode property/],
      ['a$b', /\$ inside it/],
      ['a^', /\^ inside it/],
      ['(ab', /closing \)/],
      ['ab)', /without its opening/],
      ['[ab', /closing \]/],
      ['*a', /nothing before it/],
      ['a**', /two quantifiers/],
      ['a{5,2}', /out of order/],
      ['a{2000}', /over 1000/],
      ['[z-a]', /out of order/],
      ['\\q', /unknown escape/],
    ];
    for (const [p, why] of refused) expect(() => parseRegex(p), p).toThrow(why);
    // `{` that does not start a quantifier is a literal, as ECMAScript reads it.
    const a = automaton(ofExpr(parseRegex('a{b').expr), ['a', '{', 'b']);
    expect(differential(a, ['a', '{', 'b'], 4, (s) => s === 'a{b')).toBeGreaterThan(1);
  });
});

describe('GBNF, as llama.cpp writes it', () => {
  it('balanced brackets: the automaton accepts what a counter does', () => {
    const g = parseGbnf('# nested lists\nroot ::= "(" item* ")"\nitem ::= root | "x"\n');
    const balanced = (s: string) => {
      if (!s.startsWith('(')) return false;
      let d = 0;
      for (const [i, c] of [...s].entries()) {
        d += c === '(' ? 1 : c === ')' ? -1 : 0;
        if (d < 0 || (d === 0 && i < s.length - 1) || (c === 'x' && d === 0)) return false;
      }
      return d === 0;
    };
    differential(automaton(g, ['(', ')', 'x']), ['(', ')', 'x'], 8, balanced);
  });

  it("llama.cpp's arithmetic grammar, multi-line rules, comments, classes, escapes and repetition counts", () => {
    const g = parseGbnf(String.raw`
root  ::= (expr "=" ws term "\n")+
expr  ::= term ([-+*/] term)*
term  ::= ident | num | "(" ws expr ")" ws
ident ::= [a-z] [a-z0-9_]* ws
num   ::= [0-9]{1,3} ws   # at most three digits
ws    ::= [ \t]?
`);
    const re = /^(?:(?:(?:[a-z][a-z0-9_]*[ \t]?|[0-9]{1,3}[ \t]?|\([ \t]?.*\)[ \t]?)(?:[-+*/].*)?=[ \t]?.+\n)+)$/;
    const chars = ['a', '1', '+', '=', ' ', '\n', '(', ')'];
    const a = automaton(g, chars);
    // Every text it accepts reads as the grammar says (checked loosely by the regex, closely by eval).
    let s = a.start;
    let text = '';
    for (const c of 'a1+(1 +a)= 1\n') {
      const id = chars.indexOf(c) + 1;
      expect(a.allows(s, id, BIG), JSON.stringify(text + c)).toBe(true);
      s = a.next(s, id);
      text += c;
    }
    expect(a.accepting(s)).toBe(true);
    expect(re.test(text)).toBe(true);
    expect(a.allows(a.start, chars.indexOf('+') + 1, BIG)).toBe(false);
    // Four digits are one too many.
    let t = a.start;
    for (let k = 0; k < 3; k++) t = a.next(t, chars.indexOf('1') + 1);
    expect(a.allows(t, chars.indexOf('1') + 1, BIG)).toBe(false);
  });

  it('refuses left recursion, undefined rules, a missing root, and names the line of a syntax error', () => {
    expect(() => automaton(parseGbnf('root ::= root "a" | "b"'), ['a', 'b'])).toThrow(/rule "root" can recurse without reading a character/);
    expect(() => automaton(parseGbnf('root ::= x'), ['a'])).toThrow(/refers to "x", which is not defined/);
    expect(() => parseGbnf('start ::= "a"')).toThrow(/no root rule/);
    expect(() => parseGbnf('root ::= "a"\nx ::= [a-')).toThrow(/line 2: a literal or class without its end/);
    expect(() => parseGbnf('root ::= "a" )')).toThrow(/without its opening/);
    expect(() => parseGbnf('root ::= "a"\nroot ::= "b"')).toThrow(/defined twice/);
  });
});

describe('JSON Schema: every text is JSON that ajv finds valid', () => {
  const ajv = new Ajv({ strict: false });
  const CHARS = [...'{}[]",: abcdefgiklmnorstuvxyz0189-.\\/'];
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  /** A random walk: random allowed characters, sometimes stopping at a match, always a match within `n`. */
  function walk(a: Automaton, n: number): string {
    let s = a.start;
    let out = '';
    for (let left = n; left > 0; left--) {
      const ids = CHARS.map((_, k) => k + 1).filter((id) => a.allows(s, id, left));
      if (a.accepting(s) && (ids.length === 0 || rand() < 0.1)) break;
      expect(ids.length, `stuck after ${JSON.stringify(out)}`).toBeGreaterThan(0);
      const id = ids[Math.floor(rand() * ids.length)];
      out += CHARS[id - 1];
      s = a.next(s, id);
    }
    expect(a.accepting(s), out).toBe(true);
    return out;
  }
  const SCHEMAS: Record<string, object> = {
    object: {
      type: 'object',
      properties: {
        name: { type: 'string', minLength: 1, maxLength: 6 },
        age: { type: 'integer', minimum: 18, maximum: 120 },
        tags: { type: 'array', items: { enum: ['a', 'b', null] }, minItems: 1, maxItems: 3 },
        ok: { type: ['boolean', 'null'] },
        code: { type: 'string', pattern: '^[a-c]{2}\\d$' },
      },
      required: ['name', 'age'],
      additionalProperties: false,
    },
    recursive: {
      $defs: {
        node: {
          type: 'object',
          properties: {
            v: { type: 'integer', exclusiveMinimum: -3, exclusiveMaximum: 3 },
            kids: { type: 'array', items: { $ref: '#/$defs/node' }, maxItems: 2 },
          },
          required: ['v'],
        },
      },
      $ref: '#/$defs/node',
    },
    anyOf: { anyOf: [{ type: 'number' }, { const: { a: [1, 'x'] } }, { type: 'string', pattern: '^b.?$' }, { type: 'string', pattern: 'x' }] },
    any: {},
    allOptional: { type: 'object', properties: { a: { type: 'null' }, b: { type: 'boolean' }, c: { type: 'integer', minimum: 0 } } },
  };
  for (const [name, schema] of Object.entries(SCHEMAS)) {
    it(name, () => {
      const a = automaton(jsonSchemaGrammar(schema), CHARS);
      const validate = ajv.compile(schema);
      const seen = new Set<string>();
      for (let i = 0; i < 300; i++) {
        const text = walk(a, a.minToAccept(a.start) + Math.floor(rand() * 80));
        const value = JSON.parse(text);
        expect(validate(value), `${text}: ${ajv.errorsText(validate.errors)}`).toBe(true);
        seen.add(text);
      }
      expect(seen.size).toBeGreaterThan(10);
    });
  }

  it('writes each property at most once, in order, the required ones always; at most one space after : and , (no whitespace loop)', () => {
    const a = automaton(jsonSchemaGrammar(SCHEMAS.allOptional), CHARS);
    for (let i = 0; i < 200; i++) {
      const text = walk(a, 60);
      expect(text).not.toMatch(/ {2}|\{ |^ /);
      const keys = Object.keys(JSON.parse(text));
      expect(keys).toEqual(['a', 'b', 'c'].filter((k) => keys.includes(k)));
    }
  });

  it('refuses what is outside the subset by keyword and place, never dropping it', () => {
    const refused: [object, RegExp][] = [
      [{ type: 'string', format: 'date' }, /keyword "format" is not supported/],
      [{ type: 'object', properties: { a: { type: 'array', uniqueItems: true } } }, /at #\/properties\/a uniqueItems true/],
      [{ oneOf: [{ type: 'null' }] }, /keyword "oneOf"/],
      [{ type: 'object', minProperties: 1 }, /keyword "minProperties"/],
      [{ type: 'string', pattern: 'a', maxLength: 3 }, /maxLength beside pattern/],
      [{ type: 'integer', minimum: 5, maximum: 4 }, /no integer within its bounds/],
      [{ $ref: '#/$defs/missing' }, /points to nothing/],
      [{ $ref: 'http://x/y' }, /is not supported/],
      [{ type: 'object', required: ['b'], properties: { a: {} } }, /required names "b"/],
      [{ type: 'number', minimum: 1 }, /"minimum" does not apply to type number/],
      [{ type: 'object', additionalProperties: { type: 'string' } }, /additionalProperties as a schema/],
      [{ type: 'strnig' }, /type must be one of/],
      [{ minLength: 3 }, /needs a "type" beside it/],
    ];
    for (const [schema, why] of refused) expect(() => jsonSchemaGrammar(schema), JSON.stringify(schema)).toThrow(why);
  });

  it('integer bounds: exactly the integers in range, written without leading zeros', () => {
    const digits = [...'-0123456789'];
    for (const [lo, hi] of [
      [0, 0],
      [-7, 13],
      [18, 120],
      [95, 1005],
      [-250, -19],
      [7, 7],
    ]) {
      const a = automaton(ofExpr(intRange(lo, hi)), digits);
      const judge = (s: string) => /^-?(0|[1-9]\d*)$/.test(s) && s !== '-0' && Number(s) >= lo && Number(s) <= hi;
      differential(a, digits, 5, judge);
    }
  });
});

describe('constraint: the shape a client sends', () => {
  it('exactly one of regex, choice, jsonSchema, grammar, within bounds; choices distinct after NFC', () => {
    expect(checkConstraintShape({ regex: 'a+' })).toEqual({ regex: 'a+' });
    expect(checkConstraintShape({ choice: ['Cafe\u0301', 'no'] })).toEqual({ choice: ['Café', 'no'] });
    const bad: [unknown, RegExp][] = [
      [null, /got null/],
      [[], /got a list/],
      [{}, /got none/],
      [{ regex: 'a', choice: ['a'] }, /got 2 keys/],
      [{ regex: '' }, /regex must be a string of 1 to/],
      [{ choice: [] }, /choice must be a list of 1 to 16/],
      [{ choice: ['é', 'e\u0301'] }, /choice\[1\] repeats/],
      [{ jsonSchema: 'x' }, /jsonSchema must be an object/],
      [{ grammer: 'root ::= "a"' }, /"grammer" is not one of them/],
    ];
    for (const [v, why] of bad) {
      expect(() => checkConstraintShape(v), JSON.stringify(v)).toThrow(OptionError);
      expect(() => checkConstraintShape(v), JSON.stringify(v)).toThrow(why);
    }
  });
});
