/**
 * Constrained generation on real models: every text matches its constraint whatever the sampler
 * (temperature, top-k, top-p, beams), at every length limit, streamed and resumed; a choice is
 * drawn with the probability the model gives each whole option (checked against scoring each
 * option, and against sampled frequencies); what the model cannot write is a 400 that lists it.
 */
import Ajv from 'ajv';
import { beforeAll, describe, expect, it } from 'vitest';
import { fromStrings, GENERATE_FIELDS, SERVICE_LIMITS, type GenerateRequest, type GenerateResult } from '../../shared/contract.ts';
import { compileConstraint, MAX_SHARED_STATES } from '../../shared/constraint/constraint.ts';
import { decodeContinuation } from '../../shared/continuation.ts';
import { rowsOf, samplePrefix, stepsOf, validateGeneration } from '../../shared/decode/validate.ts';
import { predict } from '../../shared/generate.ts';
import { score, stream, type LoadedModel } from '../../shared/index.ts';
import { KernelModel } from '../../shared/kernel/stepper.ts';
import type { Model } from '../../shared/model.ts';
import { loadKernelNode, readModelDir } from '../../shared/platform/node.ts';
import { EDGE_MODEL_DIR, SECOND_MODEL_DIR } from '../edge/samples.ts';

let authors: Model;
let tm: Model;
let kA: KernelModel;
let kTm: KernelModel;
const run = (r: Partial<GenerateRequest>, o: { cpuMs?: number } = {}): GenerateResult => predict(authors, r, kA, undefined, o);
beforeAll(async () => {
  const kernel = await loadKernelNode();
  [authors, tm] = await Promise.all([readModelDir(SECOND_MODEL_DIR), readModelDir(EDGE_MODEL_DIR)]);
  kA = new KernelModel(kernel, authors);
  kTm = new KernelModel(kernel, tm);
});

/** A request under a CPU budget, followed slice by slice (each resume names its constraint again): the text, and how many slices. */
function inSlices(request: Partial<GenerateRequest>, cpuMs: number): { text: string; slices: number } {
  let r = run(request, { cpuMs });
  let text = r.generated;
  let slices = 1;
  while (r.finishReason === 'budget') {
    r = run({ continuation: r.continuation, constraint: request.constraint }, { cpuMs });
    text += r.generated;
    slices++;
  }
  return { text, slices };
}

const SAMPLERS: Partial<GenerateRequest>[] = [
  { temperature: 0 },
  { temperature: 0.8, seed: 1 },
  { temperature: 1.5, topK: 8, seed: 2 },
  { temperature: 2, topP: 0.9, seed: 3 },
  { temperature: 5, seed: 4 },
  { beamWidth: 4, numReturn: 4 },
];

describe('regex: every text matches, whole, within numChars', () => {
  const PATTERNS = ['[A-Z][a-z ,]*\\.', '(yes|no|perhaps), [a-z]+', '\\d{1,4}', '[a-z]+( [a-z]+){2,5}\\.', '"[^"\\n]{0,20}"'];
  for (const p of PATTERNS) {
    it(p, () => {
      const re = new RegExp(`^(?:${p})$`);
      for (const s of SAMPLERS) {
        for (const numChars of [8, 25, 120]) {
          let r: GenerateResult;
          try {
            r = run({ prefix: 'The ', numChars, constraint: { regex: p }, ...s });
          } catch (e) {
            expect((e as Error).message).toMatch(/shortest match of \d+ characters, over numChars/);
            continue;
          }
          const texts = r.beams ? r.beams.map((b) => b.generated) : [r.generated];
          for (const t of texts) expect(re.test(t), `${p} ${JSON.stringify(s)} ${numChars}: ${JSON.stringify(t)}`).toBe(true);
          expect(r.numChars).toBeLessThanOrEqual(numChars);
          expect(['stop', 'length']).toContain(r.finishReason);
        }
      }
    });
  }

  it('ends where nothing may follow (stop); where more may follow, by the model writing what is not allowed (stop) or at numChars (length, still a match)', () => {
    const sentence = run({ prefix: 'The ', numChars: 200, temperature: 0, constraint: { regex: '[A-Z][a-z ,]*\\.' } });
    expect(sentence.finishReason).toBe('stop');
    expect(sentence.generated.endsWith('.')).toBe(true);
    expect(sentence.continuation).toBeUndefined();
    // After "He was " the model soon wants a non-digit: the number ends there.
    const number = run({ prefix: 'In the year ', numChars: 40, temperature: 0, constraint: { regex: '[0-9]+' } });
    expect(number.finishReason).toBe('stop');
    expect(number.generated).toMatch(/^[0-9]{1,39}$/);
    const words = run({ prefix: 'The ', numChars: 30, temperature: 0, constraint: { regex: '[a-z ]+' } });
    expect(words.finishReason).toBe('length');
    expect(words.numChars).toBe(30);
    expect(words.continuation).toMatch(/^drc1\./);
  });
});

