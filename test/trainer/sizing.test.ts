import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readModelDir } from '../../shared/platform/node.ts';
import { parseOptions } from '../../trainer/argv.ts';
import { readCheckpoint } from '../../trainer/checkpoint-files.ts';
import { TRAIN_OPTIONS } from '../../trainer/commands/train.ts';
import { trainConfig } from '../../trainer/config.ts';
import {
  dropoutForPasses,
  lrForWidth,
  weightDropForPasses,
  parameterCount,
  SIZED_OPTIONS,
  SIZING_RULE,
  sizeRun,
  type ProbeShape,
  type SizingRequest,
} from '../../trainer/sizing.ts';
import { train } from '../../trainer/train-files.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const parse = (args: string[]) => trainConfig(parseOptions(TRAIN_OPTIONS, args).values);

/** A machine whose tokens/s fall with the parameters, and a clock that the probes advance by `probeSeconds` each. */
function fakeMachine(tokensPerSecondAt256: number, probeSeconds = 1) {
  let clock = 0;
  const probed: ProbeShape[] = [];
  const p256 = parameterCount('lstm', 2, 256, 80);
  return {
    probed,
    request: (over: Partial<SizingRequest>): SizingRequest => ({
      cell: 'lstm',
      vocabSize: 80,
      trainChars: 1_000_000,
      budgetSeconds: 600,
      fixed: {},
      measure: async (s) => {
        probed.push(s);
        clock += probeSeconds;
        return (tokensPerSecondAt256 * p256) / parameterCount('lstm', s.numLayers, s.hiddenSize, 80);
      },
      now: () => clock,
      ...over,
    }),
  };
}

