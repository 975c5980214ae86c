/**
 * The Trainer's bookkeeping against a scripted engine: each window's loss, gradient norm and the
 * weights after each step are chosen here, so every number the run records — each epoch's
 * perplexity and fraction, the running loss the progress shows, the checkpoints' positions and
 * partial sums, the best epoch kept, the summary line, the model's training record, the
 * divergence messages — is worked out here from the script, not compared with another run.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeeprnnError } from '../../shared/errors.ts';
import { combine, evaluateIds } from '../../shared/evaluate.ts';
import { predict } from '../../shared/generate.ts';
import type { Kernel } from '../../shared/kernel/kernel.ts';
import { KernelModel } from '../../shared/kernel/stepper.ts';
import { numElements, tensorSpecs, type Model, type Params } from '../../shared/model.ts';
import { loadKernelNode } from '../../shared/platform/node.ts';
import { Rng } from '../../shared/rng.ts';
import { parseOptions } from '../../trainer/argv.ts';
import type { Checkpoint, EpochRecord } from '../../trainer/checkpoint.ts';
import { TRAIN_OPTIONS } from '../../trainer/commands/train.ts';
import { architecture, learningRate, readingOf, trainConfig, type TrainConfig } from '../../trainer/config.ts';
import { corpusFile, samplePrefixOf, splitCorpus, type Corpus } from '../../trainer/corpus.ts';
import { readCorpus } from '../../trainer/corpus-files.ts';
import { randomWindows, windowsPerEpoch } from '../../trainer/data.ts';
import type { Engine, EngineSpec, OptimizerState } from '../../trainer/engines/engine.ts';
import { runTraining, type RunStore, type TrainHooks, type TrainResult } from '../../trainer/train.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
let dir = '';
let files: string[] = [];
let kernel: Kernel;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'deeprnn-trainer-'));
  files = [join(dir, 'a.txt'), join(dir, 'b.txt')];
  await writeFile(files[0], (await readFile(join(ROOT, 'data/timemachine.txt'), 'utf8')).slice(0, 2400));
  await writeFile(files[1], (await readFile(join(ROOT, 'data/corpora/shelley-frankenstein.txt'), 'utf8')).slice(5000, 6600));
  kernel = await loadKernelNode('portable');
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const B = 2;
const T = 5;
const config = (...args: string[]): TrainConfig =>
  trainConfig(
    parseOptions(TRAIN_OPTIONS, [
      ...files.flatMap((f) => ['--corpus', f]),
      ...['--preprocessing', 'd2l', '--hidden', '4', '--layers', '1', '--batch-size', String(B), '--num-steps', String(T)],
      ...['--epochs', '3', '--val-fraction', '0.1', '--optimizer', 'sgd', '--lr', '0.5', '--threads', '1', ...args],
    ]).values,
  );

/** What the script decides: window i's (counted over the run) summed loss and gradient norm, and the weights after its step. */
interface Script {
  loss(i: number): number;
  /** Milliseconds of the run's clock each window takes (default 0: the clock stands still). */
  ms?: number;
  norm?(i: number): number;
  after?(i: number, params: Params): Params | undefined;
}

