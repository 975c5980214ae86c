import { describe, expect, it } from 'vitest';
import { generateChars, predict, referenceStepper, streamChars, validateGenerateOptions, type Stepper } from '../../shared/generate.ts';
import { OptionError } from '../../shared/errors.ts';
import { randomModel } from '../helpers.ts';

describe("generation (d2l's predict_ch8)", () => {
  const model = randomModel('lstm', { seed: 11 });

  it('warms up on the prefix, feeds each output back, and returns prefix + generated', () => {
    const fed: number[] = [];
    const inner = referenceStepper(model);
    const spy: Stepper = { reset: () => inner.reset(), step: (t) => (fed.push(t), inner.step(t)) };
    const r = predict(model, { prefix: 'time', numChars: 5 }, spy);
    expect(r.text).toBe('time' + r.generated);
    expect([...r.generated].length).toBe(5);
    expect(r.finishReason).toBe('length');
    // t, i, m warm up; e is the first input of generation; then each generated char is fed back
    expect(fed).toEqual([...'time', ...r.generated.slice(0, 4)].map((c) => model.vocab.indexOf(c)));
  });

  it('is greedy by default and so independent of the seed', () => {
    const a = predict(model, { prefix: 'the', numChars: 30, seed: 1 });
    const b = predict(model, { prefix: 'the', numChars: 30, seed: 2 });
    expect(a.text).toBe(b.text);
  });

  it('samples reproducibly: same seed, same text; another seed, another text', () => {
    const opts = { prefix: 'the', numChars: 60, temperature: 1.5 };
    const a = predict(model, { ...opts, seed: 5 });
    expect(predict(model, { ...opts, seed: 5 }).text).toBe(a.text);
    expect(predict(model, { ...opts, seed: 6 }).text).not.toBe(a.text);
    const drawn = predict(model, opts);
    expect(predict(model, { ...opts, seed: drawn.seed }).text).toBe(drawn.text);
  });

  it('streams the same characters as the whole-string call, and stops when the consumer stops', async () => {
    const opts = { prefix: 'tea', numChars: 40, temperature: 1, topK: 4, seed: 9 };
    let streamed = '';
    for await (const c of streamChars(model, validateGenerateOptions(model, opts))) streamed += c;
    expect(streamed).toBe(predict(model, opts).generated);
    let steps = 0;
    const inner = referenceStepper(model);
    const counting: Stepper = { reset: () => inner.reset(), step: (t) => (steps++, inner.step(t)) };
    for await (const c of streamChars(model, validateGenerateOptions(model, { ...opts, prefix: 't', numChars: 1000 }), counting)) if (c) break;
    expect(steps).toBe(1);
  });

  it('normalises the prefix and maps unknown characters to <unk> without crashing', () => {
    const r = predict(model, { prefix: 'Time, TRAVELLER é🙂!', numChars: 10 });
    expect(r.prefix).toBe('time traveller e ');
    expect(r.text.startsWith(r.prefix)).toBe(true);
    expect(r.generated).not.toContain('<unk>');
    expect(predict(model, { prefix: 'qqq', numChars: 3 }).text.startsWith('qqq')).toBe(true); // q is not in this vocab
  });

  it('never emits <unk>, even when it has the largest logit', () => {
    const m = randomModel('rnn', { seed: 3 });
    m.params['linear.bias'][0] = 1e6;
    expect(predict(m, { prefix: 'a', numChars: 20 }).generated).not.toContain('<unk>');
    expect([...generateChars(m, validateGenerateOptions(m, { prefix: 'a', numChars: 5, temperature: 1, seed: 1 }))]).not.toContain('<unk>');
  });

  it('validates every option', () => {
    const bad: [object, RegExp][] = [
      [{ prefix: '', numChars: 5 }, /prefix must have 1 to/],
      [{ prefix: 'x'.repeat(10001), numChars: 5 }, /prefix/],
      [{ prefix: 42, numChars: 5 }, /prefix must be a string/],
      [{ prefix: 'a', numChars: 0 }, /numChars/],
      [{ prefix: 'a', numChars: 2.5 }, /numChars/],
      [{ prefix: 'a', numChars: 100001 }, /numChars/],
      [{ prefix: 'a', numChars: '5' }, /numChars/],
      [{ prefix: 'a', numChars: 5, temperature: -0.1 }, /temperature/],
      [{ prefix: 'a', numChars: 5, topK: 0 }, /topK/],
      [{ prefix: 'a', numChars: 5, topP: 0 }, /topP/],
      [{ prefix: 'a', numChars: 5, seed: -1 }, /seed/],
      [{ prefix: 'a', numChars: 5, seed: 2 ** 32 }, /seed/],
    ];
    for (const [opts, message] of bad) {
      expect(() => predict(model, opts as Parameters<typeof predict>[1])).toThrow(OptionError);
      expect(() => predict(model, opts as Parameters<typeof predict>[1])).toThrow(message);
    }
  });
});
