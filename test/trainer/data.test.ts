import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Rng } from '../../shared/rng.ts';
import { checkWindows, loadCorpus, randomWindows, sequentialWindows } from '../../trainer/data.ts';

const text = readFileSync(new URL('../../data/timemachine.txt', import.meta.url), 'utf8');
const range = (n: number) => Int32Array.from({ length: n }, (_, i) => i);

describe("load_data_time_machine", () => {
  it("keeps d2l's first 10,000 tokens: 8 windows, 8,960 tokens per epoch at batch 32 × 35", () => {
    const c = loadCorpus([text], { preprocessing: 'd2l', maxTokens: 10000, valFraction: 0 });
    expect(c.vocab.size).toBe(28);
    expect(c.train.length).toBe(10000);
    expect(c.validation.length).toBe(0);
    expect(c.vocab.decode(c.train.subarray(0, 16))).toBe('the time machine');
    for (let seed = 0; seed < 20; seed++) {
      const windows = [...sequentialWindows(c.train, 32, 35, new Rng(seed))];
      expect(windows.length).toBe(8);
      expect(windows.reduce((n, w) => n + w.x.length, 0)).toBe(8960);
    }
  });

  it('holds out the end of the corpus for validation', () => {
    const c = loadCorpus([text], { preprocessing: 'd2l', maxTokens: 0, valFraction: 0.1 });
    expect(c.train.length + c.validation.length).toBe(170580);
    expect(c.validation.length).toBe(17058);
    const all = loadCorpus([text], { preprocessing: 'd2l', maxTokens: 0, valFraction: 0 }).train;
    expect(Array.from(c.validation)).toEqual(Array.from(all.subarray(170580 - 17058)));
    expect(Array.from(c.train)).toEqual(Array.from(all.subarray(0, 170580 - 17058)));
  });

  it('builds one vocabulary over several files', () => {
    const c = loadCorpus(['ab\n', 'bc\n'], { preprocessing: 'raw', maxTokens: 0, valFraction: 0 });
    expect(c.vocab.tokens).toEqual(['<unk>', 'b', '\n', 'a', 'c']);
    expect(Array.from(c.train)).toEqual([3, 1, 2, 1, 4, 2]);
  });

  it('refuses a corpus too small for one window', () => {
    expect(() => checkWindows(100, 32, 35, 'training')).toThrow(/training set has 100 tokens: too few/);
    expect(() => checkWindows(2000, 32, 35, 'training')).not.toThrow();
  });
});

describe("d2l's sequential iterator", () => {
  it('reshapes to [batch, -1] after a random offset, windows continue each row, Y is X shifted by one', () => {
    // d2l's own example: corpus 0..34, batch 2, 5 steps
    const rng = new Rng(3);
    const offset = new Rng(3).randint(0, 5);
    const windows = [...sequentialWindows(range(35), 2, 5, rng)];
    const perRow = Math.floor((35 - offset - 1) / 2);
    expect(windows.length).toBe(Math.floor(perRow / 5));
    windows.forEach((w, i) => {
      expect(Array.from(w.x.subarray(0, 5))).toEqual(Array.from(range(5)).map((k) => offset + i * 5 + k));
      expect(Array.from(w.x.subarray(5, 10))).toEqual(Array.from(range(5)).map((k) => offset + perRow + i * 5 + k));
      expect(Array.from(w.y)).toEqual(Array.from(w.x).map((v) => v + 1));
    });
  });

  it('draws the offset in [0, numSteps] and cuts the corpus to a multiple of the batch size', () => {
    const seen = new Set<number>();
    for (let s = 0; s < 300; s++) {
      const [first] = sequentialWindows(range(200), 4, 5, new Rng(s));
      seen.add(first.x[0]);
    }
    expect([...seen].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5]);
    // offset 0 → 199 usable tokens → 196 (a multiple of 4) → 49 per row → 9 windows of 5
    expect([...sequentialWindows(range(200), 4, 5, null)].length).toBe(9);
  });
});

describe("d2l's random iterator", () => {
  it('yields non-overlapping subsequences, shuffled, each Y = X + 1, with offset in [0, numSteps − 1]', () => {
    const offsets = new Set<number>();
    for (let s = 0; s < 200; s++) {
      const windows = [...randomWindows(range(35), 2, 5, new Rng(s))];
      const starts = windows.flatMap((w) => [w.x[0], w.x[5]]);
      offsets.add(Math.min(...starts) % 5);
      expect(windows.length).toBe(3); // (35 − offset − 1) // 5 = 6 subsequences → 3 batches of 2
      expect(new Set(starts).size).toBe(starts.length);
      for (const w of windows) {
        expect(Array.from(w.y)).toEqual(Array.from(w.x).map((v) => v + 1));
        for (const b of [0, 1]) expect(Array.from(w.x.subarray(b * 5, b * 5 + 5))).toEqual(Array.from(range(5)).map((k) => w.x[b * 5] + k));
      }
    }
    expect([...offsets].sort()).toEqual([0, 1, 2, 3, 4]);
  });
});
