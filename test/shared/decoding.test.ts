/**
 * Decoding against values worked out here, not against another run of the same code: a
 * character "model" whose next-character distribution depends on the last character only (a
 * Markov chain with fixed log-probabilities, stepped through the real job protocol), so that
 * top-k and top-p selections, sampled proportions, log-probabilities, beam search with its
 * length penalty (against an exhaustive search of every text) and multi-character stops on every
 * path — sampling, beams, streams, continuations — each have an exact expected answer.
 */
import { describe, expect, it } from 'vitest';
import type { RowStepper } from '../../shared/kernel/stepper.ts';
import { BatchExecutor, runJob } from '../../shared/batch.ts';
import { MAX_STOP_CHARS, type FinishReason, type GenerateResult } from '../../shared/contract.ts';
import type { DecodeJob } from '../../shared/decode/job.ts';
import { decodeContinuation } from '../../shared/continuation.ts';
import { validateGeneration } from '../../shared/decode/validate.ts';
import { createJob, predict } from '../../shared/generate.ts';
import { stream } from '../../shared/index.ts';
import type { KernelModel } from '../../shared/kernel/stepper.ts';
import type { Model } from '../../shared/model.ts';
import { Rng } from '../../shared/rng.ts';
import { argmax, choose, modelTop } from '../../shared/sampling.ts';
import { Vocab } from '../../shared/vocab.ts';

// ---------------------------------------------------------------------------------------------
// Sampling's selections and proportions, on hand-worked distributions