describe('JSON Schema and GBNF on a model that writes [ ] and " (it has no { })', () => {
  const ajv = new Ajv({ strict: false });
  it('an array of short strings and an enum, valid under ajv, at every sampler', () => {
    const schema = { type: 'array', items: { anyOf: [{ type: 'string', minLength: 1, maxLength: 12 }, { enum: [1, 2, 3] }] }, minItems: 1, maxItems: 4 };
    const validate = ajv.compile(schema);
    for (const s of SAMPLERS) {
      const r = run({ prefix: 'He named them: ', numChars: 70, constraint: { jsonSchema: schema }, ...s });
      for (const t of r.beams?.map((b) => b.generated) ?? [r.generated]) expect(validate(JSON.parse(t)), t).toBe(true);
    }
  });

  it('a grammar: a list of words, each capitalised', () => {
    const grammar = 'root ::= word (", " word){1,3} "."\nword ::= [A-Z] [a-z]{1,9}';
    for (const s of SAMPLERS) {
      const r = run({ prefix: 'They were ', numChars: 60, constraint: { grammar }, ...s });
      expect(r.generated).toMatch(/^[A-Z][a-z]{1,9}(, [A-Z][a-z]{1,9}){1,3}\.$/);
    }
  });

  it('an object needs { and }: a 400 listing them and the alphabet; a model without capitals cannot meet [A-Z]', () => {
    expect(() => run({ prefix: 'x', constraint: { jsonSchema: { type: 'object' } } })).toThrow(
      /no match that authors-deep-lstm can write: .*cannot write "\{", "\}".*its alphabet/,
    );
    expect(() => predict(tm, { prefix: 'the', constraint: { regex: '[A-Z]+' } }, kTm)).toThrow(/no match in the characters timemachine-deep-lstm can write/);
    expect(() => predict(tm, { prefix: 'the', constraint: { choice: ['yes', 'No'] } }, kTm)).toThrow(/choice\[1\] can never be generated: .*cannot write "N"/);
  });
});

