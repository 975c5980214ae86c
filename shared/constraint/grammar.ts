/**
 * The one form every constraint compiles to: a context-free grammar over characters (regex,
 * choice, JSON Schema and GBNF all lower to it), then flattened as llama.cpp's grammar engine
 * flattens GBNF — each rule a list of alternatives, each alternative a run of elements ended by
 * END — so a parser state is a stack of positions, and a set of such stacks is an automaton
 * state (automaton.ts). Character sets are restricted to a model's alphabet here, once, so the
 * fewest characters to acceptance (`minRest`) already knows what the model can write.
 */
import { OptionError } from '../errors.ts';

/** A grammar expression, as the front ends build it. */
export type Expr =
  | { t: 'chars'; ranges: readonly number[] }
  | { t: 'seq'; items: readonly Expr[] }
  | { t: 'alt'; items: readonly Expr[] }
  | { t: 'ref'; name: string }
  | { t: 'repeat'; item: Expr; min: number; max: number };

export interface Grammar {
  rules: Map<string, Expr>;
  root: string;
}

export const MAX_CODE_POINT = 0x10ffff;
/** Elements a flattened grammar may hold: a counted repetition copies its body (x{1000} of a long x). */
export const MAX_ELEMENTS = 200_000;

// ---------------------------------------------------------------------------------------------
// Character sets: sorted, merged, inclusive [lo, hi] code-point pairs, flattened.

/** [lo, hi] pairs → sorted and merged ranges. */
export function charRanges(pairs: readonly (readonly [number, number])[]): number[] {
  const sorted = pairs.filter(([lo, hi]) => lo <= hi).sort((a, b) => a[0] - b[0]);
  const out: number[] = [];
  for (const [lo, hi] of sorted) {
    const n = out.length;
    if (n > 0 && lo <= out[n - 1] + 1) out[n - 1] = Math.max(out[n - 1], hi);
    else out.push(lo, hi);
  }
  return out;
}

/** Every code point not in `ranges`. */
export function negate(ranges: readonly number[]): number[] {
  const out: number[] = [];
  let next = 0;
  for (let i = 0; i < ranges.length; i += 2) {
    if (ranges[i] > next) out.push(next, ranges[i] - 1);
    next = ranges[i + 1] + 1;
  }
  if (next <= MAX_CODE_POINT) out.push(next, MAX_CODE_POINT);
  return out;
}

/** Flattened ranges → [lo, hi] pairs. */
export const rangePairs = (r: readonly number[]): [number, number][] => Array.from({ length: r.length / 2 }, (_, k) => [r[2 * k], r[2 * k + 1]]);

/** Every code point outside the pairs, as pairs (a class's `[^…]`, `\D`, `.`). */
export const complement = (pairs: readonly (readonly [number, number])[]): [number, number][] => rangePairs(negate(charRanges(pairs)));

export function inRanges(ranges: readonly number[], cp: number): boolean {
  for (let i = 0; i < ranges.length; i += 2) if (cp >= ranges[i] && cp <= ranges[i + 1]) return true;
  return false;
}

// ---------------------------------------------------------------------------------------------
// Builders

export const chars = (pairs: readonly (readonly [number, number])[]): Expr => ({ t: 'chars', ranges: charRanges(pairs) });
export const seq = (items: readonly Expr[]): Expr => (items.length === 1 ? items[0] : { t: 'seq', items });
export const alt = (items: readonly Expr[]): Expr => (items.length === 1 ? items[0] : { t: 'alt', items });
export const ref = (name: string): Expr => ({ t: 'ref', name });
export const repeat = (item: Expr, min: number, max: number): Expr => ({ t: 'repeat', item, min, max });
export const opt = (item: Expr): Expr => repeat(item, 0, 1);
export const EMPTY: Expr = { t: 'seq', items: [] };
/** A string, character by character. */
export const literal = (s: string): Expr => seq(Array.from(s, (c) => chars([[c.codePointAt(0)!, c.codePointAt(0)!]])));

