/**
 * ECMAScript regular expressions → grammar expressions (grammar.ts), for the subset a finite
 * automaton reads exactly: characters and escapes (\d \w \s and their negations, \n \t \xHH
 * \uHHHH \u{…}), `.`, classes with ranges and negation, groups (capturing, `(?:…)`, named),
 * alternation, and the quantifiers * + ? {n} {n,} {n,m} (lazy forms too: a whole match does not
 * care). `^` and `$` may stand at the pattern's ends. Backreferences, lookaround, word
 * boundaries, Unicode property escapes and flags are refused by name — never dropped.
 */
import { OptionError } from '../errors.ts';
import { alt, chars, complement, EMPTY, repeat, seq, type Expr } from './grammar.ts';

/** The largest count a {m,n} may hold (each copy is grammar elements). */
export const MAX_REPEAT = 1000;

const DIGIT: [number, number][] = [[0x30, 0x39]];
const WORD: [number, number][] = [
  [0x30, 0x39],
  [0x41, 0x5a],
  [0x5f, 0x5f],
  [0x61, 0x7a],
];
/** ECMAScript's WhiteSpace and LineTerminator. */
const SPACE: [number, number][] = [
  [0x09, 0x0d],
  [0x20, 0x20],
  [0xa0, 0xa0],
  [0x1680, 0x1680],
  [0x2000, 0x200a],
  [0x2028, 0x2029],
  [0x202f, 0x202f],
  [0x205f, 0x205f],
  [0x3000, 0x3000],
  [0xfeff, 0xfeff],
];
const LINE_TERMINATORS: [number, number][] = [
  [0x0a, 0x0a],
  [0x0d, 0x0d],
  [0x2028, 0x2029],
];

export interface ParsedRegex {
  expr: Expr;
  /** The pattern began with ^ / ended with $. */
  anchoredStart: boolean;
  anchoredEnd: boolean;
}