describe('top-p, top-k and temperature select and draw exactly as their definitions say', () => {
  // p = (0.5, 0.3, 0.15, 0.05): the logits are their logarithms.
  const P = [0.5, 0.3, 0.15, 0.05];
  const logits = Float32Array.from(P.map(Math.log));
  const none = () => false;
  const draw = (o: Parameters<typeof choose>[2], n = 40_000) => {
    const rng = new Rng(5);
    const counts = new Array(P.length).fill(0);
    for (let i = 0; i < n; i++) counts[choose(logits, P.length, o, rng, none).id]++;
    return counts.map((c) => c / n);
  };
  /** 40,000 draws: a proportion's standard deviation is at most 0.0025; 0.01 is four of them. */
  const near = (got: number[], want: number[]) => got.forEach((g, i) => expect(Math.abs(g - want[i]), `id ${i}: ${g} against ${want[i]}`).toBeLessThan(0.01));

  it('top-p keeps the smallest set whose mass reaches p — the token that crosses p included — and renormalizes', () => {
    near(draw({ temperature: 1, topP: 0.75 }), [0.5 / 0.8, 0.3 / 0.8, 0, 0]); // 0.5 < 0.75 ≤ 0.8: ids 0 and 1
    near(draw({ temperature: 1, topP: 0.81 }), [0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0]);
    near(draw({ temperature: 1, topP: 0.49 }), [1, 0, 0, 0]);
    near(draw({ temperature: 1, topP: 0.96 }), P);
    // The crossing token is drawn, and never one past it.
    const seen = draw({ temperature: 1, topP: 0.75 });
    expect(seen[1]).toBeGreaterThan(0.3);
    expect(seen[2] + seen[3]).toBe(0);
  });

  it('top-k keeps the k most probable and renormalizes; temperature sharpens by p^(1/T)', () => {
    near(draw({ temperature: 1, topK: 2 }), [0.5 / 0.8, 0.3 / 0.8, 0, 0]);
    near(draw({ temperature: 1, topK: 3 }), [0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0]);
    const sq = P.map((p) => p * p);
    const z = sq.reduce((a, b) => a + b);
    near(
      draw({ temperature: 0.5 }),
      sq.map((s) => s / z),
    );
    const root = P.map(Math.sqrt);
    const zr = root.reduce((a, b) => a + b);
    near(
      draw({ temperature: 2 }),
      root.map((s) => s / zr),
    );
  });

  it('reports log-probabilities under the distribution drawn from, and the top alternatives under it', () => {
    const rng = new Rng(1);
    for (let i = 0; i < 100; i++) {
      const c = choose(logits, 4, { temperature: 1, topP: 0.81 }, rng, none, 3);
      expect(c.logprob).toBeCloseTo(Math.log(P[c.id] / 0.95), 6);
      expect(c.top.map(([id]) => id)).toEqual([0, 1, 2]);
      c.top.forEach(([id, lp]) => expect(lp).toBeCloseTo(Math.log(P[id] / 0.95), 6));
    }
    const g = choose(logits, 4, { temperature: 0 }, rng, none, 2);
    expect(g.id).toBe(0);
    expect(g.logprob).toBeCloseTo(Math.log(0.5), 6);
  });

  it("greedy's alternatives are the model's own most probable, excluded ids skipped, ties by the lower id", () => {
    const rng = new Rng(1);
    const notZero = (i: number) => i === 0;
    const g = choose(logits, 4, { temperature: 0 }, rng, notZero, 3);
    expect(g.id).toBe(1);
    expect(g.top.map(([id]) => id)).toEqual([1, 2, 3]);
    g.top.forEach(([id, lp]) => expect(lp).toBeCloseTo(Math.log(P[id]), 6)); // under the whole softmax, excluded ids included
    const tied = Float32Array.of(0, 2, 1, 2, 1);
    expect(modelTop(tied, 5, 4, none).map(([id]) => id)).toEqual([1, 3, 2, 4]);
    expect(modelTop(tied, 5, 2, (i) => i === 1).map(([id]) => id)).toEqual([3, 2]);
    expect(argmax(tied, 5, () => true)).toBe(-1); // nothing to choose
  });

  it('top-p at an exact boundary: four equal tokens and p = 0.5 keep exactly two', () => {
    const flat = Float32Array.of(1, 1, 1, 1);
    const rng = new Rng(2);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 20_000; i++) counts[choose(flat, 4, { temperature: 1, topP: 0.5 }, rng, none).id]++;
    expect(counts[2] + counts[3]).toBe(0);
    expect(Math.abs(counts[0] / 20_000 - 0.5)).toBeLessThan(0.015);
  });

  it('huge logits (a sharp model) sample as their differences say, without overflow', () => {
    const big = Float32Array.of(400, 399, 0);
    const rng = new Rng(4);
    let first = 0;
    for (let i = 0; i < 20_000; i++) if (choose(big, 3, { temperature: 1 }, rng, none).id === 0) first++;
    expect(Math.abs(first / 20_000 - Math.E / (1 + Math.E))).toBeLessThan(0.015);
  });

  it('an alternative whose weight underflows to zero is not listed', () => {
    const c = choose(Float32Array.of(0, -1e4), 2, { temperature: 1 }, new Rng(1), none, 2);
    expect(c.id).toBe(0);
    expect(c.top).toEqual([[0, 0]]);
  });
});

// ---------------------------------------------------------------------------------------------
// A Markov-chain "model" stepped through the job protocol

const TOKENS = ['<unk>', 'a', 'b', '.'];
/** log P(next | last) for last = a, b, . (and the same row for a start of nothing): <unk> never. */
const CHAIN: Record<string, number[]> = {
  a: [-60, Math.log(0.1), Math.log(0.6), Math.log(0.3)],
  b: [-60, Math.log(0.45), Math.log(0.15), Math.log(0.4)],
  '.': [-60, Math.log(0.7), Math.log(0.2), Math.log(0.1)],
};
// A row a beam does not use yet reads a placeholder (id 0); its logits are never looked at.
CHAIN['<unk>'] = CHAIN['.'];

const model: Model = {
  name: 'markov',
  arch: { cell: 'rnn', numLayers: 1, hiddenSize: 2, vocabSize: TOKENS.length, input: 'one-hot' }, // a state of 2: the last two ids
  vocab: new Vocab(TOKENS),
  preprocessing: 'raw',
  params: {},
  training: null,
};

