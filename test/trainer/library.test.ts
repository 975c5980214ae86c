/** startTraining: the library's train, the same run as `deeprnn train` for the same options. */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModelFolders } from '../../edge/node.ts';
import { loadKernelNode } from '../../shared/platform/node.ts';
import { parseOptions } from '../../trainer/argv.ts';
import { TRAIN_OPTIONS } from '../../trainer/commands/train.ts';
import { trainConfig } from '../../trainer/config.ts';
import { nodeSha256 } from '../../trainer/corpus-files.ts';
import { nodeHelpers } from '../../trainer/engines/index.ts';
import { startTraining, type TrainHost, type TrainProgress } from '../../trainer/library.ts';
import { train } from '../../trainer/train-files.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
let dir = '';
let text = '';
let host: TrainHost;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'deeprnn-library-'));
  text = (await readFile(join(ROOT, 'data/timemachine.txt'), 'utf8')).slice(0, 6000);
  host = {
    kernel: await loadKernelNode('fastest'),
    evalKernel: await loadKernelNode('simd'),
    cores: availableParallelism(),
    spawn: nodeHelpers,
    sha256: nodeSha256,
  };
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const SMALL = { hidden: 16, layers: 1, batchSize: 4, numSteps: 8, epochs: 2, seed: 3, maxTokens: 4000, valFraction: 0.1 };
const asArgs = (o: Record<string, number>) => Object.entries(o).flatMap(([k, v]) => [`--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`, String(v)]);

describe('startTraining (the library) and deeprnn train (the CLI)', () => {
  for (const threads of [1, 2]) {
    it(`give the same weights, bit for bit, for the same text and options (${threads} thread${threads > 1 ? 's' : ''})`, async () => {
      const file = join(dir, `corpus-${threads}.txt`);
      await writeFile(file, text);
      const out = join(dir, `cli-${threads}`);
      await train(trainConfig(parseOptions(TRAIN_OPTIONS, ['--corpus', file, ...asArgs({ ...SMALL, threads })]).values), out, { log: () => {} });
      const progress: TrainProgress[] = [];
      const run = startTraining({ corpus: text, ...SMALL, threads }, host, (p) => progress.push(p));
      const r = await run.result;
      expect(Buffer.from(r.weights)).toEqual(await readFile(join(out, 'weights.bin')));
      expect(JSON.parse(r.modelJson)).toMatchObject({ name: 'my-model', architecture: { numLayers: 1, hiddenSize: 16 } });
      expect(r.stoppedBy).toBe('completed');
      expect(progress.filter((p) => p.kind === 'epoch').map((p) => p.epoch)).toEqual([1, 2]);
      expect(progress.some((p) => p.kind === 'window' && p.window === 1 && p.perplexity > 1)).toBe(true);
      expect(progress.at(-1)!.validationPerplexity).toBeGreaterThan(1);
      // The two files are an artifact every runtime reads as it is: a served folder, here.
      const folder = join(dir, `library-${threads}`);
      await mkdir(folder);
      await writeFile(join(folder, 'model.json'), r.modelJson);
      await writeFile(join(folder, 'weights.bin'), r.weights);
      const [served] = await loadModelFolders([folder]);
      expect(served.model.name).toBe('my-model');
      expect(served.model.training?.corpus?.files).toEqual(['text']);
    });
  }

  it('stop() ends after the current window and still gives a model', async () => {
    let run: ReturnType<typeof startTraining> | null = null;
    run = startTraining({ corpus: text, ...SMALL, epochs: 1000, threads: 1 }, host, (p) => {
      if (p.kind === 'window' && p.epoch === 2 && p.window === 3) run!.stop();
    });
    const r = await run.result;
    expect(r.stoppedBy).toBe('interrupted');
    expect(r.weights.length).toBeGreaterThan(1000);
    expect(r.records.at(-1)!.validationPerplexity).toBeGreaterThan(1);
  });

  it('author tags from { name, text } parts; bad input is one clear message', async () => {
    const r = await startTraining(
      {
        corpus: [
          { name: 'wells', text: text.slice(0, 3000) },
          { name: 'other', text: text.slice(3000) },
        ],
        ...SMALL,
        epochs: 1,
        authorTags: true,
      },
      host,
    ).result;
    expect(r.model.vocab.authors.size).toBe(2);
    const refused = (input: Record<string, unknown>) => startTraining({ corpus: text, ...SMALL, ...input } as Parameters<typeof startTraining>[0], host).result;
    await expect(refused({ hiden: 8 })).rejects.toThrow('hiden is not an option; did you mean hidden?');
    await expect(refused({ timeBudget: 0 })).rejects.toThrow(/^timeBudget must be a number in \(0, ∞\], got 0/);
    await expect(refused({ hidden: 'big' })).rejects.toThrow(/^hidden must be a whole number/);
    await expect(refused({ out: 'x' })).rejects.toThrow(/out is not an option/);
    await expect(startTraining({ corpus: 'too short', ...SMALL }, host).result).rejects.toThrow(
      /the training set has 8 tokens: too few for one window of batch 4 × 8 steps/,
    );
    await expect(startTraining({ corpus: [{ name: 'x', bytes: new Uint8Array([0x61, 0xe9, 0x62]) }], ...SMALL }, host).result).rejects.toThrow(
      /x is not valid UTF-8: invalid byte 0xe9 at byte offset 1/,
    );
    await expect(startTraining({ corpus: [], ...SMALL }, host).result).rejects.toThrow(/corpus must be a text/);
  });
});