describe('choice: an option with its probability under the model', () => {
  const OPTIONS = ['Yes', 'No', 'Perhaps so', 'N'];
  const prefix = 'Is it true? ';
  /** ln P(option | prefix), scoring prefix + option. */
  const logprob = (m: LoadedModel, o: string) =>
    score(m, { text: prefix + o })
      .chars.slice(-[...o].length)
      .reduce((s, c) => s + c.logprob!, 0);

  it('greedy and beams: the most probable option, each scored as scoring the whole text scores it', () => {
    const loaded: LoadedModel = { model: authors, kernelModel: kA } as LoadedModel;
    const expected = OPTIONS.map((o) => logprob(loaded, o));
    const beams = run({ prefix, numChars: 12, beamWidth: 4, numReturn: 4, constraint: { choice: OPTIONS } }).beams!;
    const order = OPTIONS.map((o, i) => [o, expected[i]] as const).sort((a, b) => b[1] - a[1]);
    expect(beams.map((b) => b.generated)).toEqual(order.map(([o]) => o));
    for (const b of beams) expect(b.logprob).toBeCloseTo(expected[OPTIONS.indexOf(b.generated)], 4);
    const greedy = run({ prefix, numChars: 12, temperature: 0, constraint: { choice: OPTIONS } });
    expect(greedy.generated).toBe(order[0][0]);
    expect(greedy.finishReason).toBe('stop');
    expect(greedy.continuation).toBeUndefined();
  });

  it('sampled at temperature 1, each option comes up in proportion to its probability (600 seeds, within 4.5 σ)', () => {
    const loaded: LoadedModel = { model: authors, kernelModel: kA } as LoadedModel;
    // Sampling draws from the characters sampling may write (<unk> and author tags excluded): renormalise over those.
    const lps = OPTIONS.map((o) => logprob(loaded, o));
    const probs = lps.map((l) => Math.exp(l));
    const total = probs.reduce((a, b) => a + b, 0);
    const N = 600;
    const counts = new Map<string, number>();
    for (let seed = 0; seed < N; seed++) {
      const r = run({ prefix, numChars: 12, temperature: 1, seed, constraint: { choice: OPTIONS } });
      counts.set(r.generated, (counts.get(r.generated) ?? 0) + 1);
    }
    for (const [i, o] of OPTIONS.entries()) {
      const p = probs[i] / total;
      const f = (counts.get(o) ?? 0) / N;
      expect(Math.abs(f - p), `${o}: ${f} vs ${p}`).toBeLessThanOrEqual(4.5 * Math.sqrt((p * (1 - p)) / N) + 1 / N);
    }
    // topK 1 is the most probable; "N" and "No" share a first character, and a trie walk would have favoured them.
    expect(run({ prefix, numChars: 12, temperature: 1, topK: 1, seed: 9, constraint: { choice: OPTIONS } }).generated).toBe(
      OPTIONS[lps.indexOf(Math.max(...lps))],
    );
  });

  it("on Workers' CPU budget: a choice is scored whole within one request, or refused with the reason", () => {
    const r = run({ prefix, numChars: 12, constraint: { choice: OPTIONS } }, { cpuMs: 10 });
    expect(OPTIONS).toContain(r.generated);
    expect(() => run({ prefix: prefix.repeat(20), numChars: 12, constraint: { choice: OPTIONS } }, { cpuMs: 0.05 })).toThrow(
      /scoring every choice cannot fit in this server's CPU budget of 0.05 ms per request/,
    );
  });

  it('an option longer than numChars, lengthPenalty, and stop are 400s', () => {
    expect(() => run({ prefix, numChars: 5, constraint: { choice: OPTIONS } })).toThrow(/choice\[2\] has 10 characters, over numChars 5/);
    expect(() => run({ prefix, beamWidth: 2, lengthPenalty: 0.5, constraint: { choice: OPTIONS } })).toThrow(/lengthPenalty does not go with a choice/);
    expect(() => run({ prefix, stop: ['.'], constraint: { regex: 'a' } })).toThrow(/stop does not go with constraint/);
  });
});

describe('the element and the CLI take a constraint as text', () => {
  it("an attribute's JSON is the same constraint; bad JSON or a bad shape names the attribute", () => {
    const name = (f: string) => `attribute ${f}`;
    expect(fromStrings(GENERATE_FIELDS, { constraint: '{"choice": ["Yes", "No"]}' }, name)).toEqual({ constraint: { choice: ['Yes', 'No'] } });
    expect(() => fromStrings(GENERATE_FIELDS, { constraint: '{regex: 1}' }, name)).toThrow(/^attribute constraint must be JSON: an object with exactly one of/);
    expect(() => fromStrings(GENERATE_FIELDS, { constraint: '{"regex": 1}' }, name)).toThrow(
      /^attribute constraint must be an object with exactly one of .*regex must be a string/,
    );
  });
});

