import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeeprnnError, OptionError } from '../../shared/errors.ts';
import { readModelDir } from '../../shared/platform/node.ts';
import { CHECKPOINT_FILE, readCheckpoint, type EpochRecord } from '../../trainer/checkpoint.ts';
import { trainConfig } from '../../trainer/commands/train.ts';
import type { TrainConfig } from '../../trainer/config.ts';
import { createEngine } from '../../trainer/engines/index.ts';
import { parseCommand } from '../../trainer/options.ts';
import { METRICS_FILE, PLOT_FILE, train, type TrainHooks } from '../../trainer/train.ts';
import { main } from '../../trainer/cli.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
let dir = '';
let corpusFile = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'deeprnn-train-'));
  corpusFile = join(dir, 'corpus.txt');
  const text = await readFile(join(ROOT, 'data/timemachine.txt'), 'utf8');
  await writeFile(corpusFile, text.slice(0, 8000));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

function small(over: Partial<TrainConfig> = {}): TrainConfig {
  const values = parseCommand(['--corpus', corpusFile, '--hidden', '16', '--batch-size', '4', '--num-steps', '8', '--epochs', '4', '--engine', 'native', '--threads', '1'], {
    corpus: { type: 'string', multiple: true }, hidden: { type: 'string' }, 'batch-size': { type: 'string' }, 'num-steps': { type: 'string' }, epochs: { type: 'string' }, engine: { type: 'string' }, threads: { type: 'string' },
  }).values;
  return { ...trainConfig(values), ...over };
}
const quiet: TrainHooks = { log: () => {} };
const out = async (name: string) => join(await mkdtemp(join(dir, `${name}-`)), 'model');