/**
 * The chain has a memory of one more character: repeating the character before the last costs
 * REPEAT. So a row's state matters — the id read before the current one — and beam search must
 * hand each hypothesis its parent's row (`gather`), or the logits are another text's.
 */
const REPEAT = -0.8;
const logitsAfter = (before: number, last: number) => CHAIN[TOKENS[last]].map((l, id) => (id === before && id !== 0 ? l + REPEAT : l));

/** Rows whose state is the id read before the last one; the logits the chain's for (before, last). */
/** A job run `steps` steps, then stopped by a deadline — and stopped again (`second`), which must change nothing: its result. */
function stoppedAfter(job: DecodeJob, stepper: RowStepper, steps: number, second: FinishReason): GenerateResult {
  const ex = new BatchExecutor(stepper);
  ex.add(job);
  for (let i = 0; i < steps; i++) ex.tick();
  job.stop('deadline');
  job.stop(second);
  return job.result({ totalMs: 0 });
}

function markovRows(capacity: number): RowStepper {
  const V = TOKENS.length;
  const before = new Float32Array(capacity).fill(0);
  const last = new Float32Array(capacity).fill(0);
  const logits = new Float32Array(capacity * V);
  return {
    capacity,
    vocabSize: V,
    logitsStride: V,
    step(first, tokens) {
      for (let i = 0; i < tokens.length; i++) {
        before[first + i] = last[first + i];
        last[first + i] = tokens[i];
        logits.set(logitsAfter(before[first + i], tokens[i]), i * V);
      }
      return logits;
    },
    reset: (row) => void ((before[row] = 0), (last[row] = 0)),
    copy: (from, to) => void ((before[to] = before[from]), (last[to] = last[from])),
    gather(first, from) {
      const taken = from.map((f) => [before[first + f], last[first + f]]);
      taken.forEach(([b, l], i) => ((before[first + i] = b), (last[first + i] = l)));
    },
    saveRow: (row) => Float32Array.of(before[row], last[row]),
    loadRow: (row, s) => void ((before[row] = s[0]), (last[row] = s[1])),
    // As a hidden state (inside [−1, 1], as a continuation's must be): the ids over 10.
    readState: (row) => Float32Array.of(before[row] / 10, last[row] / 10),
    writeState: (row, s) => void ((before[row] = Math.round(s[0] * 10)), (last[row] = Math.round(s[1] * 10))),
  };
}

/** Every text the chain can write after a one-character prefix, up to `n` characters, ending at the first stop: with its summed log-probability. */
function allTexts(prefix: string, n: number, stops: string[]): { text: string; sum: number; reason: 'stop' | 'length' }[] {
  const out: { text: string; sum: number; reason: 'stop' | 'length' }[] = [];
  const lse = (row: number[]) => Math.log(row.reduce((s, v) => s + Math.exp(v), 0));
  const go = (text: string, before: number, last: number, sum: number) => {
    const row = logitsAfter(before, last);
    const z = lse(row);
    for (const ch of ['a', 'b', '.']) {
      const id = TOKENS.indexOf(ch);
      const t = text + ch;
      const s = sum + row[id] - z;
      if (stops.some((st) => t.endsWith(st))) out.push({ text: t, sum: s, reason: 'stop' });
      else if (t.length >= n) out.push({ text: t, sum: s, reason: 'length' });
      else go(t, last, id, s);
    }
  };
  go('', 0, TOKENS.indexOf(prefix), 0);
  return out;
}