/** An engine that computes nothing: it answers from the script and records what it was asked. */
class Scripted implements Engine {
  readonly name = 'native';
  readonly backend = 'scripted';
  readonly batchSize: number;
  readonly numSteps: number;
  readonly calls: string[] = [];
  /** Windows stepped over the run (a resumed run starts from its checkpoint's optimizer step). */
  window = 0;
  /** The weights the run started from. */
  first: Params | null = null;
  /** The first window's inputs. */
  firstX: Int32Array | null = null;
  private params: Params = {};
  constructor(
    spec: EngineSpec,
    private readonly script: Script,
    private readonly clock: { t: number },
  ) {
    this.batchSize = spec.batchSize;
    this.numSteps = spec.numSteps;
  }
  setParams(p: Params): void {
    this.first ??= copy(p);
    this.params = copy(p);
  }
  async getParams(): Promise<Params> {
    return copy(this.params);
  }
  resetState(): void {
    this.calls.push(`reset before ${this.window}`);
  }
  async getCarry(): Promise<Float32Array> {
    return Float32Array.of(this.window, 0.5);
  }
  setCarry(state: Float32Array): void {
    this.calls.push(`carry ${Array.from(state).join(',')}`);
  }
  async forwardBackward(x: Int32Array): Promise<number> {
    expect(x.length).toBe(this.batchSize * this.numSteps);
    this.clock.t += this.script.ms ?? 0;
    this.firstX ??= x.slice();
    return this.script.loss(this.window);
  }
  async getGradients(): Promise<Params> {
    return {};
  }
  clipGradients(): number {
    return this.script.norm?.(this.window) ?? 1;
  }
  step(): void {
    this.params = this.script.after?.(this.window, this.params) ?? this.params;
    this.window++;
  }
  async getOptimizerState(): Promise<OptimizerState> {
    return { step: this.window, moments: null };
  }
  setOptimizerState(s: OptimizerState): void {
    this.window = s.step;
  }
  dispose(): void {}
}

const copy = (p: Params): Params => Object.fromEntries(Object.entries(p).map(([k, v]) => [k, v.slice()]));

/** A store in memory that keeps everything the run hands it. */
function memoryStore(saved = { metrics: [] as EpochRecord[][], checkpoints: [] as Checkpoint[], plots: [] as number[], model: null as Model | null }) {
  const store: RunStore = {
    name: 'scripted-run',
    where: 'the test store',
    loadMetrics: async (epoch) => (saved.metrics.at(-1) ?? []).filter((r) => r.epoch <= epoch),
    saveMetrics: async (r) => void saved.metrics.push(r.map((x) => ({ ...x }))),
    saveCheckpoint: async (c) => void saved.checkpoints.push(c),
    savePlot: async (r) => void saved.plots.push(r.length),
    saveModel: async (m) => void (saved.model = m),
  };
  return { store, saved };
}

interface Run {
  result: TrainResult;
  engine: Scripted;
  saved: ReturnType<typeof memoryStore>['saved'];
  logs: string[];
  /** Each window the hook saw: epoch, index, count, the running loss and tokens, the rate. */
  windows: { epoch: number; index: number; count: number; loss: number; tokens: number; lr: number }[];
  /** Windows done when the run let its host's event loop in. */
  yields: number[];
  corpus: Corpus;
  cfg: TrainConfig;
}

async function run(
  cfg: TrainConfig,
  script: Script,
  o: { resume?: Checkpoint; stopAt?: { epoch: number; index: number }; store?: ReturnType<typeof memoryStore> } = {},
): Promise<Run> {
  const corpus = await readCorpus(cfg.corpus.map(corpusFile), readingOf(cfg));
  const { store, saved } = o.store ?? memoryStore();
  const logs: string[] = [];
  const windows: Run['windows'] = [];
  const stop = new AbortController();
  let engine: Scripted | null = null;
  const clock = { t: 5000 }; // not 0: a run's times count from its own start
  const yields: number[] = [];
  const hooks: TrainHooks = {
    log: (l) => logs.push(l),
    window: (epoch, index, count, r) => {
      windows.push({ epoch, index, count, loss: r.loss, tokens: r.tokens, lr: r.lr });
      if (o.stopAt && o.stopAt.epoch === epoch && o.stopAt.index === index) stop.abort();
    },
  };
  const result = await runTraining(cfg, {
    data: { corpus, split: splitCorpus(corpus, cfg) },
    store,
    base: null,
    makeEngine: async (spec) => (engine = new Scripted(spec, script, clock)),
    evalKernel: kernel,
    hooks,
    resume: o.resume ?? null,
    signal: stop.signal,
    now: () => clock.t,
    yieldNow: async () => void yields.push(windows.length),
  });
  return { result, engine: engine!, saved, logs, windows, yields, corpus, cfg: { ...cfg, vocabSize: corpus.vocab.size } };
}

