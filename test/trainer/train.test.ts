import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeeprnnError, OptionError } from '../../shared/errors.ts';
import { readModelDir } from '../../shared/platform/node.ts';
import { CHECKPOINT_FILE, type EpochRecord } from '../../trainer/checkpoint.ts';
import { readCheckpoint } from '../../trainer/checkpoint-files.ts';
import { TRAIN_OPTIONS } from '../../trainer/commands/train.ts';
import { learningRate, trainConfig, type TrainConfig } from '../../trainer/config.ts';
import { createEngine } from '../../trainer/engines/index.ts';
import { parseOptions } from '../../trainer/argv.ts';
import { LOCK_FILE, permissions, removeAbandoned } from '../../trainer/outdir.ts';
import { METRICS_FILE, PLOT_FILE, train } from '../../trainer/train-files.ts';
import { type TrainHooks, validationDue } from '../../trainer/train.ts';
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

const SMALL = [
  '--hidden',
  '16',
  '--batch-size',
  '4',
  '--num-steps',
  '8',
  '--epochs',
  '4',
  '--engine',
  'native',
  '--threads',
  '1',
  '--preprocessing',
  'd2l',
  '--optimizer',
  'sgd',
  '--val-fraction',
  '0',
];
function small(over: Partial<TrainConfig> = {}): TrainConfig {
  return { ...trainConfig(parseOptions(TRAIN_OPTIONS, ['--corpus', corpusFile, ...SMALL]).values), ...over };
}
const quiet: TrainHooks = { log: () => {} };
const out = async (name: string) => join(await mkdtemp(join(dir, `${name}-`)), 'model');
async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let o = '';
  let e = '';
  const code = await main(
    args,
    (s) => (o += s + '\n'),
    (s) => (e += s + '\n'),
  );
  return { code, out: o, err: e };
}