describe('beam search against an exhaustive search of every text', () => {
  for (const alpha of [0, 0.5, 1, 2]) {
    it(`length penalty ${alpha}: the beams are the best texts by Σ log p / length^${alpha}, in order, with their scores`, () => {
      const every = allTexts('b', 3, ['.']);
      const ranked = every.map((t) => ({ ...t, score: t.sum / t.text.length ** alpha })).sort((x, y) => y.score - x.score);
      const r = predict(model, { prefix: 'b', numChars: 3, beamWidth: 16, numReturn: 4, lengthPenalty: alpha, stop: ['.'] }, markovRows(16));
      expect(r.beams!.map((b) => b.generated)).toEqual(ranked.slice(0, 4).map((t) => t.text));
      r.beams!.forEach((b, i) => {
        expect(b.score).toBeCloseTo(ranked[i].score, 5);
        expect(b.logprob).toBeCloseTo(ranked[i].sum, 5);
        expect(b.finishReason).toBe(ranked[i].reason);
      });
    });
  }

  it('the penalty decides: short texts win at 0, longer ones at 2', () => {
    const at = (alpha: number) => predict(model, { prefix: 'b', numChars: 3, beamWidth: 16, lengthPenalty: alpha, stop: ['.'] }, markovRows(16)).generated;
    expect(at(0)).toBe('.'); // log 0.4 beats every longer text's sum
    expect(at(2).length).toBe(3);
  });

  it('a multi-character stop ends a beam only when its last character is written', () => {
    const every = allTexts('b', 3, ['b.']);
    const best = every.map((t) => ({ ...t, score: t.sum / t.text.length })).sort((x, y) => y.score - x.score);
    const r = predict(model, { prefix: 'b', numChars: 3, beamWidth: 16, numReturn: 6, stop: ['b.'] }, markovRows(16));
    expect(r.beams!.map((b) => [b.generated, b.finishReason])).toEqual(best.slice(0, 6).map((t) => [t.text, t.reason]));
    for (const b of r.beams!) {
      expect(b.generated.slice(0, -1)).not.toContain('b.');
      if (b.finishReason === 'stop') expect(b.generated.endsWith('b.')).toBe(true);
    }
  });
});