describe('deeprnn train options', () => {
  const parse = (args: string[]) => trainConfig(parseCommand(args, Object.fromEntries(
    ['preset', 'corpus', 'max-tokens', 'val-fraction', 'cell', 'layers', 'hidden', 'batch-size', 'num-steps', 'optimizer', 'lr', 'clip', 'dropout', 'epochs', 'iterator', 'seed', 'engine', 'threads', 'time-budget', 'preprocessing'].map((k) => [k, { type: 'string' as const, ...(k === 'corpus' ? { multiple: true } : {}) }]),
  )).values);

  it('--preset d2l is the reference run', () => {
    expect(parse(['--preset', 'd2l'])).toMatchObject({ corpus: ['data/timemachine.txt'], preprocessing: 'd2l', maxTokens: 10000, valFraction: 0, cell: 'lstm', numLayers: 2, hiddenSize: 256, batchSize: 32, numSteps: 35, optimizer: 'sgd', lr: 2, clip: 1, dropout: 0, epochs: 500, iterator: 'sequential' });
    expect(parse(['--preset', 'd2l', '--cell', 'gru', '--epochs', '5']).cell).toBe('gru');
    expect(parse([]).maxTokens).toBe(0);
    expect(parse(['--optimizer', 'adam']).lr).toBe(0.002);
  });

  it('rejects every bad value with a message naming the option', () => {
    const bad: [string[], RegExp][] = [
      [['--preset', 'pytorch'], /--preset must be one of d2l/],
      [['--max-tokens', '-5'], /--max-tokens/],
      [['--val-fraction', '0.9'], /--val-fraction must be a number in \[0, 0.5\]/],
      [['--cell', 'transformer'], /--cell must be one of lstm, gru, rnn/],
      [['--layers', '0'], /--layers/],
      [['--hidden', '1.5'], /--hidden must be a whole number/],
      [['--batch-size', 'many'], /--batch-size/],
      [['--num-steps', '0'], /--num-steps/],
      [['--optimizer', 'rmsprop'], /--optimizer/],
      [['--lr', '0'], /--lr/],
      [['--clip', '-1'], /--clip/],
      [['--dropout', '1'], /--dropout must be a number in \[0, 1\)/],
      [['--epochs', '0'], /--epochs/],
      [['--iterator', 'shuffled'], /--iterator/],
      [['--seed', '4294967296'], /--seed/],
      [['--engine', 'cuda'], /--engine must be one of auto, native/],
      [['--threads', '3'], /--threads/],
      [['--time-budget', '0'], /--time-budget/],
      [['--preprocessing', 'lower'], /--preprocessing/],
    ];
    for (const [args, message] of bad) expect(() => parse(args), args.join(' ')).toThrow(message);
  });

  it('--resume takes no other option; --out is required', async () => {
    let err = '';
    expect(await main(['train', '--resume', dir, '--epochs', '3'], () => {}, (s) => (err += s))).toBe(2);
    expect(err).toMatch(/--resume takes the run's own options from its checkpoint; drop --epochs/);
    expect(await main(['train', '--epochs', '3'], () => {}, (s) => (err = s))).toBe(2);
    expect(err).toMatch(/--out DIR is required/);
    expect(await main(['train', '--resume', join(dir, 'nothing')], () => {}, (s) => (err = s))).toBe(1);
    expect(err).toMatch(/checkpoint\.bin does not exist/);
  });
});

describe('train_ch8', () => {
  it('lowers the loss, reports validation perplexity, writes metrics, plot and a loadable artifact', async () => {
    const o = await out('falls');
    const epochs: EpochRecord[] = [];
    const r = await train(small({ epochs: 12, optimizer: 'adam', lr: 0.01, valFraction: 0.2 }), o, { log: () => {}, epoch: (e) => epochs.push(e) });
    expect(epochs.length).toBe(12);
    expect(epochs[11].perplexity).toBeLessThan(epochs[0].perplexity * 0.75);
    expect(epochs.every((e) => e.validationPerplexity !== null && e.validationPerplexity > 1)).toBe(true);
    const metrics = (await readFile(join(o, METRICS_FILE), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(metrics.map((m) => m.epoch)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(Object.keys(metrics[0]).sort()).toEqual(['elapsedSeconds', 'epoch', 'perplexity', 'tokensPerSecond', 'validationPerplexity']);
    const svg = await readFile(join(o, PLOT_FILE), 'utf8');
    expect(svg).toMatch(/^<svg/);
    expect(svg).toContain('validation');
    const model = await readModelDir(o);
    expect(model.training?.engine).toBe('native');
    const best = Math.min(...epochs.map((e) => e.validationPerplexity!));
    expect(model.training?.validationPerplexity).toBeCloseTo(best, 3); // the best epoch is kept
    expect(model.training?.hyperparameters).toMatchObject({ optimizer: 'adam', lr: 0.01, batchSize: 4, numSteps: 8 });
    expect(r.model.vocab.size).toBe(model.vocab.size);
  });

  it('runs the same loop on the tfjs engine (cpu backend)', async () => {
    const epochs: EpochRecord[] = [];
    const r = await train(small({ engine: 'tfjs-cpu', hiddenSize: 8, maxTokens: 1200, epochs: 2, optimizer: 'adam', lr: 0.01 }), await out('tfjs'), { log: () => {}, epoch: (e) => epochs.push(e) });
    expect(r.model.training?.engine).toBe('tfjs');
    expect(r.model.training?.backend).toBe('tfjs-cpu');
    expect(epochs[1].perplexity).toBeLessThan(epochs[0].perplexity);
  });

  it('same seed, same engine → same weights; another seed → other weights', async () => {
    const a = await train(small({ epochs: 2 }), await out('seed-a'), quiet);
    const b = await train(small({ epochs: 2 }), await out('seed-b'), quiet);
    const c = await train(small({ epochs: 2, seed: 1 }), await out('seed-c'), quiet);
    expect(b.model.params).toEqual(a.model.params);
    expect(c.model.params['linear.bias']).not.toEqual(a.model.params['linear.bias']);
  });

  for (const [iterator, optimizer, dropout] of [['sequential', 'adam', 0.3], ['random', 'sgd', 0]] as const) {
    it(`resumes a run killed mid-epoch to the same result (${iterator} iterator, ${optimizer}, dropout ${dropout})`, async () => {
      const config = small({ epochs: 4, iterator, optimizer, lr: optimizer === 'adam' ? 0.01 : 1, dropout });
      const whole = await train(config, await out('whole'), quiet);
      const o = await out('killed');
      let windows = 0;
      const kill: TrainHooks = {
        log: () => {},
        window: (epoch) => {
          if (epoch === 3 && ++windows === 2) throw new Error('killed');
        },
      };
      await expect(train(config, o, kill)).rejects.toThrow('killed');
      const ck = await readCheckpoint(o);
      expect(ck.epoch).toBe(2);
      const resumed = await train(ck.config, o, quiet, ck);
      expect(resumed.model.params).toEqual(whole.model.params);
      const metrics = (await readFile(join(o, METRICS_FILE), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as EpochRecord);
      expect(metrics.map((m) => m.epoch)).toEqual([1, 2, 3, 4]);
      expect(metrics[3].perplexity).toBe(whole.last.perplexity);
    });
  }

  it('stops on a NaN loss with a clear error and keeps the last good checkpoint', async () => {
    const o = await out('nan');
    let epoch = 0;
    const faulty: typeof createEngine = async (...args) => {
      const engine = await createEngine(...args);
      const real = engine.forwardBackward.bind(engine);
      engine.forwardBackward = async (x, y) => (epoch === 3 ? NaN : real(x, y));
      return engine;
    };
    const run = train(small({ epochs: 5 }), o, { log: () => {}, window: (e) => (epoch = e) , epoch: (r) => (epoch = r.epoch + 1) }, null, faulty);
    const error = await run.then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(DeeprnnError);
    expect((error as DeeprnnError).code).toBe('diverged');
    expect((error as Error).message).toMatch(/loss became NaN at epoch 3, window 1: training diverged .* last good checkpoint \(epoch 2\)/);
    expect((await readCheckpoint(o)).epoch).toBe(2);
    expect(existsSync(join(o, 'model.json'))).toBe(false);
  });

  it('refuses a damaged checkpoint', async () => {
    const o = await out('damaged');
    await train(small({ epochs: 1 }), o, quiet);
    const bytes = await readFile(join(o, CHECKPOINT_FILE));
    bytes[bytes.length - 3] ^= 0xff;
    await writeFile(join(o, CHECKPOINT_FILE), bytes);
    await expect(readCheckpoint(o)).rejects.toThrow(/damaged \(SHA-256 mismatch\)/);
  });

  it('refuses a corpus too small for a window, and a missing corpus file', async () => {
    await expect(train(small({ batchSize: 128, numSteps: 100 }), await out('tiny'), quiet)).rejects.toThrow(OptionError);
    await expect(train(small({ corpus: [join(dir, 'missing.txt')] }), await out('missing'), quiet)).rejects.toThrow(/missing\.txt cannot be read/);
  });
});

describe('deeprnn train / export from the command line', () => {
  it('--json prints one JSON object per epoch; export --dtype float16 halves the weights and keeps the text', async () => {
    const o = await out('cli');
    const lines: string[] = [];
    const code = await main(['train', '--corpus', corpusFile, '--hidden', '16', '--batch-size', '4', '--num-steps', '8', '--epochs', '3', '--engine', 'native', '--out', o, '--json'], (s) => lines.push(s), () => {});
    expect(code).toBe(0);
    expect(lines.map((l) => JSON.parse(l).epoch)).toEqual([1, 2, 3]);
    const o16 = `${o}-f16`;
    expect(await main(['export', '--model', o, '--dtype', 'float16', '--out', o16], () => {}, () => {})).toBe(0);
    const [a, b] = [await readFile(join(o, 'weights.bin')), await readFile(join(o16, 'weights.bin'))];
    expect(b.length * 2).toBe(a.length);
    const g = (m: string) => main(['generate', '--model', m, '--prefix', 'the time', '--num-chars', '30'], (s) => lines.push(s), () => {});
    await g(o);
    await g(o16);
    expect(lines[lines.length - 1]).toBe(lines[lines.length - 2]);
  });

  it('a run killed with SIGKILL resumes from its checkpoint and ends where an uninterrupted run ends', async () => {
    const args = ['--corpus', corpusFile, '--hidden', '24', '--batch-size', '4', '--num-steps', '8', '--epochs', '40', '--engine', 'native', '--threads', '1', '--optimizer', 'adam', '--lr', '0.005'];
    const whole = await out('sigkill-whole');
    expect(await main(['train', ...args, '--out', whole], () => {}, () => {})).toBe(0);
    const killed = await out('sigkill');
    const child = spawn(process.execPath, [join(ROOT, 'bin/deeprnn.js'), 'train', ...args, '--out', killed], { stdio: 'ignore' });
    const started = Date.now();
    while (!existsSync(join(killed, CHECKPOINT_FILE)) && Date.now() - started < 60_000) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 150));
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    const ck = await readCheckpoint(killed);
    expect(ck.epoch).toBeLessThan(40); // it really was interrupted
    expect(await main(['train', '--resume', killed], () => {}, () => {})).toBe(0);
    expect(await readFile(join(killed, 'weights.bin'))).toEqual(await readFile(join(whole, 'weights.bin')));
  });
});
