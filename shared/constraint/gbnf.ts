/**
 * GBNF, as llama.cpp writes it (grammars/README.md there) → a grammar (grammar.ts): rules
 * `name ::= …` starting at `root`; literals "…" with \n \r \t \" \\ \xHH \uHHHH \UHHHHHHHH
 * escapes; classes […] and [^…] with ranges; `.` (any character); groups; `|`; the quantifiers
 * * + ? {m} {m,} {m,n}; `#` comments. A rule goes on over line breaks until the next `name ::=`.
 * Left recursion is refused (as in llama.cpp), by the grammar's check.
 */
import { OptionError } from '../errors.ts';
import { alt, chars, complement, EMPTY, literal, MAX_CODE_POINT, ref, repeat, seq, type Expr, type Grammar } from './grammar.ts';
import { MAX_REPEAT } from './regex.ts';

/** Rules a grammar may define. */
export const MAX_RULES = 2000;

export function parseGbnf(text: string): Grammar {
  let i = 0;
  let line = 1;
  const fail = (msg: string): never => {
    throw new OptionError(`constraint grammar line ${line}: ${msg}`);
  };
  const skipSpace = () => {
    while (i < text.length) {
      const c = text[i];
      if (c === '#') {
        while (i < text.length && text[i] !== '\n') i++;
      } else if (c === ' ' || c === '\t' || c === '\r' || c === '\n') {
        if (c === '\n') line++;
        i++;
      } else break;
    }
  };
  const nameAt = (): string | null => {
    const m = /^[a-zA-Z0-9-_]+/.exec(text.slice(i, i + 200));
    return m ? m[0] : null;
  };
  /** Is a rule definition (`name ::=`) next? */
  const definitionNext = (): boolean => {
    const n = nameAt();
    if (!n) return false;
    let j = i + n.length;
    while (j < text.length && (text[j] === ' ' || text[j] === '\t')) j++;
    return text.startsWith('::=', j);
  };
  const hexEscape = (n: number): number => {
    const s = text.slice(i, i + n);
    if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(s)) fail(`a malformed \\x/\\u/\\U escape`);
    i += n;
    const v = parseInt(s, 16);
    if (v > MAX_CODE_POINT) fail('an escape beyond U+10FFFF');
    return v;
  };
  /** One character of a literal or class (escapes read), as a code point. */
  const charAt = (): number => {
    if (i >= text.length) fail('a literal or class without its end');
    if (text[i] === '\\') {
      i++;
      const c = text[i++];
      switch (c) {
        case 'n':
          return 10;
        case 'r':
          return 13;
        case 't':
          return 9;
        case 'x':
          return hexEscape(2);
        case 'u':
          return hexEscape(4);
        case 'U':
          return hexEscape(8);
        case '\\':
        case '"':
        case '[':
        case ']':
        case '-':
          return c.charCodeAt(0);
        default:
          return fail(`an unknown escape \\${c ?? ''}`);
      }
    }
    const cp = text.codePointAt(i)!;
    if (cp === 10) line++;
    i += cp > 0xffff ? 2 : 1;
    return cp;
  };
  const primary = (rule: string): Expr => {
    const c = text[i];
    if (c === '"') {
      i++;
      let s = '';
      while (text[i] !== '"') {
        if (i >= text.length) fail('a literal without its closing "');
        s += String.fromCodePoint(charAt());
      }
      i++;
      return s === '' ? EMPTY : literal(s);
    }
    if (c === '[') {
      i++;
      const negated = text[i] === '^';
      if (negated) i++;
      const pairs: [number, number][] = [];
      while (text[i] !== ']') {
        if (i >= text.length) fail('a character class without its closing ]');
        const lo = charAt();
        if (text[i] === '-' && text[i + 1] !== ']') {
          i++;
          const hi = charAt();
          if (hi < lo) fail('a range out of order in a character class');
          pairs.push([lo, hi]);
        } else pairs.push([lo, lo]);
      }
      i++;
      return chars(negated ? complement(pairs) : pairs);
    }
    if (c === '.') {
      i++;
      return chars([[0, MAX_CODE_POINT]]);
    }
    if (c === '(') {
      i++;
      const e = alternatives(rule, true);
      skipSpace();
      if (text[i] !== ')') fail('a group without its closing )');
      i++;
      return e;
    }
    const n = nameAt();
    if (n) {
      i += n.length;
      return ref(n);
    }
    return fail(`unexpected ${JSON.stringify(text[i])} in rule "${rule}"`);
  };
  const quantified = (rule: string): Expr => {
    const e = primary(rule);
    const q = text[i];
    if (q === '*') return (i++, repeat(e, 0, Infinity));
    if (q === '+') return (i++, repeat(e, 1, Infinity));
    if (q === '?') return (i++, repeat(e, 0, 1));
    if (q === '{') {
      const m = /^\{\s*(\d+)\s*(,\s*(\d*)\s*)?\}/.exec(text.slice(i, i + 40));
      if (!m) fail('a malformed {m,n} repetition');
      i += m![0].length;
      const lo = Number(m![1]);
      const hi = m![2] === undefined ? lo : m![3] === '' ? Infinity : Number(m![3]);
      if (lo > hi) fail(`a repetition {${lo},${hi}} out of order`);
      if (lo > MAX_REPEAT || (hi !== Infinity && hi > MAX_REPEAT)) fail(`a repetition count over ${MAX_REPEAT}`);
      return repeat(e, lo, hi);
    }
    return e;
  };
  /** Alternatives until `)`, the end, or (outside a group) the next rule's definition. */
  const alternatives = (rule: string, inGroup: boolean): Expr => {
    const options: Expr[] = [];
    let items: Expr[] = [];
    for (;;) {
      skipSpace();
      if (i >= text.length || text[i] === ')' || (!inGroup && definitionNext())) break;
      if (text[i] === '|') {
        i++;
        options.push(seq(items));
        items = [];
        continue;
      }
      items.push(quantified(rule));
    }
    options.push(items.length === 0 ? EMPTY : seq(items));
    return alt(options);
  };

  const rules = new Map<string, Expr>();
  skipSpace();
  while (i < text.length) {
    const n = nameAt();
    if (!n || !definitionNext()) fail('expected a rule definition (name ::= …)');
    if (rules.has(n!)) fail(`rule "${n}" is defined twice`);
    i = text.indexOf('::=', i) + 3;
    rules.set(n!, alternatives(n!, false));
    if (rules.size > MAX_RULES) fail(`more than ${MAX_RULES} rules`);
    skipSpace();
    if (text[i] === ')') fail('a ) without its opening (');
  }
  if (!rules.has('root')) throw new OptionError('constraint grammar has no root rule (root ::= …), where llama.cpp grammars start');
  return { rules, root: 'root' };
}