describe('beam search: log-probabilities, streams and budgets', () => {
  it("each token of a beam carries its log-probability and the model's most probable alternatives at that point", () => {
    const r = predict(model, { prefix: 'b', numChars: 3, beamWidth: 16, stop: ['.'], lengthPenalty: 2, logprobs: 2 }, markovRows(16));
    const ids = ['b', ...r.generated].map((c) => TOKENS.indexOf(c));
    expect(r.logprobs).toHaveLength(r.generated.length);
    r.logprobs!.forEach((t, i) => {
      const row = logitsAfter(i === 0 ? 0 : ids[i - 1], ids[i]);
      const z = Math.log(row.reduce((s, v) => s + Math.exp(v), 0));
      expect(t.text).toBe(r.generated[i]);
      expect(t.logprob!).toBeCloseTo(row[ids[i + 1]] - z, 6);
      const best = [1, 2, 3].sort((x, y) => row[y] - row[x]).slice(0, 2);
      expect(t.top!.map((a) => a.text)).toEqual(best.map((id) => TOKENS[id]));
      t.top!.forEach((a, k) => expect(a.logprob).toBeCloseTo(row[best[k]] - z, 6));
    });
    expect(r.beams![0].logprob).toBeCloseTo(
      r.logprobs!.reduce((s, t) => s + t.logprob!, 0),
      9,
    );
  });

  it('streamed, a beam search sends its best text once, at its end (nothing while it searches)', async () => {
    const q = { prefix: 'b', numChars: 40, beamWidth: 4 };
    const expected = predict(model, q, markovRows(16));
    const it = stream({ model, kernelModel: { acquire: () => markovRows(16), release: () => {} } as unknown as KernelModel }, q);
    const batches: string[] = [];
    for (;;) {
      const n = await it.next();
      if (n.done) {
        expect(n.value.generated).toBe(expected.generated);
        break;
      }
      expect(Object.keys(n.value)).toEqual(['text']); // no log-probabilities unless asked for
      batches.push(n.value.text);
    }
    expect(batches.join('')).toBe(expected.generated);
    expect(expected.generated.length).toBeGreaterThan(16); // longer than the stream's first 16 steps: it was read while searching
  });

  it('without logprobs, no token or result carries them', () => {
    const r = predict(model, { prefix: 'b', numChars: 3, beamWidth: 4 }, markovRows(4));
    expect(r.logprobs).toBeUndefined();
    expect('logprobs' in r).toBe(false);
  });

  it('stopped by a deadline mid-search: the texts so far, each once, ranked, with finishReason deadline', () => {
    const g = validateGeneration(model, { prefix: 'b', numChars: 40, beamWidth: 3, numReturn: 3, stop: ['.'], lengthPenalty: 4 });
    const job = createJob(model, g);
    const r = stoppedAfter(job, markovRows(3), 4, 'deadline');
    const texts = r.beams!.map((b) => b.generated);
    expect(new Set(texts).size).toBe(texts.length);
    expect(r.beams!.length).toBeGreaterThan(0);
    for (let i = 1; i < r.beams!.length; i++) expect(r.beams![i - 1].score).toBeGreaterThanOrEqual(r.beams![i].score);
    expect(r.beams!.some((b) => b.finishReason === 'deadline')).toBe(true);
    expect(
      job
        .take()
        .map((t) => t.text)
        .join(''),
    ).toBe(r.generated);
    expect(job.take()).toEqual([]); // once
  });

  it('a CPU budget of n steps ends the search after n characters, with finishReason budget', () => {
    for (const chars of [0, 1, 2]) {
      const g = validateGeneration(model, { prefix: 'b', numChars: 3, beamWidth: 4, numReturn: 2 });
      g.budget = { prefill: 0, chars };
      const job = createJob(model, g);
      runJob(job, markovRows(4));
      const r = job.result({ totalMs: 0 });
      expect(r.finishReason).toBe('budget');
      expect([...r.generated].length).toBe(chars);
      expect(r.beams!.every((b) => b.finishReason === 'budget' || b.finishReason === 'stop')).toBe(true);
    }
  });

  it('with a narrow beam the search keeps the best partial texts by their sums, as the algorithm says (worked here step by step)', () => {
    for (const width of [2, 3]) {
      // The algorithm, written out: extend every alive text by every character, keep the `width` best by summed log-probability; texts that stop are set aside.
      type H = { text: string; before: number; last: number; sum: number };
      let alive: H[] = [{ text: '', before: 0, last: TOKENS.indexOf('a'), sum: 0 }];
      const done: { text: string; score: number }[] = [];
      for (let step = 0; step < 4 && alive.length; step++) {
        const cands: H[] = [];
        for (const h of alive) {
          const row = logitsAfter(h.before, h.last);
          const z = Math.log(row.reduce((s, v) => s + Math.exp(v), 0));
          for (const id of [1, 2, 3]) cands.push({ text: h.text + TOKENS[id], before: h.last, last: id, sum: h.sum + row[id] - z });
        }
        cands.sort((x, y) => y.sum - x.sum);
        alive = [];
        for (const c of cands) {
          if (alive.length === width) break;
          if (c.text.endsWith('.') || c.text.length >= 4) done.push({ text: c.text, score: c.sum / c.text.length });
          else alive.push(c);
        }
      }
      const best = done.sort((x, y) => y.score - x.score)[0];
      const r = predict(model, { prefix: 'a', numChars: 4, beamWidth: width, stop: ['.'] }, markovRows(width));
      expect(r.generated, `width ${width}`).toBe(best.text);
      expect(r.beams![0].score).toBeCloseTo(best.score, 6);
    }
  });
});