describe('streamed and resumed, under the constraint', () => {
  it('streams the characters of the result', async () => {
    const loaded: LoadedModel = { model: authors, kernelModel: kA } as LoadedModel;
    const request = { prefix: 'The ', numChars: 80, temperature: 0.9, seed: 5, constraint: { regex: '[A-Z][a-z ,]*\\.' } };
    const it = stream(loaded, request);
    let text = '';
    let r = await it.next();
    while (!r.done) {
      text += r.value.text;
      r = await it.next();
    }
    expect(text).toBe(r.value.generated);
    expect(text).toBe(run(request).generated);
  });

  it("a CPU budget's slices go on under the constraint to the uninterrupted text; the token names the constraint", () => {
    const constraint = { regex: '[A-Z][a-z ,]*\\.( [A-Z][a-z ,]*\\.){1,4}' };
    const request = { prefix: 'The ', numChars: 300, temperature: 0.8, seed: 21, constraint };
    const whole = run(request);
    const { text, slices } = inSlices(request, 2);
    expect(slices).toBeGreaterThan(2);
    expect(text).toBe(whole.generated);
    expect(new RegExp(`^(?:${constraint.regex})$`).test(text)).toBe(true);
  });

  it('a result cut at numChars is a match, and its continuation goes on to a longer one; another constraint, none, or added text are 400s', () => {
    const constraint = { regex: '[^0-9]+' };
    const first = run({ prefix: 'The ', numChars: 20, temperature: 0.7, seed: 3, constraint });
    expect(first.finishReason).toBe('length');
    const more = run({ continuation: first.continuation, numChars: 30, constraint });
    expect(more.numChars).toBe(30);
    expect(first.generated + more.generated).toMatch(/^[^0-9]{50}$/);
    expect(() => run({ continuation: first.continuation })).toThrow(/constraint is required with this continuation: it was made under a regex constraint/);
    expect(() => run({ continuation: first.continuation, constraint: { regex: '[^0-8]+' } })).toThrow(
      /constraint is not the one this continuation was made under/,
    );
    expect(() => run({ continuation: first.continuation, constraint, prefix: 'x' })).toThrow(/prefix is not allowed with a constrained continuation/);
    const free = run({ prefix: 'The ', numChars: 5, seed: 1 });
    expect(() => run({ continuation: free.continuation, constraint })).toThrow(/constraint is not allowed with this continuation: it was made without one/);
  });
});

describe('validateGeneration, field by field (what the jobs and the servers read from it)', () => {
  const v = (r: object, surface: 'api' | 'library' = 'library') => validateGeneration(authors, r, undefined, surface);

  it("the sample prefix: the model's own, else d2l's or raw text's default", () => {
    expect(samplePrefix({ ...authors, training: { ...authors.training!, samplePrefix: 'It was' } } as Model)).toBe('It was');
    expect(samplePrefix({ ...authors, training: { ...authors.training!, samplePrefix: '' } } as Model)).toBe('The ');
    expect(samplePrefix({ ...authors, training: null } as Model)).toBe('The ');
    expect(samplePrefix({ ...tm, training: null } as Model)).toBe('time traveller');
    expect(v({}).prefix).toBe(samplePrefix(authors));
  });

  it('the sampler: temperature, top-k and top-p as asked, nothing added', () => {
    expect(v({ prefix: 'a', temperature: 1, topK: 3, topP: 0.5 }).sampling).toEqual({ temperature: 1, topK: 3, topP: 0.5 });
    expect(v({ prefix: 'a', temperature: 1, topP: 0.5 }).sampling).toEqual({ temperature: 1, topP: 0.5 });
    // A temperature not given is the model's: 1 on raw text (OpenAI's default), 0 on d2l's letters (greedy, as the book).
    expect(v({ prefix: 'a' }).sampling).toEqual({ temperature: 1 });
    expect(validateGeneration(tm, { prefix: 'a' }, undefined, 'library').sampling).toEqual({ temperature: 0 });
    expect(v({ prefix: 'a', temperature: 0 }).sampling).toEqual({ temperature: 0 });
    expect(() => v({ prefix: 'a', lengthPenalty: 2 })).toThrow(/lengthPenalty applies to beam search only/);
    expect(v({ prefix: 'a', lengthPenalty: 1 }).beam).toBeNull();
  });

  it('rows and steps: a choice holds a row per option and steps its longest; beams a row each; sampling one row of numChars', () => {
    const choice = v({ prefix: 'a', numChars: 12, constraint: { choice: ['ab', 'abcdef', 'x'] } });
    expect([rowsOf(choice), stepsOf(choice)]).toEqual([3, 6]);
    const beams = v({ prefix: 'a', numChars: 12, beamWidth: 5 });
    expect([rowsOf(beams), stepsOf(beams)]).toEqual([5, 12]);
    const sampled = v({ prefix: 'a', numChars: 12 });
    expect([rowsOf(sampled), stepsOf(sampled)]).toEqual([1, 12]);
    expect(choice.token).toBeNull();
    expect(beams.token).toBeNull();
    expect(sampled.token).toMatchObject({ model: authors.name });
  });

  it('lengths at their bounds: an option or a shortest match of exactly numChars fits, one more does not; returnContinuation by surface', () => {
    expect(() => v({ prefix: 'a', numChars: 6, constraint: { choice: ['abcdef', 'x'] } })).not.toThrow();
    expect(() => v({ prefix: 'a', numChars: 5, constraint: { choice: ['abcdef', 'x'] } })).toThrow(/choice\[0\] has 6 characters, over numChars 5/);
    expect(() => v({ prefix: 'a', numChars: 3, constraint: { regex: 'abc' } })).not.toThrow();
    expect(() => v({ prefix: 'a', numChars: 2, constraint: { regex: 'abc' } })).toThrow(/shortest match of 3 characters, over numChars 2/);
    expect(v({ prefix: 'a' }).returnContinuation).toBe(true);
    expect(v({ prefix: 'a', numChars: 5 }, 'api').returnContinuation).toBe(false);
    expect(v({ prefix: 'a', numChars: 5, returnContinuation: true }, 'api').returnContinuation).toBe(true);
  });
});