// ---------------------------------------------------------------------------------------------
// The flattened grammar

/** The end of an alternative; elements ≥ 0 are character sets, ≤ −2 rules (−2 − rule). */
export const END = -1;
/** "No way to acceptance": larger than any sum of real lengths, small enough to add without overflow. */
export const UNREACHABLE = 0x3fffffff;

export interface Program {
  /** [positions] the element at each position. */
  elems: Int32Array;
  /** [sets] the vocabulary ids each character set holds (only the model's characters). */
  setIds: Int32Array[];
  /** [rules] the positions its alternatives start at. */
  alts: number[][];
  /** [positions] the fewest characters from here to the end of the alternative (UNREACHABLE: none). */
  minRest: Int32Array;
  root: number;
  ruleNames: string[];
  /** Characters the grammar names one at a time that the model cannot write (for the "no match" message). */
  missing: string[];
}

/** What a program is built against: the model's characters by vocabulary id (null: not a character). */
export interface Alphabet {
  /** [V] each id's code point, or −1 (<unk>, author tags). */
  codePoints: Int32Array;
}

/** A grammar → the flattened program over a model's alphabet; errors are OptionErrors naming the rule. */
export function compileGrammar(g: Grammar, alphabet: Alphabet): Program {
  const names: string[] = [...g.rules.keys()];
  const ids = new Map(names.map((n, i) => [n, i]));
  if (!ids.has(g.root)) throw new OptionError(`constraint grammar has no rule "${g.root}" to start from`);
  const bodies: number[][][] = names.map(() => []);
  const owner: string[] = [...names];
  const setKeys = new Map<string, number>();
  const setRanges: (readonly number[])[] = [];
  let size = 0;
  const grow = (n: number) => {
    size += n;
    if (size > MAX_ELEMENTS)
      throw new OptionError(`constraint is too large: it expands to over ${MAX_ELEMENTS} grammar elements (a counted repetition copies its body)`);
  };
  const newRule = (from: string, alternatives: number[][]): number => {
    names.push(`${from}-${names.length}`);
    owner.push(from);
    bodies.push(alternatives);
    return names.length - 1;
  };
  // One expression → the elements it is inline, in rule `from`.
  const lower = (e: Expr, from: string): number[] => {
    switch (e.t) {
      case 'chars': {
        const key = e.ranges.join(',');
        let s = setKeys.get(key);
        if (s === undefined) {
          s = setRanges.length;
          setRanges.push(e.ranges);
          setKeys.set(key, s);
        }
        grow(1);
        return [s];
      }
      case 'seq':
        return e.items.flatMap((x) => lower(x, from));
      case 'alt':
        grow(1);
        return [
          -2 -
            newRule(
              from,
              e.items.map((x) => lower(x, from)),
            ),
        ];
      case 'ref': {
        const r = ids.get(e.name);
        if (r === undefined) throw new OptionError(`constraint grammar rule "${from}" refers to "${e.name}", which is not defined`);
        grow(1);
        return [-2 - r];
      }
      case 'repeat': {
        if (e.max === 0) return [];
        const body = lower(e.item, from);
        // The body as one element, so copies of it cost one element each.
        const one = body.length === 1 ? body[0] : -2 - newRule(from, [body]);
        const out: number[] = [];
        for (let i = 0; i < e.min; i++) out.push(one);
        grow(e.min);
        if (e.max === Infinity) {
          const star = names.length;
          newRule(from, [[one, -2 - star], []]);
          out.push(-2 - star);
        } else if (e.max > e.min) {
          // x? nested: opt_k ::= x opt_{k−1} | ε — k more at most, each only after the one before.
          let tail = -2 - newRule(from, [[one], []]);
          for (let k = 1; k < e.max - e.min; k++) tail = -2 - newRule(from, [[one, tail], []]);
          grow(2 * (e.max - e.min));
          out.push(tail);
        }
        return out;
      }
    }
  };
  for (const [i, n] of [...names].entries()) {
    const e = g.rules.get(n)!;
    bodies[i] = e.t === 'alt' ? e.items.map((x) => lower(x, n)) : [lower(e, n)];
  }

  // Flatten: every alternative's elements, then END.
  const elems: number[] = [];
  const alts = bodies.map((as) =>
    as.map((a) => {
      const start = elems.length;
      elems.push(...a, END);
      return start;
    }),
  );

  // The model's ids in each set, and the single characters it cannot write.
  const V = alphabet.codePoints.length;
  const missing = new Set<string>();
  const setIds = setRanges.map((ranges) => {
    const inSet: number[] = [];
    for (let id = 0; id < V; id++) if (alphabet.codePoints[id] >= 0 && inRanges(ranges, alphabet.codePoints[id])) inSet.push(id);
    if (inSet.length === 0 && ranges.length === 2 && ranges[0] === ranges[1]) missing.add(String.fromCodePoint(ranges[0]));
    return Int32Array.from(inSet);
  });

  // The fewest characters each rule derives (a fixed point: lengths only fall), then per position.
  const ruleMin = new Int32Array(alts.length).fill(UNREACHABLE);
  const runFrom = (pos: number): number => {
    let sum = 0;
    for (let p = pos; elems[p] !== END; p++) {
      const e = elems[p];
      sum += e >= 0 ? (setIds[e].length > 0 ? 1 : UNREACHABLE) : ruleMin[-2 - e];
      if (sum >= UNREACHABLE) return UNREACHABLE;
    }
    return sum;
  };
  for (let changed = true; changed; ) {
    changed = false;
    for (let r = 0; r < alts.length; r++) {
      let m = ruleMin[r];
      for (const a of alts[r]) m = Math.min(m, runFrom(a));
      if (m < ruleMin[r]) {
        ruleMin[r] = m;
        changed = true;
      }
    }
  }
  const minRest = new Int32Array(elems.length);
  for (let p = elems.length - 1; p >= 0; p--) {
    const e = elems[p];
    if (e === END) minRest[p] = 0;
    else minRest[p] = Math.min(UNREACHABLE, (e >= 0 ? (setIds[e].length > 0 ? 1 : UNREACHABLE) : ruleMin[-2 - e]) + minRest[p + 1]);
  }
  checkNoLeftRecursion(elems, alts, ruleMin, names, owner);
  return { elems: Int32Array.from(elems), setIds, alts, minRest, root: ids.get(g.root)!, ruleNames: names, missing: [...missing] };
}