describe('the sizing rule (trainer/sizing.ts)', () => {
  it('chooses the widest network the budget trains at the compute-optimal tokens per parameter, and probes no wider', async () => {
    const m = fakeMachine(15_000);
    const c = await sizeRun(m.request({}));
    const k = SIZING_RULE.tokensPerParameter;
    const widths = m.probed.map((p) => p.hiddenSize);
    expect(widths).toEqual(SIZING_RULE.hidden.slice(0, widths.length)); // narrowest first
    // Probing ends at the first width the budget gives fewer than k tokens per parameter.
    const ratio = (h: number) => (c.budgetTokens / c.parameters) * (parameterCount('lstm', 2, c.hiddenSize, 80) / parameterCount('lstm', 2, h, 80)) ** 2;
    expect(ratio(widths.at(-1)!)).toBeLessThan(k * 1.05);
    for (const h of widths.slice(0, -1)) expect(ratio(h)).toBeGreaterThan(k * 0.95);
    // The one taken is the nearest to k by ratio.
    for (const h of widths) expect(Math.abs(Math.log(ratio(h) / k))).toBeGreaterThanOrEqual(Math.abs(Math.log(c.budgetTokens / c.parameters / k)) - 0.01);
    expect(c.probeSeconds).toBe(m.probed.length); // counted in the budget
    expect(c).toMatchObject({ numLayers: SIZING_RULE.layers, batchSize: SIZING_RULE.batchSize, lr: lrForWidth(c.hiddenSize) });
    // A longer budget buys a network at least as wide; a slower machine one at most as wide.
    expect((await sizeRun(fakeMachine(15_000).request({ budgetSeconds: 1800 }))).hiddenSize).toBeGreaterThan(c.hiddenSize);
    expect((await sizeRun(fakeMachine(3_000).request({}))).hiddenSize).toBeLessThan(c.hiddenSize);
    expect(c.reason).toMatch(
      /^sized to 10\.0 min: 2×\d+ LSTM .* tokens per parameter, the nearest of the widths to 20\), batch 32, lr .* passes over 1000000 characters → dropout .*weight decay .*tokens\/s by width: 128 \d+/,
    );
  });

  it('a small text caps the width at maxParametersPerChar parameters per character, however long the budget', async () => {
    const chars = 400_000;
    const m = fakeMachine(15_000);
    const c = await sizeRun(m.request({ trainChars: chars, budgetSeconds: 7200 }));
    expect(c.parameters).toBeLessThanOrEqual(SIZING_RULE.maxParametersPerChar * chars);
    const widths: readonly number[] = SIZING_RULE.hidden;
    const wider = widths[widths.indexOf(c.hiddenSize) + 1];
    expect(parameterCount('lstm', 2, wider, 80)).toBeGreaterThan(SIZING_RULE.maxParametersPerChar * chars);
    expect(m.probed.every((p) => parameterCount('lstm', 2, p.hiddenSize, 80) <= SIZING_RULE.maxParametersPerChar * chars)).toBe(true); // wider ones are not probed
    expect(c.reason).toMatch(/the widest under 2\.5 parameters per character of the text/);
    // A text too small for even the narrowest still gets it; a given width is kept.
    expect((await sizeRun(fakeMachine(15_000).request({ trainChars: 1000 }))).hiddenSize).toBe(SIZING_RULE.hidden[0]);
    expect((await sizeRun(fakeMachine(15_000).request({ trainChars: chars, fixed: { hidden: 1024 } }))).hiddenSize).toBe(1024);
  });

  it('a budget too small for any candidate takes the narrowest', async () => {
    const m = fakeMachine(100);
    const c = await sizeRun(m.request({ budgetSeconds: 5 }));
    expect(c.hiddenSize).toBe(SIZING_RULE.hidden[0]);
    expect(m.probed).toHaveLength(1);
  });

  it('regularises by how often the budget reads the text: none for one pass, more the more passes', async () => {
    expect(dropoutForPasses(1)).toBe(0);
    expect(dropoutForPasses(SIZING_RULE.freePasses)).toBe(0);
    expect(dropoutForPasses(4 * SIZING_RULE.freePasses)).toBeCloseTo(Math.round(2 * SIZING_RULE.dropoutPerDoubling * 20) / 20); // in steps of 0.05
    expect(dropoutForPasses(1e9)).toBe(SIZING_RULE.maxDropout);
    // The recurrent weights are dropped only past weightDropPasses, then per doubling.
    expect(weightDropForPasses(SIZING_RULE.weightDropPasses)).toBe(0);
    expect(weightDropForPasses(2 * SIZING_RULE.weightDropPasses)).toBeCloseTo(Math.round(SIZING_RULE.weightDropPerDoubling * 20) / 20);
    expect(weightDropForPasses(1e9)).toBe(SIZING_RULE.maxWeightDrop);
    // The measured War of the Worlds runs: 10 minutes, 31 passes estimated → dropout 0.2, no weight drop; 30 minutes, 102.5 → 0.2 and 0.3.
    expect([dropoutForPasses(31), weightDropForPasses(31)]).toEqual([0.2, 0]);
    expect([dropoutForPasses(102.5), weightDropForPasses(102.5)]).toEqual([0.2, 0.3]);
    const big = await sizeRun(fakeMachine(15_000).request({ trainChars: 50_000_000 }));
    expect(big).toMatchObject({ dropout: 0, outputDropout: 0, weightDrop: 0, weightDecay: 0 });
    const small = await sizeRun(fakeMachine(15_000).request({ trainChars: 100_000 }));
    expect(small.passes).toBeGreaterThan(SIZING_RULE.decayPasses);
    expect(small.dropout).toBe(dropoutForPasses(small.passes));
    expect(small.outputDropout).toBeGreaterThan(0);
    expect(small.weightDecay).toBe(SIZING_RULE.weightDecay);
    expect(small.weightDrop).toBe(weightDropForPasses(small.passes));
  });

  it('never changes what was given: a given width is the only one probed, given values are kept', async () => {
    const m = fakeMachine(15_000);
    const c = await sizeRun(
      m.request({ trainChars: 100_000, fixed: { hidden: 300, layers: 3, 'batch-size': 8, dropout: 0.05, lr: 0.001, 'weight-decay': 0 } }),
    );
    expect(m.probed).toEqual([{ numLayers: 3, hiddenSize: 300, batchSize: 8 }]);
    expect(c).toMatchObject({ numLayers: 3, hiddenSize: 300, batchSize: 8, dropout: 0.05, lr: 0.001, weightDecay: 0 });
    expect(c.outputDropout).toBeGreaterThan(0); // not given: the rule's
    expect(c.reason).toMatch(/2?3×300 LSTM .*given/);
  });

  it('lr ∝ 1/width, from its value at 256 units, capped', () => {
    expect(lrForWidth(256)).toBe(SIZING_RULE.lrAt256);
    expect(lrForWidth(512)).toBeCloseTo(SIZING_RULE.lrAt256 / 2);
    expect(lrForWidth(192)).toBe(0.0107);
    expect(lrForWidth(64)).toBe(SIZING_RULE.maxLr);
  });
});