describe('resuming, checked', () => {
  it('a resumed generation stays under its constraint (a pattern the model would not write by itself)', () => {
    const { text, slices } = inSlices({ prefix: 'The ', numChars: 60, temperature: 1, seed: 4, constraint: { regex: '[xyz ]{60}' } }, 1);
    expect(slices).toBeGreaterThan(2);
    expect(text).toMatch(/^[xyz ]{60}$/);
  });

  it('a token numChars ended goes on for 50 characters when the resume names no numChars; one a budget cut, for what its request still wanted', () => {
    const ended = run({ prefix: 'The ', numChars: 7, temperature: 0.8, seed: 2 });
    expect(run({ continuation: ended.continuation }).numChars).toBe(50);
    const cut = run({ prefix: 'The ', numChars: 300, temperature: 0.8, seed: 2 }, { cpuMs: 2 });
    expect(cut.finishReason).toBe('budget');
    expect(cut.numChars + run({ continuation: cut.continuation }).numChars).toBe(300);
  });

  it('text added to a continuation counts with what its token has still to read, against the prefix bound', () => {
    const limits = { ...SERVICE_LIMITS };
    const cut = predict(authors, { prefix: 'a'.repeat(900), numChars: 5, seed: 1 }, kA, limits, { cpuMs: 1 });
    const unread = decodeContinuation(cut.continuation!).feed.length - 1;
    expect(unread).toBeGreaterThan(100);
    expect(() => predict(authors, { continuation: cut.continuation, prefix: 'b'.repeat(1001 - unread) }, kA, limits)).toThrow(
      new RegExp(`still has ${unread} characters of its prefix to read, and with yours that is over 1000`),
    );
    expect(() => predict(authors, { continuation: cut.continuation, prefix: 'b'.repeat(1000 - unread) }, kA, limits)).not.toThrow();
  });
});

describe('memory: compiled constraints are cached per model, their automata bounded', () => {
  it('past MAX_SHARED_STATES a cached automaton is replaced for the next request; the one a job holds keeps working', () => {
    const spec = { regex: '(a{1000}){5}' };
    const first = compileConstraint(spec, authors);
    if (first.kind !== 'automaton') throw new Error('an automaton');
    expect(compileConstraint(spec, authors)).toBe(first);
    const a = authors.vocab.encode('a')[0];
    let s = first.automaton.start;
    for (let k = 0; k < MAX_SHARED_STATES + 10; k++) s = first.automaton.next(s, a);
    expect(first.automaton.size).toBeGreaterThan(MAX_SHARED_STATES);
    const next = compileConstraint(spec, authors);
    if (next.kind !== 'automaton') throw new Error('an automaton');
    expect(next.automaton).not.toBe(first.automaton);
    expect(next.automaton.size).toBeLessThan(10);
    expect(next.name).toBe(first.name);
    // The old one still answers for the job that holds it: 4,990 more characters to a match.
    expect(first.automaton.minToAccept(s)).toBe(5000 - MAX_SHARED_STATES - 10);
  });
});
