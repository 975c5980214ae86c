/**
 * A compiled constraint run over a model's vocabulary, one character at a time. A parser state is
 * a set of stacks of grammar positions (grammar.ts), each stack's top a character set (or the
 * stack empty: the text so far is a match). States are interned as they are met — the automaton
 * is built lazily, as a DFA — so a state is a small integer: a beam copies it, a step from a
 * state already seen is one array read, and a continuation carries its stacks.
 *
 * What keeps a constrained text whole within its length: every state knows, for each id, the
 * fewest characters to acceptance after writing it (`after`), so a character is allowed only
 * where acceptance still fits in what is left.
 */
import { OptionError } from '../errors.ts';
import { END, UNREACHABLE, type Program } from './grammar.ts';

/** Stacks one state may hold: an ambiguous grammar multiplies them. */
export const MAX_STACKS = 4096;
/** States one automaton keeps (each holds a [V] array); past it, a constraint is refused as too complex. */
export const MAX_STATES = 200_000;

interface State {
  /** Stacks of positions, bottom first; each top is a character set (none empty: those are `accepting`). */
  stacks: number[][];
  accepting: boolean;
  /** [V] the fewest characters to acceptance after writing id (UNREACHABLE: id is not allowed here). */
  after: Int32Array;
  /** The state after an id, once computed (a state meets few of the V ids: a map, not a [V] array). */
  next: Map<number, number>;
  /** The fewest characters to acceptance from here (0 when accepting). */
  minToAccept: number;
  /** The fewest `after` over all ids: UNREACHABLE when nothing may follow. */
  minAfter: number;
}

export class Automaton {
  readonly start: number;
  private readonly states: State[] = [];
  private readonly index = new Map<string, number>();

  constructor(
    private readonly p: Program,
    private readonly V: number,
  ) {
    const root = p.root;
    const stacks = new Map<string, number[]>();
    for (const a of p.alts[root]) this.expand([a], stacks);
    this.start = this.intern(stacks);
  }

  /** States met so far (the cache of compiled constraints starts a fresh automaton past a bound). */
  get size(): number {
    return this.states.length;
  }

  accepting(s: number): boolean {
    return this.states[s].accepting;
  }

  /** The fewest characters from state s to a match. */
  minToAccept(s: number): number {
    return this.states[s].minToAccept;
  }

  /** May id be written in state s with `left` characters left (this one included)? */
  allows(s: number, id: number, left: number): boolean {
    return this.states[s].after[id] <= left - 1;
  }

  /** Can anything be written in state s with `left` characters left? (At acceptance: may the text go on?) */
  canContinue(s: number, left: number): boolean {
    return this.states[s].minAfter <= left - 1;
  }

  /**
   * How a text in state s with `left` characters left ends here, if it does: at a match that
   * nothing may follow within `left` — "stop" where nothing may follow at all, "length" where a
   * longer match exists but does not fit (a continuation with more goes on); else null.
   */
  endsAt(s: number, left: number): 'stop' | 'length' | null {
    if (!this.accepting(s) || this.canContinue(s, left)) return null;
    return this.canContinue(s, UNREACHABLE) ? 'length' : 'stop';
  }

  /** The state after writing id in state s (id must be allowed there). */
  next(s: number, id: number): number {
    const st = this.states[s];
    const known = st.next.get(id);
    if (known !== undefined) return known;
    const out = new Map<string, number[]>();
    const { elems, setIds } = this.p;
    for (const stack of st.stacks) {
      if (stack.length === 0) continue;
      const top = stack[stack.length - 1];
      if (!hasId(setIds[elems[top]], id)) continue;
      const moved = stack.slice();
      moved[moved.length - 1] = top + 1;
      this.expand(moved, out);
    }
    const n = this.intern(out);
    st.next.set(id, n);
    return n;
  }

  /** State s as plain data (for a continuation token). */
  stacks(s: number): number[][] {
    return this.states[s].stacks.map((x) => x.slice());
  }

  /** A state from its stacks, checked against the program: a token is input like any other. */
  fromStacks(stacks: readonly (readonly number[])[]): number {
    const { elems } = this.p;
    const out = new Map<string, number[]>();
    for (const s of stacks) {
      if (!s.every((pos) => Number.isInteger(pos) && pos >= 0 && pos < elems.length) || (s.length > 0 && elems[s[s.length - 1]] < 0)) {
        throw new OptionError('continuation is invalid: its constraint state does not fit the constraint');
      }
      out.set(s.join(','), s.slice());
    }
    if (out.size === 0) throw new OptionError('continuation is invalid: its constraint state is empty');
    return this.intern(out);
  }

  /**
   * A stack → the stacks it stands for with a character set on top (or empty: accepted), into
   * `out` by key. A rule on top is replaced by each of its alternatives; where the rule was the
   * last element of its own alternative nothing is left to return to, so nothing is pushed (a
   * repetition's loop keeps its stack the same height). Stacks that can no longer reach
   * acceptance in the model's alphabet are dropped.
   */
  private expand(stack: number[], out: Map<string, number[]>): void {
    const { elems, alts, minRest, setIds } = this.p;
    let cost = 0;
    for (const pos of stack) cost += minRest[pos];
    if (cost >= UNREACHABLE) return;
    if (stack.length === 0) {
      out.set('', stack);
      return;
    }
    const pos = stack[stack.length - 1];
    const e = elems[pos];
    if (e === END) {
      stack.pop();
      this.expand(stack, out);
      return;
    }
    if (e >= 0) {
      if (setIds[e].length > 0) out.set(stack.join(','), stack);
      return;
    }
    if (out.size >= MAX_STACKS)
      throw new OptionError(`constraint is too ambiguous: a state holds over ${MAX_STACKS} parses (make its alternatives start differently)`);
    const base = stack.slice(0, -1);
    if (elems[pos + 1] !== END) base.push(pos + 1);
    for (const a of alts[-2 - e]) this.expand([...base, a], out);
  }

  private intern(stacks: Map<string, number[]>): number {
    const key = [...stacks.keys()].sort().join(';');
    const known = this.index.get(key);
    if (known !== undefined) return known;
    if (this.states.length >= MAX_STATES) throw new OptionError(`constraint is too complex: it reached over ${MAX_STATES} parser states`);
    const { elems, setIds, minRest } = this.p;
    const after = new Int32Array(this.V).fill(UNREACHABLE);
    let accepting = false;
    let minToAccept = UNREACHABLE;
    let minAfter = UNREACHABLE;
    const list = [...stacks.values()];
    for (const s of list) {
      if (s.length === 0) {
        accepting = true;
        minToAccept = 0;
        continue;
      }
      let below = 0;
      for (let i = 0; i < s.length - 1; i++) below += minRest[s[i]];
      const top = s[s.length - 1];
      const cost = Math.min(UNREACHABLE, below + minRest[top + 1]);
      minToAccept = Math.min(minToAccept, cost + 1);
      minAfter = Math.min(minAfter, cost);
      for (const id of setIds[elems[top]]) if (cost < after[id]) after[id] = cost;
    }
    const n = this.states.length;
    this.states.push({ stacks: list, accepting, after, next: new Map(), minToAccept, minAfter });
    this.index.set(key, n);
    return n;
  }
}

/** Is id in a set's sorted ids? */
function hasId(ids: Int32Array, id: number): boolean {
  let lo = 0;
  let hi = ids.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (ids[mid] === id) return true;
    if (ids[mid] < id) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}