/** Window i's loss: a mean of 1.5 to 2.1 nats per token, summed over the window. */
const lossOf = (i: number) => (1.5 + (i % 7) * 0.1) * B * T;

/** The epochs' window indices over the run, as the hook saw them. */
const byEpoch = (r: Run) => {
  const out: number[][] = [];
  r.windows.forEach((w, i) => (out[w.epoch - 1] ??= []).push(i));
  return out;
};

/** Held-out perplexity of these weights, per file and overall, worked out with the evaluation functions directly. */
function heldOut(r: Run, params: Params): { overall: number; perFile: Record<string, number> } {
  const model: Model = { name: 'x', arch: architecture(r.cfg), vocab: r.corpus.vocab, preprocessing: r.cfg.preprocessing, params, training: null };
  const km = new KernelModel(kernel, model);
  const rows = km.acquire(4);
  const split = splitCorpus(r.corpus, r.cfg);
  const each = split.validation.map((v) => evaluateIds(rows, v.ids, r.corpus.vocab));
  km.release(rows);
  return { overall: combine(each).perplexity, perFile: Object.fromEntries(split.validation.map((v, i) => [v.file, each[i].perplexity])) };
}

/** Weights whose output bias is the corpus's log unigram frequencies (a far better guess than zeros), the rest zero. */
function unigram(r: Run, like: Params): Params {
  const p = Object.fromEntries(Object.entries(like).map(([k, v]) => [k, new Float32Array(v.length)]));
  const counts = new Float32Array(r.corpus.vocab.size).fill(1);
  for (const ids of r.corpus.ids) for (const id of ids) counts[id]++;
  const total = counts.reduce((a, b) => a + b, 0);
  p['linear.bias'] = counts.map((c) => Math.log(c / total));
  return p;
}

