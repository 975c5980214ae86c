/**
 * Beam search over characters: `width` hypotheses advance together, one row of recurrent state
 * each; at every step each is extended by every character, the `width` best continuations by
 * summed log-probability survive (their rows take their parents' states), and hypotheses that
 * end with a stop sequence or reach numChars are set aside. Ranked, as in common beam-search
 * APIs, by summed log-probability / length ^ lengthPenalty. Deterministic: ties go to the
 * earlier beam, then the lower id. Width 1 is greedy decoding.
 */
import type { RowOps } from '../batch.ts';
import {
  appendTail,
  generateResult,
  TAIL_CHARS,
  type BeamResult,
  type FinishReason,
  type GeneratedToken,
  type GenerateResult,
  type StartEvent,
} from '../contract.ts';
import type { Automaton } from '../constraint/automaton.ts';
import { compileConstraint } from '../constraint/constraint.ts';
import type { Model } from '../model.ts';
import { asTokenLogprobs, logSumExp, modelTop } from '../sampling.ts';
import { atParagraphStart } from '../text.ts';
import { startEvent, type DecodeJob } from './job.ts';
import type { ValidatedGeneration } from './validate.ts';

/** A hypothesis as a linked list back to the prefix: extending one never copies another. */
interface Node {
  parent: Node | null;
  /** The id fed next for this hypothesis (a character, or the author's tag). */
  id: number;
  /** A character of the text (false for the root and for author tags). */
  emit: boolean;
  logprob: number;
  top: [number, number][] | null;
  sum: number;
  len: number;
  /** The last characters of prefix + text: enough for stop sequences and paragraph starts. */
  tail: string;
  /** Under a constraint: the parser's state after this hypothesis (automaton.ts). */
  parse: number;
}

/** A candidate's id that ends its hypothesis at a match (under a constraint: the weight of every character it does not allow there). */
const END_OF_MATCH = -1;

interface Finished {
  node: Node;
  score: number;
  reason: FinishReason;
}

export class BeamJob implements DecodeJob {
  readonly rows: number;
  readonly prefill: number[];
  readonly start: StartEvent;
  finished = false;
  private alive: Node[];
  private readonly done: Finished[] = [];
  private taken = false;
  private readonly V: number;
  private readonly width: number;
  private readonly alpha: number;
  /** Steps taken: a CPU budget ends the search after its share (beam search has no continuation). */
  private steps = 0;
  private readonly automaton: Automaton | null = null;

  constructor(
    private readonly model: Model,
    private readonly g: ValidatedGeneration,
  ) {
    this.width = g.beam!.width;
    this.alpha = g.beam!.lengthPenalty;
    this.rows = this.width;
    this.prefill = g.ids.slice(0, -1);
    this.V = model.arch.vocabSize;
    this.start = startEvent(model, g);
    let parse = 0;
    if (g.constraint) {
      const c = compileConstraint(g.constraint.spec, model);
      if (c.kind !== 'automaton') throw new TypeError('a choice runs as a ChoiceJob');
      this.automaton = c.automaton;
      parse = c.automaton.start;
    }
    this.alive = [{ parent: null, id: g.ids[g.ids.length - 1], emit: false, logprob: 0, top: null, sum: 0, len: 0, tail: g.prefix.slice(-TAIL_CHARS), parse }];
    const end = this.automaton?.endsAt(parse, g.numChars);
    if (end) this.stop(end);
    else if (g.budget?.chars === 0) this.stop('budget');
  }

  private score(n: Node): number {
    return n.len === 0 ? n.sum : n.sum / n.len ** this.alpha;
  }

  inputs(out: Int32Array, at: number): void {
    // Rows without a hypothesis yet (the first step has one) read a placeholder; they are overwritten.
    for (let i = 0; i < this.rows; i++) out[at + i] = this.alive[i]?.id ?? 0;
  }