describe('--size: which options the rule chooses', () => {
  it('auto with --time-budget: every sizing option not given; explicit flags win', () => {
    expect(parse(['--time-budget', '10']).toSize).toEqual([...SIZED_OPTIONS]);
    const c = parse(['--time-budget', '10', '--hidden', '300', '--dropout', '0.2', '--batch-size', '16']);
    expect(c.toSize).toEqual(['layers', 'lr', 'output-dropout', 'weight-drop', 'weight-decay']);
    expect(c).toMatchObject({ hiddenSize: 300, dropout: 0.2, batchSize: 16 });
    expect(parse(['--time-budget', '10', '--lr-schedule', 'constant']).toSize).not.toContain('lr'); // the rule's lr is for an annealed schedule
  });

  it('fixed: the defaults (and without a budget, or with --preset d2l or --init-from, nothing is sized)', () => {
    expect(parse(['--time-budget', '10', '--size', 'fixed'])).toMatchObject({
      toSize: [],
      numLayers: 2,
      hiddenSize: 256,
      batchSize: 32,
      lr: 0.008,
      dropout: 0,
      outputDropout: 0,
      weightDrop: 0,
      weightDecay: 0,
    });
    expect(parse([]).toSize).toEqual([]);
    expect(parse(['--preset', 'd2l', '--time-budget', '5']).toSize).toEqual([]);
    expect(parse(['--init-from', 'models/x', '--time-budget', '5']).toSize).toEqual([]);
  });

  it('refuses what cannot be sized, in one line', () => {
    expect(() => parse(['--size', 'auto'])).toThrow(/--size auto sizes the network to a time budget: give --time-budget MIN too/);
    expect(() => parse(['--size', 'auto', '--time-budget', '1', '--preset', 'd2l'])).toThrow(/--preset d2l is the book's fixed network/);
    expect(() => parse(['--size', 'auto', '--time-budget', '1', '--init-from', 'm'])).toThrow(/--init-from keeps the model's/);
    expect(() => parse(['--size', 'big'])).toThrow(/--size must be one of auto, fixed/);
  });
});

describe('a sized run', () => {
  let dir = '';
  let corpus = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'deeprnn-sizing-'));
    corpus = join(dir, 'corpus.txt');
    await writeFile(corpus, (await readFile(join(ROOT, 'data/timemachine.txt'), 'utf8')).slice(0, 20_000));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('says what it chose and why, trains it, records the choice in model.json and the checkpoint, and counts the probes in the budget', async () => {
    const lines: string[] = [];
    const out = join(dir, 'sized');
    const config = parse(['--corpus', corpus, '--time-budget', '0.05', '--threads', '1', '--num-steps', '16']);
    let firstWindowAt: number | null = null;
    await train(config, out, { log: (l) => lines.push(l), window: (_e, _i, _n, r) => (firstWindowAt ??= r.elapsedSeconds) });
    expect(lines[0]).toMatch(/^training on native: wasm-/); // the run's first line: the engine the probes measured
    expect(lines[1]).toMatch(/^sized to 0\.0500 min: 2×128 LSTM/);
    const model = await readModelDir(out);
    const sizing = model.training!.sizing as { hiddenSize: number; probes: unknown[]; probeSeconds: number; reason: string };
    expect(sizing.reason).toBe(lines[1]);
    expect(model.arch.hiddenSize).toBe(sizing.hiddenSize);
    expect(sizing.probes.length).toBeGreaterThan(0);
    expect(model.training!.hyperparameters).toMatchObject({
      outputDropout: expect.any(Number),
      weightDrop: expect.any(Number),
      weightDecay: expect.any(Number),
    });
    expect(firstWindowAt!).toBeGreaterThanOrEqual(sizing.probeSeconds); // the budget's clock started with the probes
    const ck = await readCheckpoint(out);
    expect(ck.config).toMatchObject({ toSize: [], hiddenSize: sizing.hiddenSize, sizing: { reason: lines[1] } });
  });
});