describe('the Trainer, on a scripted engine', () => {
  it("records each epoch from its windows' losses, and shows the running loss, tokens and rate after each window", async () => {
    const r = await run(config(), { loss: lossOf, ms: 10 });
    const epochs = byEpoch(r);
    expect(epochs).toHaveLength(3);
    const records = r.saved.metrics.at(-1)!;
    expect(records.map((x) => x.epoch)).toEqual([1, 2, 3]);
    // The count the progress shows is data.ts's estimate, exact up to the offset d2l draws.
    const count = windowsPerEpoch(splitCorpus(r.corpus, r.cfg).train.length, B, T, 'sequential');
    expect(epochs.every((idx) => idx.length === count || idx.length === count - 1)).toBe(true);
    let at = 0;
    for (const [e, idx] of epochs.entries()) {
      let sum = 0;
      idx.forEach((_, k) => {
        sum += lossOf(at + k);
        const w = r.windows[idx[k]];
        expect(w).toEqual({ epoch: e + 1, index: k, count, loss: sum / ((k + 1) * B * T), tokens: (k + 1) * B * T, lr: 0.5 });
      });
      at += idx.length;
      expect(records[e].perplexity).toBe(Math.exp(sum / (idx.length * B * T)));
      expect(records[e].lr).toBe(0.5);
      // 10 ms a window: B·T tokens per 10 ms, the run's seconds its windows'.
      expect(records[e].tokensPerSecond).toBe((B * T * 1000) / 10);
      expect(records[e].elapsedSeconds).toBe(+((at * 10) / 1000).toFixed(2));
    }
    // The first weights all run long (the script changes none): every epoch validates as they do.
    expect(r.result.model.params).toEqual(r.engine.first);
    expect(r.result.model.training?.selectedEpoch).toBe(1); // equal held-out perplexities: the first is kept
    const v = heldOut(r, r.engine.first!);
    for (const rec of records) {
      expect(rec.validationPerplexity).toBeCloseTo(v.overall, 9);
      expect(rec.validation).toEqual(Object.fromEntries(Object.entries(v.perFile).map(([f, p]) => [f, +p.toFixed(4)])));
    }
    expect(r.engine.calls.filter((c) => c.startsWith('reset'))).toEqual(epochs.map((_, e) => `reset before ${epochs.slice(0, e).flat().length}`));
    // A checkpoint at each epoch's end, at its start position, without a carried state.
    expect(r.saved.checkpoints.map((c) => [c.position.epoch, c.position.window, c.position.partial, c.carry])).toEqual([
      [1, 0, { loss: 0, tokens: 0 }, null],
      [2, 0, { loss: 0, tokens: 0 }, null],
      [3, 0, { loss: 0, tokens: 0 }, null],
    ]);
  });

  it('keeps the epoch with the lowest held-out perplexity, and says so in the summary and the model', async () => {
    let boundaries: number[] = [];
    const probe = await run(config(), { loss: lossOf });
    boundaries = byEpoch(probe).map((idx) => idx.at(-1)!);
    let good: Params | null = null;
    const r = await run(config(), {
      loss: lossOf,
      // Epoch 1 ends on the first weights, epoch 2 on the unigram weights, epoch 3 on zeros.
      after: (i, p) => {
        if (i === boundaries[1]) return (good = unigram(probe, p));
        if (i === boundaries[2]) return Object.fromEntries(Object.entries(p).map(([k, v]) => [k, new Float32Array(v.length)]));
        return undefined;
      },
    });
    const records = r.saved.metrics.at(-1)!;
    const [first, best, zeros] = [r.engine.first!, good!, await r.engine.getParams()].map((p) => heldOut(r, p));
    expect(best.overall).toBeLessThan(Math.min(first.overall, zeros.overall));
    expect(records.map((x) => x.validationPerplexity)).toEqual([first.overall, best.overall, zeros.overall].map((p) => expect.closeTo(p, 9)));
    const m = r.result.model;
    expect(m.params).toEqual(good);
    const t = m.training!;
    expect(t).toMatchObject({
      selectedEpoch: 2,
      epochs: 3,
      stoppedBy: 'completed',
      validationPerplexity: +records[1].validationPerplexity!.toFixed(4),
      trainPerplexity: +records[2].perplexity.toFixed(4),
      tokensPerSecond: records[2].tokensPerSecond,
      trainingSeconds: records[2].elapsedSeconds,
      engine: 'native',
      backend: 'scripted',
    });
    const split = splitCorpus(r.corpus, r.cfg);
    expect(t.corpus).toEqual({
      files,
      sha256: r.corpus.sha256,
      tokens: r.corpus.ids.reduce((n, a) => n + a.length, 0),
      details: r.corpus.files.map((f, i) => ({
        path: f.path,
        author: f.author,
        sha256: f.sha256,
        bytes: f.bytes,
        characters: f.characters,
        boilerplateRemoved: f.removed,
        validationCharacters: split.validation[i].ids.length,
        validationPerplexity: +best.perFile[f.path].toFixed(4),
      })),
    });
    expect(t.hyperparameters).toMatchObject({
      preprocessing: 'd2l',
      batchSize: B,
      numSteps: T,
      optimizer: 'sgd',
      lr: 0.5,
      valFraction: 0.1,
      keepMojibake: false,
    });
    const perFile = files.map((f) => `${f.split('/').pop()} ${best.perFile[f].toFixed(2)}`).join(', ');
    expect(r.logs.at(-2)).toBe(
      `perplexity ${records[2].perplexity.toFixed(2)}, validation perplexity ${best.overall.toFixed(2)} (epoch 2) (${perFile}), ${records[2].tokensPerSecond} tokens/s on native (scripted)`,
    );
    expect(r.logs[0]).toBe('training on native: scripted');
    const prefix = samplePrefixOf(r.corpus.vocab, r.corpus.ids[0], 'd2l');
    expect(r.logs.at(-1)).toBe(predict(m, { prefix, numChars: 50, temperature: 0 }, new KernelModel(kernel, m)).text);
    expect(r.saved.plots).toEqual([3]); // once, at the end (every tenth epoch besides)
  });

  it('stops after the window a stop request came in: the partial epoch recorded, a checkpoint at that window with its sums and carried state', async () => {
    const whole = await run(config(), { loss: lossOf });
    const n1 = byEpoch(whole)[0].length;
    const stopped = await run(config(), { loss: lossOf }, { stopAt: { epoch: 2, index: 1 } });
    expect(stopped.result.stopped).toBe('interrupted');
    const ck = stopped.saved.checkpoints.at(-1)!;
    expect(ck.position).toMatchObject({ epoch: 1, window: 2, partial: { loss: lossOf(n1) + lossOf(n1 + 1), tokens: 2 * B * T } });
    expect(ck.carry).toEqual(Float32Array.of(n1 + 2, 0.5));
    expect(ck.optimizer.step).toBe(n1 + 2);
    const records = stopped.saved.metrics.at(-1)!;
    const n2 = windowsPerEpoch(splitCorpus(whole.corpus, whole.cfg).train.length, B, T, 'sequential'); // the fraction counts against the estimate
    expect(records.map((x) => x.epoch)).toEqual([1, +(1 + 2 / n2).toFixed(3)]);
    expect(records[1].perplexity).toBe(Math.exp((lossOf(n1) + lossOf(n1 + 1)) / (2 * B * T)));
    expect(records[1].validationPerplexity).not.toBeNull(); // the last record is always validated
    expect(stopped.result.model.training?.stoppedBy).toBe('interrupted');
    expect(stopped.saved.plots).toEqual([2, 2]); // at the stop, and the model's

    // Resumed: the carried state back in before the first window, the done windows skipped, the
    // epoch's sums carried on — its record is the uninterrupted run's.
    const resumed = await run(ck.config, { loss: lossOf }, { resume: ck, store: memoryStore(stopped.saved) });
    expect(resumed.engine.calls[0]).toBe(`carry ${n1 + 2},0.5`);
    expect(resumed.engine.calls).not.toContain(`reset before ${n1 + 2}`);
    expect(resumed.windows[0]).toMatchObject({ epoch: 2, index: 2 });
    expect(resumed.windows[0].loss).toBe((lossOf(n1) + lossOf(n1 + 1) + lossOf(n1 + 2)) / (3 * B * T));
    expect(resumed.result.last.perplexity).toBe(whole.result.last.perplexity);

    // With random windows nothing is carried across windows, so a stop keeps no state.
    const random = await run(config('--iterator', 'random'), { loss: lossOf }, { stopAt: { epoch: 1, index: 2 } });
    const drawn = randomWindows(splitCorpus(random.corpus, random.cfg).train, B, T, new Rng((random.cfg.seed ^ 0x5bd1e995) >>> 0)).next();
    expect(random.engine.firstX).toEqual((drawn.value as { x: Int32Array }).x);
    expect(random.saved.checkpoints.at(-1)!.position).toMatchObject({ epoch: 0, window: 3 });
    expect(random.saved.checkpoints.at(-1)!.carry).toBeNull();
  });

  it('a run whose epochs are all done has nothing to do', async () => {
    const done = await run(config(), { loss: lossOf });
    const ck = done.saved.checkpoints.at(-1)!;
    await expect(run(ck.config, { loss: lossOf }, { resume: ck })).rejects.toThrow(
      new DeeprnnError('nothing_to_do', 'the run already completed its 3 epochs (give --epochs N to extend it)'),
    );
  });

  it('stops on a loss or gradient norm that is not finite, or a loss past any perplexity, naming where and what is kept', async () => {
    const diverge = async (script: Script) => {
      try {
        await run(config(), script);
      } catch (e) {
        expect(e).toBeInstanceOf(DeeprnnError);
        expect((e as DeeprnnError).code).toBe('diverged');
        return (e as Error).message;
      }
      throw new Error('the run did not stop');
    };
    expect(await diverge({ loss: (i) => (i === 2 ? Number.NaN : lossOf(i)) })).toBe(
      'the loss became NaN at epoch 1, window 3: training diverged (try a lower --lr or --clip). No epoch completed, so there is no checkpoint.',
    );
    const n1 = byEpoch(await run(config(), { loss: lossOf }))[0].length;
    expect(await diverge({ loss: lossOf, norm: (i) => (i === n1 ? Number.POSITIVE_INFINITY : 1) })).toBe(
      'the gradient norm became Infinity at epoch 2, window 1: training diverged (try a lower --lr or --clip). The last good checkpoint is kept in the test store.',
    );
    expect(await diverge({ loss: (i) => (i === 0 ? 800 * B * T : lossOf(i)) })).toBe(
      'the perplexity became infinite (mean loss 8.00e+2 nats) at epoch 1, window 1: training diverged (try a lower --lr or --clip). No epoch completed, so there is no checkpoint.',
    );
    // Just under the largest finite perplexity is not a divergence.
    await expect(run(config('--epochs', '1'), { loss: (i) => (i === 0 ? 700 * B * T : lossOf(i)) })).resolves.toBeDefined();
  });

  it('every tenth epoch: a sample line and the plot', async () => {
    const r = await run(config('--epochs', '12', '--val-fraction', '0', '--predict-prefix', 'the'), { loss: lossOf });
    const m = r.result.model;
    const sample = predict(m, { prefix: 'the', numChars: 50, temperature: 0 }, new KernelModel(kernel, m)).text;
    expect(r.logs.filter((l) => l.startsWith('epoch '))).toEqual([`epoch 10: ${sample}`]);
    expect(r.saved.plots).toEqual([10, 12]);
    expect(r.saved.metrics.at(-1)!.every((x) => x.validationPerplexity === null)).toBe(true);
    expect(m.training).toMatchObject({ selectedEpoch: 12, validationPerplexity: null });
    expect(tensorSpecs(m.arch).every((s) => m.params[s.name].length === numElements(s.shape))).toBe(true);
  });

  it("on the run's clock: the budget stops it at the window that spends it, the rate follows the schedule by time, speeds and times are exact", async () => {
    // 100 ms a window, a budget of 3 s: 30 windows, each at the wsd rate of its elapsed share of the budget.
    const cfg = config('--time-budget', '0.05', '--size', 'fixed', '--epochs', '1000', '--lr-schedule', 'wsd', '--lr', '0.4');
    const r = await run(cfg, { loss: lossOf, ms: 100 });
    expect(r.result.stopped).toBe('time-budget');
    expect(r.windows).toHaveLength(30);
    r.windows.forEach((w, i) => expect(w.lr, `window ${i}`).toBe(learningRate(cfg, ((i + 1) * 100) / 1000 / 3)));
    const records = r.saved.metrics.at(-1)!;
    expect(records).toHaveLength(1);
    const count = windowsPerEpoch(splitCorpus(r.corpus, r.cfg).train.length, B, T, 'sequential');
    expect(records[0]).toMatchObject({ epoch: +(30 / count).toFixed(3), elapsedSeconds: 3, tokensPerSecond: (30 * B * T) / 3 });
    expect(records[0].lr).toBe(+learningRate(cfg, 1).toPrecision(6));
    expect(r.result.model.training).toMatchObject({ stoppedBy: 'time-budget', trainingSeconds: 3 });
    const ck = r.saved.checkpoints.at(-1)!;
    expect([ck.position.epoch, ck.position.window, ck.elapsedSeconds]).toEqual([0, 30, 3]);
  });

  it('a checkpoint every ten minutes inside an epoch, and the event loop let in every 50 ms', async () => {
    // A minute a window: more than ten minutes since the last after windows 11, 22, 33…
    const slow = await run(config('--epochs', '1'), { loss: lossOf, ms: 60_000 });
    const n = slow.windows.length;
    const mid = slow.saved.checkpoints.filter((c) => c.position.window > 0);
    expect(mid.map((c) => c.position.window)).toEqual(Array.from({ length: Math.floor(n / 11) }, (_, k) => 11 * (k + 1)));
    for (const c of mid) {
      expect(c.elapsedSeconds).toBe(60 * c.position.window);
      expect(c.carry).toEqual(Float32Array.of(c.position.window, 0.5));
      expect(c.position.partial.tokens).toBe(c.position.window * B * T);
    }
    expect(slow.yields).toEqual(Array.from({ length: n }, (_, i) => i + 1)); // every window is past 50 ms
    // 10 ms a window: every fifth.
    const fast = await run(config('--epochs', '1'), { loss: lossOf, ms: 10 });
    expect(fast.yields).toEqual(Array.from({ length: Math.floor(fast.windows.length / 5) }, (_, k) => 5 * (k + 1)));
    expect(fast.saved.checkpoints.filter((c) => c.position.window > 0)).toEqual([]);
  });

  it("records raw text's cleaning per file in the model (none for d2l's letters); refuses a held-out part too short and a corpus that changed under a checkpoint", async () => {
    const doyle = join(dir, 'doyle.txt');
    await writeFile(doyle, `${(await readFile(join(ROOT, 'data/corpora/doyle-sherlock-holmes.txt'), 'utf8')).slice(40_000, 44_000)}\n VoilÃ  tout.\n`);
    const raw = (...a: string[]) =>
      trainConfig(
        parseOptions(TRAIN_OPTIONS, [
          '--corpus',
          doyle,
          '--hidden',
          '4',
          '--batch-size',
          '2',
          '--num-steps',
          '5',
          '--epochs',
          '1',
          '--val-fraction',
          '0.1',
          '--threads',
          '1',
          ...a,
        ]).values,
      );
    const r = await run(raw(), { loss: lossOf });
    const lines = r.corpus.files[0].margin.lines;
    expect(lines).toBeGreaterThan(40);
    expect(r.result.model.training!.corpus!.details![0]).toMatchObject({ mojibakeRepaired: 1, margin: { removed: '1 space', lines } });
    const kept = await run(raw('--keep-mojibake', '--keep-margins'), { loss: lossOf });
    expect(kept.result.model.training!.corpus!.details![0]).toMatchObject({ mojibakeRepaired: 0, margin: { removed: null, lines: 0 } });
    const d2l = await run(config('--epochs', '1'), { loss: lossOf });
    for (const d of d2l.result.model.training!.corpus!.details!) expect(d).not.toHaveProperty('margin');

    const tiny = join(dir, 'tiny.txt');
    await writeFile(tiny, 'x'.repeat(15));
    await expect(run(config('--corpus', tiny, '--val-fraction', '0.05'), { loss: lossOf })).rejects.toThrow(
      `the held-out part of ${tiny} has 1 characters: too few to validate (raise --val-fraction or use a longer file)`,
    );
    const ck = r.saved.checkpoints.at(-1)!;
    await expect(run({ ...ck.config, vocabSize: ck.config.vocabSize + 1 }, { loss: lossOf }, { resume: ck })).rejects.toThrow(
      new DeeprnnError(
        'bad_checkpoint',
        `the corpus now gives ${ck.config.vocabSize} tokens, the checkpoint was trained on ${ck.config.vocabSize + 1}: the corpus files changed`,
      ),
    );
  });

  it("sized to a budget: the probes on the same engine, named once; the rule's reason logged and recorded; the budget counts the probes", async () => {
    const r = await run(config('--time-budget', '0.05', '--size', 'auto', '--hidden', '8', '--epochs', '1000'), { loss: lossOf, ms: 1 });
    const sizing = r.result.model.training!.sizing as { reason: string; probes: { hiddenSize: number }[]; probeSeconds: number; batchSize: number };
    expect(sizing.probes.map((p) => p.hiddenSize)).toEqual([8]);
    expect(r.logs.filter((l) => l.startsWith('training on '))).toEqual(['training on native: scripted']);
    expect(r.logs[1]).toBe(sizing.reason);
    expect(r.result.model.arch.hiddenSize).toBe(8);
    expect(r.engine.batchSize).toBe(sizing.batchSize);
    // The probes ran on the run's clock too (a millisecond a window): the budget was spent before the first window.
    expect(sizing.probeSeconds).toBeGreaterThan(3);
    expect(r.windows).toHaveLength(1);
    expect(r.saved.metrics.at(-1)![0].elapsedSeconds).toBeGreaterThanOrEqual(sizing.probeSeconds);
  });
});
