import { describe, expect, it } from 'vitest';
import { Rng } from '../../shared/rng.ts';
import { argmax, choose, type SamplingOptions } from '../../shared/sampling.ts';

describe('seeded PRNG', () => {
  it('is deterministic per seed and differs across seeds', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const c = new Rng(43);
    const xs = Array.from({ length: 5 }, () => a.nextUint32());
    expect(Array.from({ length: 5 }, () => b.nextUint32())).toEqual(xs);
    expect(Array.from({ length: 5 }, () => c.nextUint32())).not.toEqual(xs);
  });

  it('resumes exactly from a saved state', () => {
    const a = new Rng(7);
    a.uniform();
    const saved = a.getState();
    const next = [a.uniform(), a.uniform()];
    const b = Rng.fromState(saved);
    expect([b.uniform(), b.uniform()]).toEqual(next);
  });

  it('is uniform enough: mean and randint range', () => {
    const r = new Rng(1);
    let sum = 0;
    const seen = new Set<number>();
    for (let i = 0; i < 20000; i++) {
      const u = r.uniform();
      expect(u).toBeGreaterThanOrEqual(0);
      expect(u).toBeLessThan(1);
      sum += u;
      seen.add(r.randint(0, 35));
    }
    expect(sum / 20000).toBeCloseTo(0.5, 1);
    expect([...seen].sort((x, y) => x - y)).toEqual(Array.from({ length: 36 }, (_, i) => i));
  });

  it('refuses bad seeds and states', () => {
    expect(() => new Rng(-1)).toThrow(RangeError);
    expect(() => new Rng(1.5)).toThrow(RangeError);
    expect(() => Rng.fromState([0, 0, 0, 0])).toThrow(RangeError);
  });
});

describe('sampling', () => {
  const logits = Float32Array.of(5, 1, 3, 3, -2);
  const none = () => false;
  const unk = (i: number) => i === 0;
  const pick = (o: SamplingOptions, rng: Rng, excluded: (i: number) => boolean = none) => choose(logits, logits.length, o, rng, excluded).id;

  it('greedy is argmax, first index on ties, never an excluded id', () => {
    expect(argmax(Float32Array.of(1, 3, 3), 3, none)).toBe(1);
    expect(pick({ temperature: 0 }, new Rng(1))).toBe(0);
    expect(pick({ temperature: 0 }, new Rng(1), unk)).toBe(2);
  });

  it('top-k = 1 and a tiny top-p both reduce to greedy', () => {
    for (let s = 0; s < 50; s++) {
      expect(pick({ temperature: 1, topK: 1 }, new Rng(s))).toBe(0);
      expect(pick({ temperature: 1, topP: 1e-6 }, new Rng(s))).toBe(0);
    }
  });

  it('follows softmax(logits / T) and respects top-k and top-p', () => {
    const count = (opts: SamplingOptions, excluded: (i: number) => boolean = none) => {
      const rng = new Rng(3);
      const c = new Array(logits.length).fill(0);
      for (let i = 0; i < 40000; i++) c[pick(opts, rng, excluded)]++;
      return c.map((x) => x / 40000);
    };
    const z = [...logits].map((v) => Math.exp(v / 2));
    const total = z.reduce((a, b) => a + b);
    count({ temperature: 2 }).forEach((f, i) => expect(f).toBeCloseTo(z[i] / total, 2));
    const k2 = count({ temperature: 1, topK: 2 });
    expect(k2[1] + k2[3] + k2[4]).toBe(0); // only 0 and 2 (2 wins the 2/3 tie by index)
    expect(k2[2]).toBeCloseTo(Math.exp(3) / (Math.exp(5) + Math.exp(3)), 2);
    // softmax(5,1,3,3,-2) ≈ (.776,.014,.105,.105,.001): top-p 0.85 keeps 0 and 2
    const p = count({ temperature: 1, topP: 0.85 });
    expect(p[1] + p[3] + p[4]).toBe(0);
    expect(count({ temperature: 1 }, unk)[0]).toBe(0);
  });

  it("reports each choice's log-probability under the distribution it was drawn from", () => {
    const rng = new Rng(9);
    for (let i = 0; i < 200; i++) {
      const c = choose(logits, 5, { temperature: 1, topK: 2 }, rng, none, 2);
      const w = [Math.exp(0), Math.exp(-2)];
      expect(c.logprob).toBeCloseTo(Math.log(w[c.id === 0 ? 0 : 1] / (w[0] + w[1])), 12);
      expect(c.top.map(([id]) => id)).toEqual([0, 2]);
    }
    const g = choose(logits, 5, { temperature: 0 }, rng, none, 1);
    expect(g.logprob).toBeCloseTo(5 - Math.log([...logits].reduce((s, v) => s + Math.exp(v), 0)), 6);
  });

  it('draws the same ids whichever sort orders the candidates (insertion, packed float32 keys, comparator)', () => {
    // Logits with ties, ±0 and both signs; a float32 array takes the packed-key sort above 32
    // candidates, a plain array the comparator sort: the order is total, so every draw is equal.
    const rng = new Rng(11);
    for (const V of [5, 28, 33, 115, 300]) {
      for (let trial = 0; trial < 20; trial++) {
        const f32 = Float32Array.from({ length: V }, () => {
          const r = rng.uniform();
          return r < 0.1 ? 0 : r < 0.2 ? -0 : r < 0.35 ? 1.5 : Math.fround((rng.uniform() - 0.5) * 20);
        });
        // Every fifth array all zeros of both signs: each draw then lands on a tie.
        if (trial % 5 === 4) f32.forEach((_, i) => (f32[i] = rng.uniform() < 0.5 ? 0 : -0));
        const plain = Array.from(f32);
        for (const o of [{ temperature: 0.8 }, { temperature: 1.3, topK: 7 }, { temperature: 1, topP: 0.9 }] as SamplingOptions[]) {
          const a = new Rng(trial);
          const b = new Rng(trial);
          for (let i = 0; i < 10; i++) {
            const x = choose(f32, V, o, a, unk, 3);
            const y = choose(plain, V, o, b, unk, 3);
            expect([x.id, x.logprob, x.top]).toEqual([y.id, y.logprob, y.top]);
          }
        }
      }
    }
  });
});