/** A pattern → its expression; `what` names it in errors (e.g. "regex", "pattern"). */
export function parseRegex(pattern: string, what = 'regex'): ParsedRegex {
  const cps = Array.from(pattern, (c) => c.codePointAt(0)!);
  let i = 0;
  const fail = (msg: string): never => {
    throw new OptionError(`${what} ${msg} (at character ${i + 1} of ${JSON.stringify(pattern.length > 60 ? `${pattern.slice(0, 60)}…` : pattern)})`);
  };
  const peek = () => (i < cps.length ? String.fromCodePoint(cps[i]) : '');
  const eat = (s: string) => {
    if (peek() === s) {
      i++;
      return true;
    }
    return false;
  };
  const anchoredStart = eat('^');
  let anchoredEnd = false;

  const hex = (n: number): number => {
    const s = String.fromCodePoint(...cps.slice(i, i + n));
    if (s.length !== n || !/^[0-9a-fA-F]+$/.test(s)) fail('has a malformed \\x or \\u escape');
    i += n;
    return parseInt(s, 16);
  };
  /** An escape after the backslash: a set of pairs. `inClass`: \b is a backspace there. */
  const readEscape = (inClass: boolean): [number, number][] => {
    if (i >= cps.length) fail('ends with a lone backslash');
    const c = peek();
    i++;
    switch (c) {
      case 'd':
        return DIGIT;
      case 'D':
        return complement(DIGIT);
      case 'w':
        return WORD;
      case 'W':
        return complement(WORD);
      case 's':
        return SPACE;
      case 'S':
        return complement(SPACE);
      case 'n':
        return [[10, 10]];
      case 'r':
        return [[13, 13]];
      case 't':
        return [[9, 9]];
      case 'v':
        return [[11, 11]];
      case 'f':
        return [[12, 12]];
      case '0':
        if (/[0-9]/.test(peek())) fail('uses an octal escape, which is not supported');
        return [[0, 0]];
      case 'x': {
        const v = hex(2);
        return [[v, v]];
      }
      case 'u': {
        if (eat('{')) {
          const start = i;
          while (i < cps.length && peek() !== '}') i++;
          const s = String.fromCodePoint(...cps.slice(start, i));
          if (!eat('}') || !/^[0-9a-fA-F]{1,6}$/.test(s) || parseInt(s, 16) > 0x10ffff) fail('has a malformed \\u{…} escape');
          const v = parseInt(s, 16);
          return [[v, v]];
        }
        const v = hex(4);
        return [[v, v]];
      }
      case 'b':
        if (inClass) return [[8, 8]];
        return fail('uses \\b (a word boundary), which is not supported: a constraint matches characters, not positions between them');
      case 'B':
        return fail('uses \\B (a non-boundary), which is not supported');
      case 'p':
      case 'P':
        return fail(`uses \\${c}{…} (a Unicode property escape), which is not supported: write the characters as a class`);
      case 'k':
        return fail('uses \\k<…> (a named backreference), which is not supported');
      case 'c':
        return fail('uses \\c (a control escape), which is not supported: write \\xHH');
      default:
        if (/[1-9]/.test(c)) return fail(`uses \\${c} (a backreference), which is not supported`);
        if (/[A-Za-z]/.test(c)) return fail(`uses the unknown escape \\${c}`);
        return [[cps[i - 1], cps[i - 1]]];
    }
  };
  const classAtom = (): [number, number][] => {
    if (eat('\\')) return readEscape(true);
    if (i >= cps.length) fail('has a character class without its closing ]');
    const c = cps[i++];
    return [[c, c]];
  };
  const charClass = (): Expr => {
    const negated = eat('^');
    const pairs: [number, number][] = [];
    while (!eat(']')) {
      if (i >= cps.length) fail('has a character class without its closing ]');
      const a = classAtom();
      if (peek() === '-' && i + 1 < cps.length && cps[i + 1] !== 0x5d) {
        i++;
        const b = classAtom();
        if (a.length !== 1 || b.length !== 1 || a[0][0] !== a[0][1] || b[0][0] !== b[0][1]) fail('has a range whose end is a class such as \\d');
        if (a[0][0] > b[0][0]) fail('has a range out of order');
        pairs.push([a[0][0], b[0][0]]);
      } else pairs.push(...a);
    }
    return chars(negated ? complement(pairs) : pairs);
  };
  const atom = (): Expr => {
    const c = peek();
    if (c === '(') {
      i++;
      if (eat('?')) {
        if (eat(':')) {
          /* non-capturing */
        } else if (peek() === '<' && cps[i + 1] !== 0x3d && cps[i + 1] !== 0x21) {
          while (i < cps.length && peek() !== '>') i++;
          if (!eat('>')) fail('has a named group without its closing >');
        } else if (peek() === '=' || peek() === '!' || peek() === '<') fail('uses lookaround ((?=, (?!, (?<=, (?<!), which is not supported');
        else fail('uses a group modifier (?…) that is not supported');
      }
      const e = disjunction();
      if (!eat(')')) fail('has a group without its closing )');
      return e;
    }
    if (c === '[') {
      i++;
      return charClass();
    }
    if (c === '.') {
      i++;
      return chars(complement(LINE_TERMINATORS));
    }
    if (c === '\\') {
      i++;
      return chars(readEscape(false));
    }
    if ('*+?'.includes(c)) fail(`has a quantifier ${c} with nothing before it`);
    if (c === ')') fail('has a ) without its opening (');
    i++;
    return chars([[cps[i - 1], cps[i - 1]]]);
  };
  /** {m}, {m,}, {m,n} at i, or null (then `{` is a literal, as ECMAScript reads it outside u mode). */
  const braces = (): [number, number] | null => {
    const rest = String.fromCodePoint(...cps.slice(i, i + 24));
    const m = /^\{(\d+)(,(\d*))?\}/.exec(rest);
    if (!m) return null;
    i += m[0].length;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : m[3] === '' ? Infinity : Number(m[3]);
    if (lo > hi) fail(`has a quantifier {${lo},${hi}} out of order`);
    if (lo > MAX_REPEAT || (hi !== Infinity && hi > MAX_REPEAT)) fail(`has a count over ${MAX_REPEAT} in a quantifier`);
    return [lo, hi];
  };
  const term = (): Expr => {
    const a = atom();
    let q: [number, number] | null = null;
    if (eat('*')) q = [0, Infinity];
    else if (eat('+')) q = [1, Infinity];
    else if (eat('?')) q = [0, 1];
    else if (peek() === '{') q = braces();
    if (!q) return a;
    eat('?'); // lazy: the same set of whole matches
    if ('*+?'.includes(peek()) && peek() !== '') fail('has two quantifiers in a row');
    if (peek() === '{' && braces()) fail('has two quantifiers in a row');
    return repeat(a, q[0], q[1]);
  };
  const alternative = (): Expr => {
    const items: Expr[] = [];
    while (i < cps.length && peek() !== '|' && peek() !== ')') {
      if (peek() === '^') fail('has ^ inside it: only the pattern may start with it (the whole text is matched)');
      if (peek() === '$') {
        if (i === cps.length - 1) {
          i++;
          anchoredEnd = true;
          break;
        }
        fail('has $ inside it: only the pattern may end with it (the whole text is matched)');
      }
      items.push(term());
    }
    return items.length === 0 ? EMPTY : seq(items);
  };
  function disjunction(): Expr {
    const items = [alternative()];
    while (eat('|')) items.push(alternative());
    return alt(items);
  }
  const expr = disjunction();
  if (i < cps.length) fail(peek() === ')' ? 'has a ) without its opening (' : `cannot be read from ${JSON.stringify(peek())}`);
  return { expr, anchoredStart, anchoredEnd };
}
