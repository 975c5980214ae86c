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
import { predict } from '../../shared/generate.ts';
import { stream } from '../../shared/index.ts';
import type { KernelModel } from '../../shared/kernel/stepper.ts';
import type { Model } from '../../shared/model.ts';
import { Rng } from '../../shared/rng.ts';
import { choose } from '../../shared/sampling.ts';
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
  arch: { cell: 'rnn', numLayers: 1, hiddenSize: 1, vocabSize: TOKENS.length, input: 'one-hot' },
  vocab: new Vocab(TOKENS),
  preprocessing: 'raw',
  params: {},
  training: null,
};

/** Rows whose state is the last id read; the logits its chain row. */
function markovRows(capacity: number): RowStepper {
  const V = TOKENS.length;
  const last = new Float32Array(capacity).fill(-1);
  const logits = new Float32Array(capacity * V);
  return {
    capacity,
    vocabSize: V,
    logitsStride: V,
    step(first, tokens) {
      for (let i = 0; i < tokens.length; i++) {
        last[first + i] = tokens[i];
        logits.set(CHAIN[TOKENS[tokens[i]]], i * V);
      }
      return logits;
    },
    reset: (row) => void (last[row] = -1),
    copy: (from, to) => void (last[to] = last[from]),
    gather(first, from) {
      const taken = from.map((f) => last[first + f]);
      taken.forEach((v, i) => (last[first + i] = v));
    },
    saveRow: (row) => Float32Array.of(last[row]),
    loadRow: (row, s) => void (last[row] = s[0]),
    // As a hidden state (inside [−1, 1], as a continuation's must be): the last id over 10.
    readState: (row) => Float32Array.of(last[row] / 10),
    writeState: (row, s) => void (last[row] = Math.round(s[0] * 10)),
  };
}

/** Every text the chain can write after `prefix`'s last character, up to `n` characters, ending at the first stop: with its summed log-probability. */
function allTexts(after: string, n: number, stops: string[]): { text: string; sum: number; reason: 'stop' | 'length' }[] {
  const out: { text: string; sum: number; reason: 'stop' | 'length' }[] = [];
  const lse = (row: number[]) => Math.log(row.reduce((s, v) => s + Math.exp(v), 0));
  const go = (text: string, lastChar: string, sum: number) => {
    const row = CHAIN[lastChar];
    const z = lse(row);
    for (const ch of ['a', 'b', '.']) {
      const t = text + ch;
      const s = sum + row[TOKENS.indexOf(ch)] - z;
      if (stops.some((st) => t.endsWith(st))) out.push({ text: t, sum: s, reason: 'stop' });
      else if (t.length >= n) out.push({ text: t, sum: s, reason: 'length' });
      else go(t, ch, s);
    }
  };
  go('', after, 0);
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