describe('deeprnn train options: one table', () => {
  const parse = (args: string[]) => trainConfig(parseOptions(TRAIN_OPTIONS, args).values);

  it('--preset d2l is the reference run; without it, defaults suit your own text', () => {
    expect(parse(['--preset', 'd2l'])).toMatchObject({
      corpus: ['data/timemachine.txt'],
      preprocessing: 'd2l',
      maxTokens: 10000,
      valFraction: 0,
      cell: 'lstm',
      numLayers: 2,
      hiddenSize: 256,
      batchSize: 32,
      numSteps: 35,
      optimizer: 'sgd',
      lr: 2,
      clip: 1,
      dropout: 0,
      epochs: 500,
      iterator: 'sequential',
      lrSchedule: 'constant',
      predictPrefix: 'time traveller',
    });
    expect(parse(['--preset', 'd2l', '--cell', 'gru', '--epochs', '5'])).toMatchObject({ cell: 'gru', epochs: 5, optimizer: 'sgd' });
    expect(parse([])).toMatchObject({ preprocessing: 'raw', maxTokens: 0, valFraction: 0.1, optimizer: 'adam', lr: 0.002, epochs: 50, lrSchedule: 'constant' });
    expect(parse(['--optimizer', 'sgd']).lr).toBe(2);
    expect(parse(['--time-budget', '10'])).toMatchObject({ timeBudgetMinutes: 10, lrSchedule: 'wsd', lr: 0.008, epochs: 1_000_000 });
    expect(parse(['--time-budget', '10', '--lr-schedule', 'constant'])).toMatchObject({ lrSchedule: 'constant', lr: 0.002 });
  });

  it('rejects every bad value with a message naming the option, and names the option a typo meant', () => {
    const bad: [string[], RegExp][] = [
      [['--preset', 'pytorch'], /--preset must be one of d2l/],
      [['--max-tokens', '-5'], /--max-tokens/],
      [['--val-fraction', '0.9'], /--val-fraction must be a number in \[0, 0\.5\]/],
      [['--cell', 'transformer'], /--cell must be one of lstm, gru, rnn/],
      [['--layers', '0'], /--layers must be in \[1, 16\]/],
      [['--hidden', '1.5'], /--hidden must be a whole number/],
      [['--batch-size', 'many'], /--batch-size/],
      [['--num-steps', '0'], /--num-steps/],
      [['--optimizer', 'rmsprop'], /--optimizer/],
      [['--lr', '0'], /--lr must be a number in \(0, 100\]/],
      [['--lr-schedule', 'linear'], /--lr-schedule must be one of constant, cosine/],
      [['--clip', '-1'], /--clip/],
      [['--dropout', '1'], /--dropout/],
      [['--weight-drop', '1'], /--weight-drop must be a number in \[0, 0\.95\]/],
      [['--epochs', '0'], /--epochs/],
      // Negative numbers reach the option's own check, as typed: one line with the range.
      [['--epochs', '-2'], /^--epochs must be in \[1, 1000000\], got -2$/],
      [['--hidden', '-5'], /^--hidden must be in \[1, 4096\], got -5$/],
      [['--time-budget', '-1'], /^--time-budget must be a number in \(0, ∞\], got "-1"$/],
      [['--lr', '-.5'], /^--lr must be a number in \(0, 100\], got "-\.5"$/],
      [['--iterator', 'shuffled'], /--iterator/],
      [['--seed', '4294967296'], /--seed/],
      [['--engine', 'cuda'], /--engine must be one of auto, native/],
      [['--threads', '999'], /--threads must be in \[1, \d+\]/],
      [['--time-budget', '0'], /--time-budget/],
      [['--preprocessing', 'lower'], /--preprocessing/],
      [['--epoch', '3'], /^unknown option --epoch; did you mean --epochs\?$/],
      [['--layers'], /--layers.*argument missing|--layers takes a value/],
    ];
    for (const [args, message] of bad) expect(() => parse(args), args.join(' ')).toThrow(message);
  });

  it('the help lists every option from the table', async () => {
    const r = await cli(['train', '--help']);
    for (const name of Object.keys(TRAIN_OPTIONS)) expect(r.out).toContain(`--${name}`);
  });

  it('the schedules: cosine decays from lr to 2% of it; wsd warms up, holds, and decays over the last 40%', () => {
    const c = { lr: 0.01, lrSchedule: 'cosine' as const };
    expect(learningRate(c, 0)).toBeCloseTo(0.01, 12);
    expect(learningRate(c, 0.5)).toBeCloseTo(0.01 * (0.02 + 0.49), 12);
    expect(learningRate(c, 1)).toBeCloseTo(0.0002, 12);
    const w = { lr: 0.01, lrSchedule: 'wsd' as const };
    expect(learningRate(w, 0)).toBeCloseTo(0.001, 12);
    expect(learningRate(w, 0.01)).toBeCloseTo(0.0055, 12);
    expect(learningRate(w, 0.3)).toBe(0.01);
    expect(learningRate(w, 0.6)).toBe(0.01);
    expect(learningRate(w, 0.8)).toBeCloseTo(0.01 * (0.02 + 0.49), 12);
    expect(learningRate(w, 1)).toBeCloseTo(0.0002, 12);
    expect(learningRate({ lr: 0.01, lrSchedule: 'constant' }, 0.7)).toBe(0.01);
  });

  it('--resume takes only --epochs, --time-budget and --json; --out is required', async () => {
    let r = await cli(['train', '--resume', dir, '--cell', 'gru']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--resume takes the run's own options from its checkpoint; drop --cell/);
    expect((await cli(['train', '--epochs', '3'])).err).toMatch(/--out DIR is required/);
    r = await cli(['train', '--resume', join(dir, 'nothing')]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/checkpoint\.bin does not exist/);
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
    const metrics = (await readFile(join(o, METRICS_FILE), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(metrics.map((m) => m.epoch)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(Object.keys(metrics[0]).sort()).toEqual(['elapsedSeconds', 'epoch', 'lr', 'perplexity', 'tokensPerSecond', 'validationPerplexity']);
    const svg = await readFile(join(o, PLOT_FILE), 'utf8');
    expect(svg).toMatch(/^<svg/);
    expect(svg).toContain('validation');
    const model = await readModelDir(o);
    expect(model.training?.engine).toBe('native');
    const best = Math.min(...epochs.map((e) => e.validationPerplexity!));
    expect(model.training?.validationPerplexity).toBeCloseTo(best, 3); // the best epoch is kept
    expect(model.training?.hyperparameters).toMatchObject({ optimizer: 'adam', lr: 0.01, batchSize: 4, numSteps: 8 });
    expect(typeof model.training?.samplePrefix).toBe('string');
    expect(r.model.vocab.size).toBe(model.vocab.size);
    expect(r.stopped).toBe('completed');
  });

  it('runs the same loop on the tfjs engine (cpu backend)', async () => {
    const epochs: EpochRecord[] = [];
    const r = await train(small({ engine: 'tfjs-cpu', hiddenSize: 8, maxTokens: 1200, epochs: 2, optimizer: 'adam', lr: 0.01 }), await out('tfjs'), {
      log: () => {},
      epoch: (e) => epochs.push(e),
    });
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

  for (const [iterator, optimizer, dropout, threads] of [
    ['sequential', 'adam', 0.3, 2],
    ['random', 'sgd', 0, 1],
  ] as const) {
    it(`resumes a run stopped mid-epoch to the same result (${iterator} iterator, ${optimizer}, dropout ${dropout}${dropout ? ' and weight drop' : ''}, ${threads} thread${threads > 1 ? 's' : ''})`, async () => {
      const config = small({ epochs: 4, iterator, optimizer, lr: optimizer === 'adam' ? 0.01 : 1, dropout, weightDrop: dropout, threads, valFraction: 0.1 });
      const whole = await train(config, await out('whole'), quiet);
      const o = await out('stopped');
      const stop = new AbortController();
      let windows = 0;
      const r = await train(config, o, { log: () => {}, window: (epoch) => epoch === 3 && ++windows === 2 && stop.abort() }, null, { signal: stop.signal });
      expect(r.stopped).toBe('interrupted');
      expect(existsSync(join(o, 'model.json'))).toBe(true); // a usable model from the best weights so far
      const ck = await readCheckpoint(o);
      expect(ck.position).toMatchObject({ epoch: 2, window: 2 });
      const resumed = await train(ck.config, o, quiet, ck);
      expect(resumed.model.params).toEqual(whole.model.params);
      const metrics = (await readFile(join(o, METRICS_FILE), 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as EpochRecord);
      expect(metrics.map((m) => m.epoch)).toEqual([1, 2, 3, 4]);
      expect(metrics[3].perplexity).toBe(whole.last.perplexity);
    });
  }

  it('extends a finished run to more epochs, exactly as if it had asked for them at the start', async () => {
    const ten = await train(small({ epochs: 6 }), await out('six'), quiet);
    const o = await out('extended');
    await train(small({ epochs: 4 }), o, quiet);
    expect((await cli(['train', '--resume', o, '--epochs', '6'])).code).toBe(0);
    expect((await readModelDir(o)).params).toEqual(ten.model.params);
    const r = await cli(['train', '--resume', o, '--epochs', '3']);
    expect(r.err).toMatch(/--epochs 3: the run has already completed 6 epochs/);
  });

  it('stops at the time budget inside an epoch, validates, and writes the model', async () => {
    const o = await out('budget');
    const t0 = performance.now();
    const r = await train(small({ epochs: 1000, timeBudgetMinutes: 0.02, valFraction: 0.1, lrSchedule: 'wsd', optimizer: 'adam', lr: 0.01 }), o, quiet);
    expect(r.stopped).toBe('time-budget');
    expect(performance.now() - t0).toBeLessThan(20_000);
    const model = await readModelDir(o);
    expect(model.training?.stoppedBy).toBe('time-budget');
    expect(model.training?.validationPerplexity).toBeGreaterThan(1);
    const metrics = (await readFile(join(o, METRICS_FILE), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as EpochRecord);
    expect(metrics.at(-1)!.lr!).toBeLessThan(0.005); // the schedule ran down with the budget
    expect(metrics.at(-1)!.validationPerplexity).not.toBeNull(); // the last record is always validated
  });

  it('when the budget runs out between epochs, the run still ends on a validated record', async () => {
    // The epoch hook runs after an epoch was recorded (unvalidated: validation is not yet due)
    // and before the run decides whether to go on; spending the budget there is the race that
    // once left the last record without a validation perplexity.
    const o = await out('budget-between');
    const budgetMs = 0.01 * 60_000;
    const start = performance.now();
    const r = await train(small({ epochs: 1000, timeBudgetMinutes: 0.01, valFraction: 0.1 }), o, {
      log: () => {},
      epoch: (rec) => {
        if (rec.epoch === 1) while (performance.now() - start < budgetMs + 50);
      },
    });
    expect(r.stopped).toBe('time-budget');
    const metrics = (await readFile(join(o, METRICS_FILE), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as EpochRecord);
    expect(metrics.at(-1)!.validationPerplexity).not.toBeNull();
  });

  it('under a budget, validates again only when the last validation cost at most 5% of the time since', () => {
    expect(validationDue({ sinceSeconds: 20, lastSeconds: 1, heldOutChars: 0 })).toBe(true);
    expect(validationDue({ sinceSeconds: 19, lastSeconds: 1, heldOutChars: 0 })).toBe(false);
    // before any validation: 60 µs per held-out character (100,000 → 6 s → due after 120 s)
    expect(validationDue({ sinceSeconds: 119, lastSeconds: null, heldOutChars: 100_000 })).toBe(false);
    expect(validationDue({ sinceSeconds: 121, lastSeconds: null, heldOutChars: 100_000 })).toBe(true);
  });

  it('stops on a NaN loss, and on an infinite perplexity, with a clear error, keeping the last good checkpoint', async () => {
    for (const [fault, message] of [
      [NaN, /loss became NaN at epoch 3, window 1: training diverged/],
      [1e6, /perplexity became infinite .* at epoch 3, window 1/],
    ] as const) {
      const o = await out('diverge');
      let epoch = 0;
      const faulty: typeof createEngine = async (spec) => {
        const engine = await createEngine(spec);
        const real = engine.forwardBackward.bind(engine);
        engine.forwardBackward = async (x, y, d) => (epoch === 3 ? fault : real(x, y, d));
        return engine;
      };
      const error = await train(small({ epochs: 5 }), o, { log: () => {}, window: (e) => (epoch = e), epoch: (r) => (epoch = r.epoch + 1) }, null, {
        makeEngine: faulty,
      }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(DeeprnnError);
      expect((error as DeeprnnError).code).toBe('diverged');
      expect((error as Error).message).toMatch(message);
      expect((await readCheckpoint(o)).position.epoch).toBe(2);
      expect(existsSync(join(o, 'model.json'))).toBe(false);
    }
  });

  it('refuses a damaged checkpoint, an edited header, and an old-format checkpoint', async () => {
    const o = await out('damaged');
    await train(small({ epochs: 1 }), o, quiet);
    const bytes = await readFile(join(o, CHECKPOINT_FILE));
    const flipped = bytes.slice();
    flipped[flipped.length - 3] ^= 0xff;
    await writeFile(join(o, CHECKPOINT_FILE), flipped);
    await expect(readCheckpoint(o)).rejects.toThrow(/damaged \(SHA-256 mismatch\)/);
    const text = Buffer.from(bytes).toString('latin1');
    await writeFile(join(o, CHECKPOINT_FILE), Buffer.from(text.replace('"epochs":1,', '"epochs":9,'), 'latin1'));
    await expect(readCheckpoint(o)).rejects.toThrow(/damaged \(SHA-256 mismatch\)/);
    await writeFile(join(o, CHECKPOINT_FILE), Buffer.from('DEEPRNN-CKPT\n' + text.slice('DEEPRNN-CKPT2\n'.length), 'latin1'));
    await expect(readCheckpoint(o)).rejects.toThrow(/older deeprnn/);
  });

  it('refuses a corpus too small for a window, and a missing corpus file', async () => {
    await expect(train(small({ batchSize: 128, numSteps: 100 }), await out('tiny'), quiet)).rejects.toThrow(OptionError);
    await expect(train(small({ corpus: [join(dir, 'missing.txt')] }), await out('missing'), quiet)).rejects.toThrow(
      /missing\.txt cannot be read: it does not exist/,
    );
  });
});

describe('the output folder is checked before any training', () => {
  it('refuses a file, a folder with a model or a checkpoint (unless --force), a read-only place and /proc; a failed run leaves no empty folder, nor the folders made to reach it', async () => {
    const base = ['train', '--corpus', corpusFile, ...SMALL, '--epochs', '1'];
    const file = join(dir, 'a-file');
    await writeFile(file, 'x');
    expect((await cli([...base, '--out', file])).err).toMatch(/--out .*a-file is a file, not a folder/);
    const done = await out('has-model');
    expect((await cli([...base, '--out', done])).code).toBe(0);
    const again = await cli([...base, '--out', done]);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/holds a training checkpoint: continue that run with "deeprnn train --resume .*", or pass --force/);
    expect((await cli([...base, '--out', done, '--force'])).code).toBe(0);
    expect((await cli([...base, '--out', '/proc/deeprnn-test/run'])).err).toMatch(/is on procfs, a virtual file system/);
    // A read-only place: mode 0500, and — since root passes any mode, as every machine here runs —
    // the permission check answering as the kernel answers other users.
    const ro = join(dir, 'read-only');
    await mkdir(ro);
    await chmod(ro, 0o500);
    const real = permissions.writable;
    permissions.writable = async (folder) => (folder === ro ? false : real(folder));
    try {
      const r = await cli([...base, '--out', join(ro, 'run')]);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/cannot write in .*read-only: no permission \(or a read-only file system\)/);
      expect(existsSync(join(ro, 'run'))).toBe(false);
    } finally {
      permissions.writable = real;
    }
    const failed = join(dir, 'failed-run');
    const r = await cli(['train', '--corpus', join(dir, 'nope.txt'), ...SMALL, '--out', failed]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/nope\.txt cannot be read/);
    expect(existsSync(failed)).toBe(false);
    const nested = join(dir, 'failed-parent', 'run'); // the folders it made to get there go too
    expect((await cli(['train', '--corpus', join(dir, 'nope.txt'), ...SMALL, '--out', nested])).code).toBe(1);
    expect(existsSync(join(dir, 'failed-parent'))).toBe(false);
  });
});

describe('one run per output folder', () => {
  const lockOf = (o: string) => join(o, LOCK_FILE);
  it('a second run, resume or export into a folder a live run is writing is refused, --force or not, before its first checkpoint', async () => {
    const o = await out('locked');
    const args = ['train', '--corpus', corpusFile, ...SMALL, '--epochs', '100000', '--out', o];
    const child = spawn(process.execPath, [join(ROOT, 'bin/deeprnn.js'), ...args], { stdio: 'ignore' });
    try {
      const started = Date.now();
      while (!existsSync(lockOf(o)) && Date.now() - started < 30_000) await new Promise((r) => setTimeout(r, 20));
      expect(JSON.parse(await readFile(lockOf(o), 'utf8'))).toMatchObject({ pid: child.pid, host: hostname() });
      const busy = new RegExp(`is in use by another deeprnn run \\(process ${child.pid}, since .*\\): wait for it to end or stop it`);
      for (const more of [[], ['--force']]) {
        const r = await cli([...args, ...more]);
        expect(r.code, more.join(' ')).toBe(1);
        expect(r.err).toMatch(busy);
      }
      expect((await cli(['train', '--resume', o])).err).toMatch(busy);
      expect((await cli(['export', '--model', join(ROOT, 'models/d2l-deep-lstm'), '--out', o, '--force'])).err).toMatch(busy);
      expect(existsSync(join(o, 'model.json'))).toBe(false); // nothing was written by the refused runs
    } finally {
      child.kill('SIGKILL');
      await new Promise((r) => child.on('exit', r));
    }
    // The killed run left its lock: the next run sees its process is gone and takes the folder.
    expect(existsSync(lockOf(o))).toBe(true);
    expect((await cli([...args.slice(0, -4), '--epochs', '1', '--out', o, '--force'])).code).toBe(0);
    expect(existsSync(lockOf(o))).toBe(false); // released at the end
  });

  it('a second Ctrl-C quits at once and takes the lock with it', async () => {
    const o = await out('quit');
    // Windows long enough that the first Ctrl-C cannot end the run before the second arrives.
    const child = spawn(
      process.execPath,
      [
        join(ROOT, 'bin/deeprnn.js'),
        'train',
        '--corpus',
        corpusFile,
        '--hidden',
        '512',
        '--batch-size',
        '64',
        '--num-steps',
        '64',
        '--engine',
        'native',
        '--threads',
        '1',
        '--preprocessing',
        'd2l',
        '--out',
        o,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const started = Date.now();
    // The handler is installed before the folder is locked (commands/train.ts): once the lock is
    // there, a SIGINT is the run's to handle, however slowly the machine goes — no sleep to guess.
    while (!existsSync(lockOf(o)) && Date.now() - started < 30_000) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGINT');
    while (!/stopping after this window/.test(stderr) && Date.now() - started < 30_000) await new Promise((r) => setTimeout(r, 10));
    child.kill('SIGINT');
    expect(await new Promise((r) => child.on('exit', r))).toBe(130);
    expect(existsSync(lockOf(o))).toBe(false);
    if (existsSync(o)) expect((await readdir(o)).length).toBeGreaterThan(0); // never an empty folder: gone, or kept with what the run wrote
  });

  it('taking over an abandoned lock removes that lock only, never one another run has just taken', async () => {
    const o = await out('takeover');
    await mkdir(o, { recursive: true });
    const dead = JSON.stringify({ pid: 2 ** 22 + 1, host: hostname(), command: 'train', since: '2026-01-01T00:00:00.000Z' });
    const live = JSON.stringify({ pid: process.pid, host: hostname(), command: 'train', since: '2026-01-02T00:00:00.000Z' });
    await writeFile(lockOf(o), live); // judged abandoned when it held `dead`; another run took the folder since
    await removeAbandoned(lockOf(o), dead);
    expect(await readFile(lockOf(o), 'utf8')).toBe(live);
    await writeFile(lockOf(o), dead);
    await removeAbandoned(lockOf(o), dead);
    expect(await readdir(o)).toEqual([]); // removed, and nothing left aside
  });

  it('a lock from another machine is respected and says how to clear it; an unreadable one is taken over', async () => {
    const o = await out('foreign');
    await mkdir(o, { recursive: true });
    await writeFile(lockOf(o), JSON.stringify({ pid: 1, host: 'another-machine', command: 'train', since: '2026-01-01T00:00:00.000Z' }));
    const args = ['train', '--corpus', corpusFile, ...SMALL, '--epochs', '1', '--out', o];
    const r = await cli(args);
    expect(r.err).toMatch(
      /in use by another deeprnn run \(process 1 on another-machine, since 2026-01-01T00:00:00.000Z\): wait for it to end or stop it; if it is gone, delete .*\.deeprnn-lock/,
    );
    await writeFile(lockOf(o), '{"pid": 12'); // damaged
    expect((await cli(args)).code).toBe(0);
    expect((await readdir(o)).includes(LOCK_FILE)).toBe(false);
  });
});

describe('deeprnn train / export from the command line', () => {
  it('--json prints one JSON object per epoch; export --dtype float16 halves the weights and keeps the text', async () => {
    const o = await out('cli');
    const lines: string[] = [];
    const code = await main(
      ['train', '--corpus', corpusFile, ...SMALL, '--epochs', '3', '--out', o, '--json'],
      (s) => lines.push(s),
      () => {},
    );
    expect(code).toBe(0);
    expect(lines.map((l) => JSON.parse(l).epoch)).toEqual([1, 2, 3]);
    const o16 = `${o}-f16`;
    expect(
      await main(
        ['export', '--model', o, '--dtype', 'float16', '--out', o16],
        () => {},
        () => {},
      ),
    ).toBe(0);
    const [a, b] = [await readFile(join(o, 'weights.bin')), await readFile(join(o16, 'weights.bin'))];
    expect(b.length * 2).toBe(a.length);
    const g = (m: string) =>
      main(
        ['generate', '--model', m, '--prefix', 'the time', '--num-chars', '30'],
        (s) => lines.push(s),
        () => {},
      );
    await g(o);
    await g(o16);
    expect(lines[lines.length - 1]).toBe(lines[lines.length - 2]);
    expect((await cli(['export', '--model', o, '--dtype', 'float16', '--out', o16])).err).toMatch(/holds a model/);
  });

  it('a run killed with SIGKILL resumes from its checkpoint and ends where an uninterrupted run ends', async () => {
    const args = [
      '--corpus',
      corpusFile,
      '--hidden',
      '24',
      '--batch-size',
      '4',
      '--num-steps',
      '8',
      '--epochs',
      '40',
      '--engine',
      'native',
      '--threads',
      '1',
      '--optimizer',
      'adam',
      '--lr',
      '0.005',
      '--preprocessing',
      'd2l',
    ];
    const whole = await out('sigkill-whole');
    expect(
      await main(
        ['train', ...args, '--out', whole],
        () => {},
        () => {},
      ),
    ).toBe(0);
    const killed = await out('sigkill');
    const child = spawn(process.execPath, [join(ROOT, 'bin/deeprnn.js'), 'train', ...args, '--out', killed], { stdio: 'ignore' });
    const started = Date.now();
    while (!existsSync(join(killed, CHECKPOINT_FILE)) && Date.now() - started < 60_000) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 150));
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    const ck = await readCheckpoint(killed);
    expect(ck.position.epoch).toBeLessThan(40); // it really was interrupted
    expect(
      await main(
        ['train', '--resume', killed],
        () => {},
        () => {},
      ),
    ).toBe(0);
    expect(await readFile(join(killed, 'weights.bin'))).toEqual(await readFile(join(whole, 'weights.bin')));
  });

  it('into a pipe: a plain progress line at the pace asked for (not silence until the end); --quiet: only the first line and the summary', async () => {
    const args = [join(ROOT, 'bin/deeprnn.js'), 'train', '--corpus', corpusFile, '--preset', 'd2l', '--hidden', '24', '--epochs', '4', '--force'];
    const run = (extra: string[]) =>
      new Promise<string>((resolve) => {
        const child = spawn(process.execPath, [...args, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d));
        child.on('exit', () => resolve(stdout));
      });
    const piped = (await run(['--progress-every', '0.1', '--out', join(dir, 'piped')])).split('\n');
    expect(piped[0]).toMatch(/^training on native: /);
    const progress = piped.filter((l) =>
      /^epoch \d+\/4 window \d+\/\d+: loss \d+\.\d{3} \(perplexity \d+\.\d{2}\), \d+ tokens\/s, \d+ s, ~\d+ s left$/.test(l),
    );
    expect(progress.length).toBeGreaterThan(0);
    const quiet = (await run(['--quiet', '--out', join(dir, 'quiet')])).trim().split('\n');
    expect(quiet[0]).toMatch(/^training on native: /);
    expect(quiet.filter((l) => /^epoch /.test(l))).toEqual([]);
    expect(quiet.some((l) => /^perplexity \d/.test(l))).toBe(true);
  });

  it('Ctrl-C is seen within the epoch: a run whose epoch lasts a minute stops after its window, not at the epoch end', async () => {
    // The d2l network on a 700 KB text: one epoch is ~600 windows, a minute or more on 2 cores.
    const book = join(dir, 'long-epoch.txt');
    await writeFile(book, (await readFile(join(ROOT, 'data/timemachine.txt'), 'utf8')).repeat(4));
    const o = await out('sigint-long');
    const child = spawn(process.execPath, [join(ROOT, 'bin/deeprnn.js'), 'train', '--corpus', book, '--epochs', '1', '--out', o], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const started = Date.now();
    // Fitting has begun (its metrics file is written before the first window): ask it to stop now.
    while (!existsSync(join(o, METRICS_FILE)) && Date.now() - started < 60_000) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGINT');
    const code = await new Promise((r) => child.on('exit', r));
    expect(code).toBe(130);
    expect(stderr).toMatch(/SIGINT: stopping after this window/);
    // Stopped inside epoch 1, a window or a few in — however slow the machine — not at its end
    // (~600 windows): a stop seen only between epochs would have checkpointed window 0 of epoch 1.
    const { position } = await readCheckpoint(o);
    expect(position.epoch).toBe(0);
    expect(position.window).toBeGreaterThan(0);
    expect(position.window).toBeLessThan(100);
    expect((await readdir(o)).sort()).toEqual(['checkpoint.bin', 'metrics.jsonl', 'model.json', 'perplexity.svg', 'weights.bin']);
  });

  it('Ctrl-C (SIGINT) finishes the window, writes a usable model and says how to resume; resuming ends where an uninterrupted run ends', async () => {
    const args = [
      '--corpus',
      corpusFile,
      '--hidden',
      '24',
      '--batch-size',
      '4',
      '--num-steps',
      '8',
      '--epochs',
      '30',
      '--engine',
      'native',
      '--threads',
      '2',
      '--optimizer',
      'adam',
      '--lr',
      '0.005',
      '--preprocessing',
      'd2l',
      '--val-fraction',
      '0.1',
    ];
    const whole = await out('sigint-whole');
    expect(
      await main(
        ['train', ...args, '--out', whole],
        () => {},
        () => {},
      ),
    ).toBe(0);
    const o = await out('sigint');
    const child = spawn(process.execPath, [join(ROOT, 'bin/deeprnn.js'), 'train', ...args, '--out', o], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const started = Date.now();
    while (!existsSync(join(o, CHECKPOINT_FILE)) && Date.now() - started < 60_000) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGINT');
    const code = await new Promise((r) => child.on('exit', r));
    expect(code).toBe(130);
    expect(stderr).toMatch(/SIGINT: stopping after this window/);
    expect(stderr).toMatch(new RegExp(`Continue with:\\n  deeprnn train --resume ${o.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    const gen = await cli(['generate', '--model', o, '--prefix', 'the', '--num-chars', '10']);
    expect(gen.code).toBe(0); // a usable model, before the run is finished
    expect(
      await main(
        ['train', '--resume', o],
        () => {},
        () => {},
      ),
    ).toBe(0);
    expect(await readFile(join(o, 'weights.bin'))).toEqual(await readFile(join(whole, 'weights.bin')));
    expect((await readdir(o)).sort()).toEqual(['checkpoint.bin', 'metrics.jsonl', 'model.json', 'perplexity.svg', 'weights.bin']);
  });
});