/**
 * A rule that can reach itself before reading a character (`a ::= a "x"`, or `(b?)*`) would
 * expand forever: refused, naming the rule the client wrote. A rule that derives only the empty
 * text counts as reading nothing.
 */
function checkNoLeftRecursion(elems: number[], alts: number[][], ruleMin: Int32Array, names: string[], owner: string[]): void {
  const nullable = (e: number) => e <= -2 && ruleMin[-2 - e] === 0;
  const left = alts.map((as) => {
    const out = new Set<number>();
    for (const a of as) {
      for (let p = a; elems[p] !== END && elems[p] <= -2; p++) {
        out.add(-2 - elems[p]);
        if (!nullable(elems[p])) break;
      }
    }
    return out;
  });
  const state = new Uint8Array(alts.length); // 0 unseen, 1 on the path, 2 done
  const visit = (r: number): void => {
    state[r] = 1;
    for (const n of left[r]) {
      if (state[n] === 1) {
        const who = owner[n] === names[n] ? names[n] : owner[n];
        throw new OptionError(
          `constraint grammar rule "${who}" can recurse without reading a character (left recursion, or a repetition of something that may be empty): write it so each round reads one`,
        );
      }
      if (state[n] === 0) visit(n);
    }
    state[r] = 2;
  };
  for (let r = 0; r < alts.length; r++) if (state[r] === 0) visit(r);
}
