import { describe, expect, it } from 'vitest';
import { Rng } from '../../shared/rng.ts';
import { argmax, sampleToken, validateSampling } from '../../shared/sampling.ts';

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

  it('greedy is argmax, first index on ties, never the excluded <unk>', () => {
    expect(argmax(Float32Array.of(1, 3, 3))).toBe(1);
    expect(sampleToken(logits, { temperature: 0 }, new Rng(1))).toBe(0);
    expect(sampleToken(logits, { temperature: 0 }, new Rng(1), 0)).toBe(2);
  });

  it('top-k = 1 and a tiny top-p both reduce to greedy', () => {
    for (let s = 0; s < 50; s++) {
      expect(sampleToken(logits, { temperature: 1, topK: 1 }, new Rng(s))).toBe(0);
      expect(sampleToken(logits, { temperature: 1, topP: 1e-6 }, new Rng(s))).toBe(0);
    }
  });

  it('follows softmax(logits / T) and respects top-k and top-p', () => {
    const count = (opts: Parameters<typeof sampleToken>[1], exclude = -1) => {
      const rng = new Rng(3);
      const c = new Array(logits.length).fill(0);
      for (let i = 0; i < 40000; i++) c[sampleToken(logits, opts, rng, exclude)]++;
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
    expect(count({ temperature: 1 }, 0)[0]).toBe(0);
  });

  it('rejects invalid options with a clear message', () => {
    expect(() => validateSampling({ temperature: -1 })).toThrow(/temperature/);
    expect(() => validateSampling({ temperature: NaN })).toThrow(/temperature/);
    expect(() => validateSampling({ temperature: Infinity })).toThrow(/temperature/);
    expect(() => validateSampling({ temperature: 1, topK: 0 })).toThrow(/topK/);
    expect(() => validateSampling({ temperature: 1, topK: 2.5 })).toThrow(/topK/);
    expect(() => validateSampling({ temperature: 1, topP: 0 })).toThrow(/topP/);
    expect(() => validateSampling({ temperature: 1, topP: 1.1 })).toThrow(/topP/);
    expect(() => validateSampling({ temperature: 0.7, topK: 5, topP: 0.9 })).not.toThrow();
  });
});
