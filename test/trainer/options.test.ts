/**
 * Every option of `deeprnn train` that changes the maths reaches the engine, as the engine sees
 * it: a run on a real engine, watched through a spy that records what the Trainer asks of it —
 * the spec it is built from, the threshold of every clip, the rate of every step, the dropout of
 * every window, when the state is reset, the first weights. Each expectation is computed here
 * from the option's meaning (the schedules' formulas written out, the weights drawn from the seed),
 * so an option dropped or altered on its way fails its test; "perplexity falls" could not see it.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initParams, type Params } from '../../shared/model.ts';
import { loadKernelNode } from '../../shared/platform/node.ts';
import { Rng } from '../../shared/rng.ts';
import { parseOptions } from '../../trainer/argv.ts';
import { TRAIN_OPTIONS } from '../../trainer/commands/train.ts';
import { trainConfig, type TrainConfig } from '../../trainer/config.ts';
import { windowSeed, type Dropout } from '../../trainer/engines/dropout.ts';
import type { Engine, EngineSpec } from '../../trainer/engines/engine.ts';
import { NativeEngine } from '../../trainer/engines/native.ts';
import { train } from '../../trainer/train-files.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
let dir = '';
let corpus = '';
let runs = 0;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'deeprnn-options-'));
  corpus = join(dir, 'corpus.txt');
  await writeFile(corpus, (await readFile(join(ROOT, 'data/timemachine.txt'), 'utf8')).slice(0, 3000));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** What the Trainer asked of its engine. */
interface Seen {
  spec: EngineSpec;
  first: Params;
  windows: { tokens: number; dropout: Dropout | undefined }[];
  clips: number[];
  lrs: number[];
  /** Window index (0-based, over the run) before which the state was reset. */
  resets: number[];
}

/** Train with these options on a real native engine, watched; the config as the CLI made it. */
async function watch(args: string[]): Promise<{ seen: Seen; config: TrainConfig }> {
  const config = trainConfig(
    parseOptions(TRAIN_OPTIONS, ['--corpus', corpus, '--hidden', '8', '--layers', '2', '--threads', '1', '--val-fraction', '0', '--epochs', '2', ...args])
      .values,
  );
  const kernel = await loadKernelNode('simd');
  let seen: Seen | null = null;
  const makeEngine = async (spec: EngineSpec): Promise<Engine> => {
    const real = new NativeEngine(kernel, spec);
    const s: Seen = { spec, first: {}, windows: [], clips: [], lrs: [], resets: [] };
    seen = s;
    const spy: Engine = Object.create(real) as Engine;
    Object.assign(spy, {
      setParams: (p: Params) => {
        if (Object.keys(s.first).length === 0) s.first = Object.fromEntries(Object.entries(p).map(([k, v]) => [k, v.slice()]));
        real.setParams(p);
      },
      resetState: () => {
        s.resets.push(s.windows.length);
        real.resetState();
      },
      forwardBackward: (x: Int32Array, y: Int32Array, d?: Dropout) => {
        s.windows.push({ tokens: x.length, dropout: d && { ...d } });
        return real.forwardBackward(x, y, d);
      },
      clipGradients: (theta: number) => {
        s.clips.push(theta);
        return real.clipGradients(theta);
      },
      step: (lr: number) => {
        s.lrs.push(lr);
        real.step(lr);
      },
    });
    return spy;
  };
  await train(config, join(dir, `run-${runs++}`), { log: () => {} }, null, { makeEngine });
  return { seen: seen!, config };
}