describe('multi-character stops on every path', () => {
  const q = { prefix: 'a', numChars: 400, temperature: 1, seed: 3 };
  const stop = 'ab.';
  /** The same sampling without the stop, cut after the stop's first occurrence: what the stop must give. */
  const expected = () => {
    const free = predict(model, q, markovRows(1)).generated;
    const at = free.indexOf(stop);
    expect(at).toBeGreaterThan(0); // the seed writes it, after some text
    return free.slice(0, at + stop.length);
  };

  it('sampling: the text ends with the whole stop, at its first occurrence', () => {
    const r = predict(model, { ...q, stop: [stop] }, markovRows(1));
    expect(r.finishReason).toBe('stop');
    expect(r.generated).toBe(expected());
  });

  it('streaming: the streamed characters are that text, and the result says stop', async () => {
    const it = stream({ model, kernelModel: { acquire: () => markovRows(1), release: () => {} } as unknown as KernelModel }, { ...q, stop: [stop] });
    let text = '';
    for (;;) {
      const n = await it.next();
      if (n.done) {
        expect(n.value.finishReason).toBe('stop');
        break;
      }
      text += n.value.text;
    }
    expect(text).toBe(expected());
  });

  it('the longest stop a request may name (MAX_STOP_CHARS) ends the text, also across a continuation cut in its middle', () => {
    const free = predict(model, q, markovRows(1)).generated;
    const long = free.slice(40, 40 + MAX_STOP_CHARS);
    const end = free.indexOf(long) + MAX_STOP_CHARS;
    const r = predict(model, { ...q, stop: [long] }, markovRows(1));
    expect(r.finishReason).toBe('stop');
    expect(r.generated).toBe(free.slice(0, end));
    const first = predict(model, { ...q, stop: [long], numChars: end - MAX_STOP_CHARS / 2 }, markovRows(1));
    const rest = predict(model, { continuation: first.continuation, numChars: 400 }, markovRows(1));
    expect(rest.finishReason).toBe('stop');
    expect(first.generated + rest.generated).toBe(free.slice(0, end));
  });

  it('continuations: a stop that straddles the cut between two slices still ends the text there', () => {
    const whole = expected();
    // Cut one character into the stop: the first slice ends with "a", the rest arrives resumed.
    const first = predict(model, { ...q, stop: [stop], numChars: whole.length - 2 }, markovRows(1));
    expect(first.finishReason).toBe('length');
    const rest = predict(model, { continuation: first.continuation, numChars: 100 }, markovRows(1));
    expect(rest.finishReason).toBe('stop');
    expect(first.generated + rest.generated).toBe(whole);
  });
});