  advance(logits: Float32Array, at: number, stride: number, ops: RowOps): boolean {
    const { vocab, preprocessing } = this.model;
    const V = this.V;
    const cands: { sum: number; beam: number; id: number; lp: number }[] = [];
    for (const [b, node] of this.alive.entries()) {
      const row = logits.subarray(at + b * stride, at + b * stride + V);
      const lse = logSumExp(row, V);
      // As sampling does (sampling-job.ts): tags where a paragraph starts, the requested author's or the model's own.
      const tags = vocab.authors.size > 0 && atParagraphStart(node.tail, preprocessing);
      const A = this.automaton;
      const left = this.g.numChars - node.len;
      const open = A?.accepting(node.parse);
      let ending = 0;
      for (let id = 0; id < V; id++) {
        if (vocab.isSpecial(id) && !(tags && id !== vocab.unkIndex)) continue;
        const lp = row[id] - lse;
        if (A && !vocab.isSpecial(id) && !A.allows(node.parse, id, left)) {
          if (open) ending += Math.exp(lp);
          continue;
        }
        cands.push({ sum: node.sum + lp, beam: b, id, lp });
      }
      if (ending > 0) cands.push({ sum: node.sum + Math.log(ending), beam: b, id: END_OF_MATCH, lp: Math.log(ending) });
    }
    cands.sort((a, b) => b.sum - a.sum || a.beam - b.beam || a.id - b.id);
    const next: Node[] = [];
    const parents: number[] = [];
    const tops = new Map<number, [number, number][]>();
    for (const c of cands) {
      if (next.length === this.width) break;
      const parent = this.alive[c.beam];
      if (c.id === END_OF_MATCH) {
        this.setAside({ ...parent, parent, emit: false, logprob: c.lp, top: null, sum: c.sum }, 'stop');
        continue;
      }
      const emit = !vocab.isSpecial(c.id);
      let top: [number, number][] | null = null;
      if (emit && this.g.logprobs > 0) {
        if (!tops.has(c.beam)) tops.set(c.beam, modelTop(logits.subarray(at + c.beam * stride, at + c.beam * stride + V), V, this.g.logprobs, vocab.isSpecial));
        top = tops.get(c.beam)!;
      }
      const node: Node = {
        parent,
        id: emit ? c.id : (this.g.author?.id ?? c.id),
        emit,
        logprob: c.lp,
        top,
        sum: c.sum,
        len: parent.len + (emit ? 1 : 0),
        tail: emit ? appendTail(parent.tail, vocab.tokens[c.id]) : parent.tail,
        parse: emit && this.automaton ? this.automaton.next(parent.parse, c.id) : parent.parse,
      };
      const matchEnd = this.automaton?.endsAt(node.parse, this.g.numChars - node.len);
      if (emit && this.g.stop.some((s) => node.tail.endsWith(s) && node.len >= [...s].length)) this.setAside(node, 'stop');
      else if (matchEnd) this.setAside(node, matchEnd);
      else if (node.len >= this.g.numChars) this.setAside(node, 'length');
      else {
        next.push(node);
        parents.push(c.beam);
      }
    }
    this.alive = next;
    if (next.length > 0) ops.gather(parents);
    // Done when no hypothesis is left, or when `width` are set aside and the best one still
    // running ranks below all of them (its score can only fall: log-probabilities are ≤ 0).
    const best = this.alive.reduce((m, n) => Math.max(m, this.score(n)), -Infinity);
    if (this.alive.length === 0 || (this.done.length >= this.width && this.ranked()[this.width - 1].score >= best)) this.finish();
    else if (this.g.budget && ++this.steps >= this.g.budget.chars) this.stop('budget');
    return !this.finished;
  }

  private setAside(node: Node, reason: FinishReason): void {
    this.done.push({ node, score: this.score(node), reason });
  }

  private ranked(): Finished[] {
    return [...this.done].sort((a, b) => b.score - a.score);
  }

  private finish(): void {
    this.finished = true;
  }

  stop(reason: FinishReason): void {
    if (this.finished) return;
    for (const n of this.alive) this.setAside(n, reason);
    if (this.done.length === 0) this.setAside(this.alive[0], reason);
    this.alive = [];
    this.finish();
  }

  /** The characters of a hypothesis, first to last. */
  private tokens(node: Node): GeneratedToken[] {
    const out: GeneratedToken[] = [];
    for (let n: Node | null = node; n; n = n.parent) {
      if (!n.emit) continue;
      const t: GeneratedToken = { text: this.model.vocab.tokens[n.id] };
      if (this.g.logprobs > 0) {
        t.logprob = n.logprob;
        t.top = asTokenLogprobs(n.top ?? [], this.model.vocab.tokens);
      }
      out.push(t);
    }
    return out.reverse();
  }

  /** Beam search leaves no state to go on from: its hypotheses share no single one. */
  left(): null {
    return null;
  }

  take(): GeneratedToken[] {
    if (!this.finished || this.taken) return [];
    this.taken = true;
    return this.tokens(this.ranked()[0].node);
  }

  result(timings: { totalMs: number }): GenerateResult {
    const ranked = this.ranked();
    const beams: BeamResult[] = ranked.slice(0, this.g.beam!.numReturn).map((f) => {
      const generated = this.tokens(f.node)
        .map((t) => t.text)
        .join('');
      return { generated, text: this.g.prefix + generated, score: f.score, logprob: f.node.sum, finishReason: f.reason };
    });
    const best = ranked[0];
    const tokens = this.tokens(best.node);
    return generateResult({
      model: this.model.name,
      prefix: this.g.prefix,
      generated: beams[0].generated,
      seed: this.g.seed,
      finishReason: best.reason,
      timings,
      author: this.g.author?.name,
      logprobs: this.g.logprobs > 0 ? tokens : undefined,
      beams,
    });
  }
}