describe('every training option reaches the engine', () => {
  it('--clip: every window is clipped at exactly that threshold', async () => {
    const { seen } = await watch(['--clip', '0.37', '--batch-size', '4', '--num-steps', '8']);
    expect(seen.clips.length).toBeGreaterThan(10);
    expect(new Set(seen.clips)).toEqual(new Set([0.37]));
  });

  it('--batch-size and --num-steps: the engine is built for them and every window holds B × T tokens', async () => {
    const { seen } = await watch(['--batch-size', '3', '--num-steps', '7']);
    expect(seen.spec).toMatchObject({ batchSize: 3, numSteps: 7 });
    expect(new Set(seen.windows.map((w) => w.tokens))).toEqual(new Set([21]));
  });

  it('--optimizer and --weight-decay: the engine gets them (AdamW), not the defaults', async () => {
    const adamw = await watch(['--optimizer', 'adam', '--weight-decay', '0.125', '--batch-size', '4', '--num-steps', '8']);
    expect(adamw.seen.spec.optimizer).toEqual({ name: 'adam', weightDecay: 0.125 });
    const sgd = await watch(['--optimizer', 'sgd', '--batch-size', '4', '--num-steps', '8']);
    expect(sgd.seen.spec.optimizer).toEqual({ name: 'sgd', weightDecay: 0 });
  });

  it('--lr with each schedule: every step at the rate the schedule gives for its place in the run', async () => {
    const FLOOR = 0.02;
    const cosine = (x: number) => FLOOR + (1 - FLOOR) * 0.5 * (1 + Math.cos(Math.PI * x));
    const schedules: Record<string, (p: number) => number> = {
      constant: () => 1,
      cosine,
      // warmup to 2% of the run from a tenth of the rate, stable to 60%, then the cosine's decay
      wsd: (p) => (p < 0.02 ? 0.1 + 0.9 * (p / 0.02) : p < 0.6 ? 1 : cosine((p - 0.6) / 0.4)),
    };
    for (const [name, f] of Object.entries(schedules)) {
      const { seen } = await watch(['--lr', '0.05', '--lr-schedule', name, '--batch-size', '4', '--num-steps', '8']);
      const perEpoch = seen.lrs.length / 2;
      expect(Number.isInteger(perEpoch)).toBe(true);
      seen.lrs.forEach((lr, i) => {
        const progress = (Math.floor(i / perEpoch) + (i % perEpoch) / perEpoch) / 2;
        expect(lr, `${name}, step ${i + 1}`).toBeCloseTo(0.05 * f(progress), 12);
      });
      if (name !== 'constant') expect(new Set(seen.lrs).size).toBeGreaterThan(10); // it does move
    }
  });

  it('--dropout, --output-dropout and --weight-drop: every window drops with exactly them, from the seed of (run, epoch, window)', async () => {
    const { seen } = await watch([
      '--dropout',
      '0.3',
      '--output-dropout',
      '0.2',
      '--weight-drop',
      '0.15',
      '--seed',
      '7',
      '--batch-size',
      '4',
      '--num-steps',
      '8',
    ]);
    expect(seen.spec.weightDrop).toBe(true);
    const perEpoch = seen.windows.length / 2;
    seen.windows.forEach((w, i) => {
      const epoch = Math.floor(i / perEpoch) + 1;
      expect(w.dropout).toEqual({ p: 0.3, output: 0.2, recurrent: 0.15, seed: windowSeed(7, epoch, i % perEpoch) });
    });
  });

  it('--seed: the first weights are drawn from it (and another seed draws others)', async () => {
    const a = await watch(['--seed', '11', '--batch-size', '4', '--num-steps', '8', '--epochs', '1']);
    const rng = new Rng(11);
    const expected = initParams(a.seen.spec.arch, () => rng.uniform());
    expect(a.seen.first).toEqual(expected);
    const b = await watch(['--seed', '12', '--batch-size', '4', '--num-steps', '8', '--epochs', '1']);
    expect(b.seen.first).not.toEqual(expected);
  });

  it('--iterator: sequential windows carry the state within an epoch (one reset each), random windows each start from zeros', async () => {
    const seq = await watch(['--iterator', 'sequential', '--batch-size', '4', '--num-steps', '8']);
    const perEpoch = seq.seen.windows.length / 2;
    expect(seq.seen.resets).toEqual([0, perEpoch]);
    const rnd = await watch(['--iterator', 'random', '--batch-size', '4', '--num-steps', '8']);
    const windows = rnd.seen.windows.length;
    // A reset before every window (and the epoch's own before its first).
    for (let w = 0; w < windows; w++) expect(rnd.seen.resets.filter((r) => r === w).length).toBeGreaterThanOrEqual(1);
  });
});
