import { describe, expect, it } from 'vitest';
import { BatchExecutor, runJob } from '../../shared/batch.ts';
import { SERVICE_LIMITS } from '../../shared/contract.ts';
import { OptionError } from '../../shared/errors.ts';
import { ScoreJob, validateScore } from '../../shared/evaluate.ts';
import { validateGeneration } from '../../shared/decode/validate.ts';
import { createJob, predict } from '../../shared/generate.ts';
import { KernelModel, referenceRows, type RowStepper } from '../../shared/kernel/stepper.ts';
import { loadKernelNode } from '../../shared/platform/node.ts';
import { initParams, type Model } from '../../shared/model.ts';
import { Rng } from '../../shared/rng.ts';
import { logSumExp } from '../../shared/sampling.ts';
import { authorToken, Vocab } from '../../shared/vocab.ts';
import { randomModel } from '../helpers.ts';

/** A stepper that records what it is fed, per row. */
function spy(model: Model, rows = 1): { stepper: RowStepper; fed: number[][] } {
  const inner = referenceRows(model, rows);
  const fed: number[][] = Array.from({ length: rows }, () => []);
  const stepper: RowStepper = {
    ...inner,
    step: (first, tokens) => {
      Array.from(tokens).forEach((t, i) => fed[first + i].push(t));
      return inner.step(first, tokens);
    },
  };
  return { stepper, fed };
}

describe("generation (d2l's predict_ch8)", () => {
  const model = randomModel('lstm', { seed: 11 });

  it('warms up on the prefix, feeds each output back, and returns prefix + generated', () => {
    const { stepper, fed } = spy(model);
    const r = predict(model, { prefix: 'time', numChars: 5 }, stepper);
    expect(r.text).toBe('time' + r.generated);
    expect([...r.generated].length).toBe(5);
    expect(r).toMatchObject({ numChars: 5, finishReason: 'length' });
    // t, i, m warm up; e is the first input of generation; then each generated char is fed back
    expect(fed[0]).toEqual([...'time', ...r.generated.slice(0, 4)].map((c) => model.vocab.indexOf(c)));
  });

  it('is greedy by default and so independent of the seed', () => {
    expect(predict(model, { prefix: 'the', numChars: 30, seed: 1 }).text).toBe(predict(model, { prefix: 'the', numChars: 30, seed: 2 }).text);
  });

  it('samples reproducibly: same seed, same text; another seed, another text', () => {
    const opts = { prefix: 'the', numChars: 60, temperature: 1.5 };
    const a = predict(model, { ...opts, seed: 5 });
    expect(predict(model, { ...opts, seed: 5 }).text).toBe(a.text);
    expect(predict(model, { ...opts, seed: 6 }).text).not.toBe(a.text);
    const drawn = predict(model, opts);
    expect(predict(model, { ...opts, seed: drawn.seed }).text).toBe(drawn.text);
  });

  it('normalises the prefix and maps unknown characters to <unk>, which it never generates', () => {
    const r = predict(model, { prefix: 'Time, TRAVELLER é🙂!', numChars: 10 });
    expect(r.prefix).toBe('time traveller e ');
    expect(r.generated).not.toContain('<unk>');
    const m = randomModel('rnn', { seed: 3 });
    m.params['linear.bias'][0] = 1e6; // <unk> has by far the largest logit
    expect(predict(m, { prefix: 'a', numChars: 20 }).generated).not.toContain('<unk>');
    expect(predict(m, { prefix: 'a', numChars: 20, temperature: 1, seed: 1 }).generated).not.toContain('<unk>');
  });

  it('gives the same text alone and in a batch with others, joining and leaving at different steps', () => {
    const requests = Array.from({ length: 9 }, (_, i) => ({
      prefix: ['t', 'the time', 'a'.repeat(30)][i % 3],
      numChars: 20 + 9 * i,
      temperature: i % 2 ? 0.9 : 0,
      seed: i,
      ...(i === 4 ? { beamWidth: 3 } : {}),
    }));
    const alone = requests.map((q) => predict(model, q).text);
    const ex = new BatchExecutor(referenceRows(model, 6), 4); // little room, small prefix budget: jobs wait and interleave
    const jobs = requests.map((q) => createJob(model, validateGeneration(model, q)));
    const waiting = [...jobs];
    while (jobs.some((j) => !j.finished)) {
      while (waiting.length && ex.add(waiting[0])) waiting.shift();
      ex.tick();
    }
    expect(jobs.map((j) => j.result({ totalMs: 0 }).text)).toEqual(alone);
  });
});