describe('beam search with author tags (a tagged model)', () => {
  // <unk>, two author tags, then characters; a first-order chain over them.
  const T = ['<unk>', '<author:x>', '<author:y>', 'a', 'b', '\n'];
  const ln = Math.log;
  const ROWS: Record<string, number[]> = {
    '\n': [-60, ln(0.5), ln(0.1), ln(0.2), ln(0.1), ln(0.1)],
    '<author:x>': [-60, -60, -60, ln(0.9), ln(0.05), ln(0.05)],
    '<author:y>': [-60, -60, -60, ln(0.05), ln(0.9), ln(0.05)],
    a: [-60, -60, -60, ln(0.5), ln(0.4), ln(0.1)],
    b: [-60, -60, -60, ln(0.4), ln(0.5), ln(0.1)],
  };
  ROWS['<unk>'] = ROWS['\n'];
  const tagged: Model = { ...model, name: 'tagged', arch: { ...model.arch, vocabSize: T.length }, vocab: new Vocab(T) };
  const rows = (capacity: number): RowStepper => {
    const V = T.length;
    const logits = new Float32Array(capacity * V);
    const state = new Float32Array(capacity * 2);
    return {
      capacity,
      vocabSize: V,
      logitsStride: V,
      step(_first, tokens) {
        for (let i = 0; i < tokens.length; i++) logits.set(ROWS[T[tokens[i]]], i * V);
        return logits;
      },
      reset: () => {},
      copy: () => {},
      gather: () => {},
      saveRow: () => state.slice(0, 2),
      loadRow: () => {},
      readState: () => state.slice(0, 2),
      writeState: () => {},
    };
  };
  /** Every way to write n characters after "\n\n": a tag may be read where a paragraph starts (fed as `author`'s when one is asked). */
  const every = (n: number, author?: number) => {
    const out: { text: string; sum: number }[] = [];
    const lse = (r: number[]) => Math.log(r.reduce((s, v) => s + Math.exp(v), 0));
    const go = (text: string, fed: number, sum: number, justTagged: boolean) => {
      if (text.length === n) return void out.push({ text, sum });
      const row = ROWS[T[fed]];
      const z = lse(row);
      const atParagraph = text === '' || text.endsWith('\n\n');
      for (let id = 1; id < T.length; id++) {
        const tag = id <= 2;
        if (tag && (!atParagraph || justTagged)) continue;
        go(tag ? text : text + T[id], tag ? (author ?? id) : id, sum + row[id] - z, tag);
      }
    };
    go('', T.indexOf('\n'), 0, false);
    return out.sort((p, q) => q.sum / q.text.length - p.sum / p.text.length);
  };

  it('may read a tag where a paragraph starts, as training put them there, and the best text counts its probability', () => {
    const best = every(3)[0];
    const r = predict(tagged, { prefix: '\n\n', numChars: 3, beamWidth: 16 }, rows(16));
    expect(r.generated).toBe(best.text);
    expect(r.beams![0].logprob).toBeCloseTo(best.sum, 6);
    expect(r.generated).not.toMatch(/author/);
  });

  it("with an author asked for, a tag read is that author's", () => {
    const y = T.indexOf('<author:y>');
    const best = every(3, y)[0];
    const r = predict(tagged, { prefix: '\n\n', numChars: 3, beamWidth: 16, author: 'y' }, rows(16));
    expect(r.generated).toBe(best.text);
    expect(r.beams![0].logprob).toBeCloseTo(best.sum, 6);
    expect(r.generated).not.toBe(predict(tagged, { prefix: '\n\n', numChars: 3, beamWidth: 16, author: 'x' }, rows(16)).generated);
  });

  // Sampling (greedy here: the choice is the row's argmax among what may be chosen) on the same model.
  const greedy = (prefix: string, numChars: number, author?: string) =>
    predict(tagged, { prefix, numChars, temperature: 0, ...(author ? { author } : {}) }, rows(1)).generated;

  it('sampling reads a tag where a paragraph starts and writes what follows it, never the tag', () => {
    // After "\n\n" the most probable is <author:x> (0.5): read, then "a" (0.9 after x), then "a".
    expect(greedy('\n\n', 3)).toBe('aaa');
    // Fed as the requested author's: after <author:y>, "b" (0.9).
    expect(greedy('\n\n', 3, 'y')).toBe('bbb');
    expect(greedy('\n\n', 3, 'x')).toBe('aaa');
  });

  it('sampling chooses no tag inside a paragraph, even where the model rates one first', () => {
    // After a single "\n" the model still rates <author:x> first, but no paragraph starts there:
    // the best character is "a" (0.2). Were the tag allowed, the author's tag fed would make it "b".
    expect(greedy('a\n', 1, 'y')).toBe('a');
    expect(greedy('a\n', 1)).toBe('a');
  });

  it("sampled with a seed, the author decides only past a paragraph start, and a continuation cut there goes on as that author's", () => {
    const q = { prefix: 'a', numChars: 300, temperature: 1, seed: 7 };
    const asX = predict(tagged, { ...q, author: 'x' }, rows(1)).generated;
    const asY = predict(tagged, { ...q, author: 'y' }, rows(1)).generated;
    const cut = asY.indexOf('\n\n') + 2;
    expect(cut).toBeGreaterThan(1); // this seed writes a blank line
    // The same draws up to the first paragraph start; there the two authors' tags are fed.
    expect(asX.slice(0, cut)).toBe(asY.slice(0, cut));
    expect(asX.slice(cut)).not.toBe(asY.slice(cut));
    // Cut right at the paragraph start: the resumed half still reads a tag there, as y's.
    const first = predict(tagged, { ...q, author: 'y', numChars: cut }, rows(1));
    expect(first.generated).toBe(asY.slice(0, cut));
    const rest = predict(tagged, { continuation: first.continuation, numChars: 300 - cut }, rows(1));
    expect(first.generated + rest.generated).toBe(asY);
    // Each token counts the characters written since the first request.
    expect(decodeContinuation(first.continuation!).generated).toBe(cut);
    expect(decodeContinuation(rest.continuation!).generated).toBe(300);
  });

  it('sampling streamed with logprobs: each streamed token carries its log-probability, and a deadline ends it once', async () => {
    const q = { prefix: '\n\n', numChars: 5, temperature: 0, logprobs: 1 };
    const whole = predict(tagged, q, rows(1));
    const it = stream({ model: tagged, kernelModel: { acquire: () => rows(1), release: () => {} } as unknown as KernelModel }, q);
    const got: { text: string; logprob?: number }[] = [];
    for (;;) {
      const n = await it.next();
      if (n.done) break;
      got.push(n.value as { text: string; logprob?: number });
    }
    expect(got.map((t) => t.text).join('')).toBe(whole.generated);
    expect(got.map((t) => t.logprob)).toEqual(whole.logprobs!.map((t) => t.logprob));

    const r = stoppedAfter(createJob(tagged, validateGeneration(tagged, { ...q, numChars: 100 })), rows(1), 5, 'length');
    expect(r.finishReason).toBe('deadline');
    expect(r.generated).toBe('aaaa'); // the prefix's last "\n", the tag, then four characters in five steps
  });

  it('reading a tag is a step like any other: the executor hears of the job only when it has finished (a server would end it early)', () => {
    const job = createJob(tagged, validateGeneration(tagged, { prefix: '\n\n', numChars: 3, temperature: 0 }));
    const ex = new BatchExecutor(rows(1));
    ex.add(job);
    let ticks = 0;
    while (ex.has(job)) {
      const finished = ex.tick();
      expect(finished.includes(job)).toBe(job.finished);
      ticks++;
    }
    expect(job.result({ totalMs: 0 }).generated).toBe('aaa');
    expect(ticks).toBeGreaterThanOrEqual(4); // the tag's step and three characters'
  });

  it('sampling under a CPU budget of n characters writes n, and ends with finishReason budget', () => {
    const q = { prefix: '\n\n', numChars: 5, temperature: 0 };
    for (const chars of [1, 2, 4]) {
      const g = validateGeneration(tagged, q);
      g.budget = { prefill: g.ids.length - 1, chars };
      const job = createJob(tagged, g);
      runJob(job, rows(1));
      const r = job.result({ totalMs: 0 });
      expect(r.generated).toBe('a'.repeat(chars));
      expect(r.finishReason).toBe('budget');
    }
  });

  it('sampling without logprobs gives no tokens with log-probabilities; with them, one per character, tags not among them', () => {
    const plain = predict(tagged, { prefix: '\n\n', numChars: 3, temperature: 0 }, rows(1));
    expect('logprobs' in plain).toBe(false);
    const r = predict(tagged, { prefix: '\n\n', numChars: 3, temperature: 0, logprobs: 2 }, rows(1));
    expect(r.generated).toBe(plain.generated);
    const tokens = r.logprobs!;
    expect(tokens.map((t) => t.text).join('')).toBe('aaa');
    expect(tokens[0].logprob).toBeCloseTo(Math.log(0.9), 5);
    expect(tokens[1].logprob).toBeCloseTo(Math.log(0.5), 5);
  });
});