describe('the contract: validation, one validator for every surface', () => {
  const model = randomModel('gru', { seed: 2 });
  const v =
    (raw: unknown, surface: 'api' | 'library' = 'library') =>
    () =>
      validateGeneration(model, raw, SERVICE_LIMITS, surface);

  it('names a near-miss field before complaining that the real one is missing', () => {
    expect(v({ prefix: 'a', numChar: 5 }, 'api')).toThrow('numChar is not a field; did you mean numChars?');
    expect(v({ prefix: 'a', numChars: 5, temprature: 1 }, 'api')).toThrow('temprature is not a field; did you mean temperature?');
    expect(v({ prefix: 'a', numChars: 5, colour: 'red' }, 'api')).toThrow(/colour is not a field \(fields: prefix, numChars/);
    expect(v({ prefix: 'a' }, 'api')).toThrow(/numChars is required/);
    expect(v({ prefix: 'a' }, 'library')).not.toThrow(); // the CLI and the element fill defaults
  });

  it('checks every bound once, naming the field', () => {
    const bad: [object, RegExp][] = [
      [{ prefix: '', numChars: 5 }, /prefix must be a string of 1 to 1000/],
      [{ prefix: 42, numChars: 5 }, /prefix must be a string/],
      [{ prefix: 'a', numChars: 0 }, /numChars must be a whole number in \[1, 2000\]/],
      [{ prefix: 'a', numChars: 2.5 }, /numChars/],
      [{ prefix: 'a', numChars: '5' }, /numChars/],
      [{ prefix: 'a', numChars: 5, temperature: -0.1 }, /temperature must be a number in \[0, 100\]/],
      [{ prefix: 'a', numChars: 5, temperature: 101 }, /temperature/],
      [{ prefix: 'a', numChars: 5, topK: 0 }, /topK/],
      [{ prefix: 'a', numChars: 5, topP: 0 }, /topP must be a number in \(0, 1\]/],
      [{ prefix: 'a', numChars: 5, seed: -1 }, /seed must be a whole number in \[0, 4294967295\]/],
      [{ prefix: 'a', numChars: 5, seed: 2 ** 32 }, /seed/],
      [{ prefix: 'a', numChars: 5, logprobs: 11 }, /logprobs must be a whole number in \[0, 10\]/],
      [{ prefix: 'a', numChars: 5, stop: ['a', 'b', 'c', 'd', 'e'] }, /stop must be a list of at most 4 strings of 1 to 32 characters/],
      [{ prefix: 'a', numChars: 5, stop: [''] }, /stop/],
      [{ prefix: 'a', numChars: 5, stop: ['x'.repeat(33)] }, /stop/],
      [{ prefix: 'a', numChars: 5, beamWidth: 17 }, /beamWidth must be a whole number in \[1, 16\]/],
      [{ prefix: 'a', numChars: 5, beamWidth: 2, numReturn: 3 }, /numReturn must be at most beamWidth \(2\)/],
      [{ prefix: 'a', numChars: 5, beamWidth: 4, temperature: 0.5 }, /beamWidth > 1 is a deterministic search/],
      [{ prefix: 'a', numChars: 5, lengthPenalty: 2 }, /lengthPenalty applies to beam search only/],
      [{ prefix: 'a', numChars: 5, stream: 'yes' }, /stream must be true or false/],
      [{ prefix: 'a', numChars: 5, author: 'doyle' }, /trained without author tags/],
      [{ prefix: 'a', numChars: 5, stop: ['q'] }, /stop\[0\] "q" can never be generated: \S+ cannot write "q" \(its alphabet: /],
      [[1, 2], /the request must be a JSON object/],
    ];
    for (const [raw, message] of bad) {
      expect(v(raw, 'api'), JSON.stringify(raw)).toThrow(OptionError);
      expect(v(raw, 'api'), JSON.stringify(raw)).toThrow(message);
    }
  });

  it('bounds what the model reads: the prefix after its preprocessing', () => {
    const raw = randomModel('gru', { seed: 2 });
    raw.preprocessing = 'raw';
    const d2l = randomModel('gru', { seed: 2 });
    // NFKD turns "㎯" into "rad∕s²": 1000 of them become a 6000-character prefix under d2l.
    expect(() => validateGeneration(d2l, { prefix: '㎯'.repeat(1000), numChars: 5 }, SERVICE_LIMITS, 'api')).toThrow(
      /at most 1000 characters as the model reads it; after its preprocessing it has \d{4}/,
    );
    expect(() => validateGeneration(raw, { prefix: 'é'.repeat(1000), numChars: 5 }, SERVICE_LIMITS, 'api')).not.toThrow();
    expect(() => validateGeneration(raw, { prefix: 'e\u0301'.repeat(1000), numChars: 5 }, SERVICE_LIMITS, 'api')).toThrow(
      /prefix must be a string of 1 to 1000 characters/,
    );
  });
});

describe('log-probabilities', () => {
  const model = randomModel('lstm', { seed: 21, scale: 1.5 });
  const V = model.arch.vocabSize;

  it('report the distribution actually sampled from (temperature, top-k, top-p), for the sampled token and the alternatives', () => {
    const { stepper } = spy(model);
    const opts = { prefix: 'the', numChars: 40, temperature: 0.7, topK: 5, seed: 3, logprobs: 3 };
    const r = predict(model, opts, stepper);
    // Recompute each step's filtered distribution from the reference logits.
    const rows = referenceRows(model, 1);
    let logits = new Float32Array(0);
    for (const t of model.vocab.encode('the')) logits = rows.step(0, [t]).slice();
    for (const tok of r.logprobs!) {
      const ids = [...Array(V).keys()]
        .filter((i) => i !== 0)
        .sort((a, b) => logits[b] - logits[a] || a - b)
        .slice(0, 5);
      const w = ids.map((i) => Math.exp((logits[i] - logits[ids[0]]) / 0.7));
      const total = w.reduce((a, b) => a + b);
      const chosen = model.vocab.indexOf(tok.text);
      expect(ids).toContain(chosen);
      expect(tok.logprob!).toBeCloseTo(Math.log(w[ids.indexOf(chosen)] / total), 10);
      expect(tok.top!.map((t) => t.text)).toEqual(ids.slice(0, 3).map((i) => model.vocab.tokens[i]));
      tok.top!.forEach((t, k) => expect(t.logprob).toBeCloseTo(Math.log(w[k] / total), 10));
      logits = rows.step(0, [chosen]).slice();
    }
  });

  it("greedy reports the model's own distribution, and scoring the text gives the same numbers", () => {
    const g = predict(model, { prefix: 'the time', numChars: 30, logprobs: 2 });
    const job = new ScoreJob(model, validateScore(model, { text: g.text }));
    runJob(job, referenceRows(model, 1));
    const s = job.result();
    const scored = s.chars.slice(-30).map((c) => c.logprob!);
    g.logprobs!.forEach((t, i) => expect(t.logprob).toBeCloseTo(scored[i], 12));
    expect(s.logprob).toBeCloseTo(
      s.chars.reduce((a, c) => a + (c.logprob ?? 0), 0),
      10,
    );
    expect(s.predicted).toBe([...g.text].length - 1);
    expect(s.chars[0].logprob).toBeNull();
    expect(s.perplexity).toBeCloseTo(Math.exp(-s.logprob / s.predicted), 10);
    expect(s.bitsPerChar).toBeCloseTo(-s.logprob / s.predicted / Math.LN2, 10);
  });

  it('scoring counts characters read as <unk>', () => {
    const job = new ScoreJob(model, validateScore(model, { text: 'the qq' }));
    runJob(job, referenceRows(model, 1));
    expect(job.result().unknown).toBe(2); // q is not in this vocabulary
    expect(job.result().chars.filter((c) => c.unknown)).toHaveLength(2);
  });
});

describe('stop sequences', () => {
  const model = randomModel('gru', { seed: 8 });

  it('end the text exactly at the first occurrence, keeping the stop sequence; otherwise numChars ends it', () => {
    let stopped = 0;
    for (let seed = 0; seed < 30; seed++) {
      const free = predict(model, { prefix: 'a', numChars: 200, temperature: 1, seed }).generated;
      const r = predict(model, { prefix: 'a', numChars: 200, temperature: 1, seed, stop: ['e ', 'ta'] });
      // The earliest end of any stop sequence in the text generated without them.
      const end = Math.min(...['e ', 'ta'].map((s) => (free.indexOf(s) < 0 ? Infinity : free.indexOf(s) + s.length)));
      if (Number.isFinite(end)) {
        stopped++;
        expect(r.generated).toBe(free.slice(0, end));
        expect(r.finishReason).toBe('stop');
      } else {
        expect(r.generated).toBe(free);
        expect(r.finishReason).toBe('length');
      }
    }
    expect(stopped).toBeGreaterThan(10);
  });
});

describe('beam search', () => {
  const model = randomModel('lstm', { seed: 13, scale: 1.2 });

  it('width 1 is greedy decoding, log-probabilities included', () => {
    const greedy = predict(model, { prefix: 'the', numChars: 50, logprobs: 2 });
    const beam = predict(model, { prefix: 'the', numChars: 50, logprobs: 2, beamWidth: 1 });
    expect(beam.text).toBe(greedy.text);
    expect(beam.logprobs).toEqual(greedy.logprobs);
  });

  it('is deterministic, returns numReturn beams ranked by score, and finds text at least as likely as greedy', () => {
    const q = { prefix: 'the', numChars: 40, beamWidth: 6, numReturn: 4, logprobs: 1, seed: 1 };
    const a = predict(model, q);
    expect(predict(model, q)).toEqual({ ...a, timings: expect.anything() });
    expect(a.beams).toHaveLength(4);
    expect(a.beams![0].text).toBe(a.text);
    for (let i = 1; i < 4; i++) expect(a.beams![i].score).toBeLessThanOrEqual(a.beams![i - 1].score);
    expect(new Set(a.beams!.map((b) => b.generated)).size).toBe(4);
    const greedy = predict(model, { prefix: 'the', numChars: 40, logprobs: 1 });
    const sum = (r: typeof a) => r.logprobs!.reduce((s, t) => s + t.logprob!, 0);
    expect(sum(a)).toBeGreaterThanOrEqual(sum(greedy) - 1e-9);
    expect(a.beams![0].logprob).toBeCloseTo(sum(a), 9);
    expect(a.beams![0].score).toBeCloseTo(a.beams![0].logprob / 40, 9); // lengthPenalty 1: per-character mean
  });

  it('ends beams at stop sequences and ranks them with the length penalty', () => {
    const q = { prefix: 'the', numChars: 60, beamWidth: 4, numReturn: 4, stop: [' '] };
    const r = predict(model, q);
    // This model writes a space within 60 characters on every beam: each one ends there, and only there.
    expect(r.beams!.map((b) => b.finishReason)).toEqual(['stop', 'stop', 'stop', 'stop']);
    for (const b of r.beams!) {
      expect(b.generated.endsWith(' ')).toBe(true);
      expect(b.generated.slice(0, -1)).not.toContain(' ');
    }
    const short = predict(model, { ...q, lengthPenalty: -2 });
    const long = predict(model, { ...q, lengthPenalty: 4 });
    expect([...short.generated].length).toBeLessThanOrEqual([...long.generated].length);
  });
});

describe('author tags', () => {
  // A model whose vocabulary has two author tags (as --author-tags training makes).
  const tokens = ['<unk>', authorToken('wells'), authorToken('shelley'), ' ', '\n', 'e', 't', 'a', 'h'];
  const arch = { cell: 'gru' as const, numLayers: 1, hiddenSize: 8, vocabSize: tokens.length, input: 'one-hot' as const };
  const rng = new Rng(4);
  const model: Model = {
    name: 'tagged',
    arch,
    vocab: new Vocab(tokens),
    preprocessing: 'raw',
    params: initParams(arch, () => (rng.uniform() - 0.5) * 6),
    training: null,
  };

  it("feed the author's tag first and never write a tag as text", () => {
    const { stepper, fed } = spy(model);
    const r = predict(model, { prefix: 'the', numChars: 300, temperature: 1.5, seed: 1, author: 'shelley' }, stepper);
    expect(fed[0][0]).toBe(2);
    expect(r.author).toBe('shelley');
    expect(r.generated).not.toMatch(/<author/);
    expect([...r.generated].length).toBe(300);
    // Wherever the model chose to start a paragraph, it read shelley's tag (never wells').
    expect(fed[0]).not.toContain(1);
    expect(() => validateGeneration(model, { prefix: 'a', author: 'doyle' })).toThrow(/author must be one of wells, shelley/);
  });

  it('change the text', () => {
    const a = predict(model, { prefix: 'the', numChars: 60, author: 'wells' }).text;
    const b = predict(model, { prefix: 'the', numChars: 60, author: 'shelley' }).text;
    expect(a).not.toBe(b);
  });
});

describe('scoring and sampling share the model distribution', () => {
  it('logSumExp is stable for large logits', () => {
    expect(logSumExp(Float32Array.of(1000, 1000), 2)).toBeCloseTo(1000 + Math.LN2, 9);
  });
});

describe('the prefix cache', () => {
  it('restores the state after a prefix bit for bit: the same texts, fewer steps', async () => {
    const { PrefixCache } = await import('../../shared/batch.ts');
    const model = randomModel('lstm', { seed: 5 });
    const { stepper, fed } = spy(model, 4);
    const ex = new BatchExecutor(stepper, 64, new PrefixCache(8, 4));
    const requests = [0, 1, 2].map((seed) => ({ prefix: 'the time traveller', numChars: 30, temperature: 1, seed, beamWidth: 1 }));
    const alone = requests.map((q) => predict(model, q).text);
    const texts: string[] = [];
    for (const q of requests) {
      const job = createJob(model, validateGeneration(model, q));
      ex.add(job);
      while (!job.finished) ex.tick();
      texts.push(job.result({ totalMs: 0 }).text);
    }
    expect(texts).toEqual(alone);
    expect(fed[0].length).toBe(17 + 3 * 30); // the 17-character warm-up was read once
  });
});

describe('predict on a kernel model', () => {
  it('borrows its rows from the pool and gives them back, also when the request is refused; its time is a duration', async () => {
    const model = randomModel('lstm', { seed: 9 });
    const km = new KernelModel(await loadKernelNode('simd'), model);
    const pooled = km.acquire(1);
    km.release(pooled);
    const r = predict(model, { prefix: 'the', numChars: 8 }, km);
    expect(km.acquire(1)).toBe(pooled); // the same rows, back in the pool
    km.release(pooled);
    expect(r.timings.totalMs).toBeGreaterThanOrEqual(0);
    expect(r.timings.totalMs).toBeLessThan(600_000); // a duration, not a clock reading
    expect(r.text).toBe(predict(model, { prefix: 'the', numChars: 8 }).text); // the kernel's text is the reference pass's
    expect(() => predict(model, { prefix: 'the', numChars: 8, beamWidth: 2, temperature: 1 }, km)).toThrow(OptionError);
    expect(km.acquire(1)).toBe(pooled);
    km.dispose();
  });
});
