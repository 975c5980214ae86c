import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeArtifact, encodeArtifact } from '../../shared/artifact.ts';
import { predict } from '../../shared/generate.ts';
import type { Kernel } from '../../shared/kernel/kernel.ts';
import { KernelModel } from '../../shared/kernel/stepper.ts';
import type { Model } from '../../shared/model.ts';
import { loadKernelNode, readModelDir } from '../../shared/platform/node.ts';
import { logSumExp } from '../../shared/sampling.ts';
import { readTimeMachineLines } from '../../shared/text.ts';
import { cleaningOf, splitCorpus, type IdArray } from '../../trainer/corpus.ts';
import { readCorpus } from '../../trainer/corpus-files.ts';

const root = new URL('../..', import.meta.url).pathname;
/** The four shipped books, each under its author: what the authors and books models were trained on. */
const FOUR_BOOKS = [
  { path: `${root}data/timemachine.txt`, author: 'wells' },
  { path: `${root}data/corpora/wells-war-of-the-worlds.txt`, author: 'wells' },
  { path: `${root}data/corpora/doyle-sherlock-holmes.txt`, author: 'doyle' },
  { path: `${root}data/corpora/shelley-frankenstein.txt`, author: 'shelley' },
];
const book = readTimeMachineLines(readFileSync(`${root}data/timemachine.txt`, 'utf8')).join('');

describe('models/d2l-deep-lstm (npx deeprnn train --preset d2l)', () => {
  it("reaches d2l's perplexity and, like the book, recites lines of the book", async () => {
    const model = await readModelDir(`${root}models/d2l-deep-lstm`);
    expect(model.training?.trainPerplexity).toBeLessThanOrEqual(1.1);
    expect(model.training?.epochs).toBe(500);
    expect(model.training?.hyperparameters).toMatchObject({ maxTokens: 10000, batchSize: 32, numSteps: 35, optimizer: 'sgd', lr: 2, clip: 1 });
    const km = new KernelModel(await loadKernelNode(), model);
    for (const prefix of ['time traveller', 'traveller']) {
      const { text } = predict(model, { prefix, numChars: 50 }, km);
      expect(book, text).toContain(text);
    }
  });
});

/** Perplexity over the held-out tail, read as one stream at batch 1 (state carried throughout). */
function streamPerplexity(model: Model, kernel: Kernel, ids: IdArray): number {
  const rows = new KernelModel(kernel, model).acquire(1);
  let nll = 0;
  for (let t = 0; t + 1 < ids.length; t++) {
    const logits = rows.step(0, [ids[t]]);
    nll += logSumExp(logits, model.arch.vocabSize) - logits[ids[t + 1]];
  }
  return Math.exp(nll / (ids.length - 1));
}

describe('models/timemachine-deep-lstm, the served model', () => {
  it('has a validation perplexity, and its float16 and int8 renditions stay within 1% of it', async () => {
    const model = await readModelDir(`${root}models/timemachine-deep-lstm`);
    const int8 = await readModelDir(`${root}models/timemachine-deep-lstm-int8`);
    const f16 = await decodeArtifact(await encodeArtifact(model, 'float16'));
    expect(model.training?.validationPerplexity).toBeLessThan(6);
    expect(int8.vocab.tokens).toEqual(model.vocab.tokens);
    const corpus = await readCorpus([{ path: `${root}data/timemachine.txt`, author: 'wells' }], {
      preprocessing: 'd2l',
      keepBoilerplate: true,
      authorTags: false,
    });
    const validation = splitCorpus(corpus, { maxTokens: 0, valFraction: 0.1, authorTags: false }).validation[0].ids;
    const kernel = await loadKernelNode();
    const ppl = streamPerplexity(model, kernel, validation);
    expect(ppl).toBeLessThan(6);
    for (const rendition of [f16, int8]) expect(Math.abs(streamPerplexity(rendition, kernel, validation) / ppl - 1)).toBeLessThan(0.01);
  });
});

describe('models/authors-deep-lstm, the multi-author model (exercise 4)', () => {
  const dir = `${root}models/authors-deep-lstm`;
  const files = FOUR_BOOKS;

  it("writes as the author asked for: Doyle's held-out text is likelier under his tag, Wells' and Shelley's under theirs than under Doyle's", async () => {
    const model = await readModelDir(dir);
    expect([...model.vocab.authors.keys()].sort()).toEqual(['doyle', 'shelley', 'wells']);
    expect(model.training?.corpus?.details?.map((d) => (d.validationPerplexity as number) < 5)).toEqual([true, true, true, true]);
    const corpus = await readCorpus(files, {
      preprocessing: model.preprocessing,
      keepBoilerplate: false,
      ...cleaningOf(model),
      authorTags: true,
      vocab: model.vocab,
      unknownChars: 'unk',
    });
    const held = splitCorpus(corpus, { maxTokens: 0, valFraction: 0.1, authorTags: true }).validation;
    const kernel = await loadKernelNode();
    // The first 6,000 held-out characters of a book, every paragraph's tag (and the first) made
    // the given author's.
    const under = (i: number, a: string) =>
      streamPerplexity(
        model,
        kernel,
        held[i].ids.subarray(0, 6000).map((id) => (model.vocab.isSpecial(id) && id !== model.vocab.unkIndex ? model.vocab.authors.get(a)! : id)),
      );
    const holmes = under(2, 'doyle');
    for (const other of ['wells', 'shelley']) expect(holmes, `Holmes under ${other}`).toBeLessThan(0.97 * under(2, other));
    // Wells and Shelley: each likelier under its own tag than under Doyle's (the model barely tells the two apart).
    for (const [i, own] of [
      [1, 'wells'],
      [3, 'shelley'],
    ] as const)
      expect(under(i, own), own).toBeLessThan(0.97 * under(i, 'doyle'));
    const km = new KernelModel(kernel, model);
    const [doyle, shelley] = ['doyle', 'shelley'].map((author) => predict(model, { prefix: 'The ', numChars: 80, temperature: 0.7, seed: 1, author }, km).text);
    expect(doyle).not.toBe(shelley);
  });

  it('has an int8 rendition within 1% of its perplexity, with the same vocabulary', async () => {
    const model = await readModelDir(dir);
    const int8 = await readModelDir(`${dir}-int8`);
    expect(int8.vocab.tokens).toEqual(model.vocab.tokens);
    const corpus = await readCorpus(files.slice(2), {
      preprocessing: model.preprocessing,
      keepBoilerplate: false,
      ...cleaningOf(model),
      authorTags: true,
      vocab: model.vocab,
      unknownChars: 'unk',
    });
    const ids = splitCorpus(corpus, { maxTokens: 0, valFraction: 0.1, authorTags: true }).validation[0].ids.subarray(0, 4000);
    const kernel = await loadKernelNode();
    expect(Math.abs(streamPerplexity(int8, kernel, ids) / streamPerplexity(model, kernel, ids) - 1)).toBeLessThan(0.01);
  });
});

describe('models/books-deep-lstm, the default served model', () => {
  const dir = `${root}models/books-deep-lstm`;
  const files = FOUR_BOOKS;

  it("learnt the four books' cleaned raw text; held out, it beats the fixed-size authors model on every book, and its int8 rendition is within 1%", async () => {
    const [model, int8, older] = await Promise.all([readModelDir(dir), readModelDir(`${dir}-int8`), readModelDir(`${root}models/authors-deep-lstm`)]);
    expect(model.preprocessing).toBe('raw');
    expect(model.arch).toMatchObject({ cell: 'lstm', numLayers: 2, hiddenSize: 256 }); // the sizing rule's choice of 2026-12-04, kept
    expect(cleaningOf(model)).toEqual({ keepMojibake: false, keepMargins: false });
    const doyle = model.training!.corpus!.details!.find((d) => String(d.path).includes('doyle'))!;
    expect(doyle).toMatchObject({ mojibakeRepaired: 95, margin: { removed: '1 space', lines: 50029 } });
    for (const c of ['Ã', 'Â', '€']) expect(model.vocab.has(c), c).toBe(false);
    expect(int8.vocab.tokens).toEqual(model.vocab.tokens);
    const kernel = await loadKernelNode();
    const held = async (m: Model) => {
      const corpus = await readCorpus(files, {
        preprocessing: 'raw',
        keepBoilerplate: false,
        ...cleaningOf(model),
        authorTags: true,
        vocab: m.vocab,
        unknownChars: 'unk',
      });
      return splitCorpus(corpus, { maxTokens: 0, valFraction: 0.1, authorTags: true }).validation.map((v) => v.ids.subarray(0, 5000));
    };
    const [ours, theirs] = [await held(model), await held(older)];
    for (let i = 0; i < files.length; i++) {
      const p = streamPerplexity(model, kernel, ours[i]);
      expect(p, files[i].path).toBeLessThan(streamPerplexity(older, kernel, theirs[i]));
      if (i === 0) expect(Math.abs(streamPerplexity(int8, kernel, ours[i]) / p - 1)).toBeLessThan(0.01);
    }
  });

  it('writes real text: capitals and punctuation, in the words of its books', async () => {
    const model = await readModelDir(`${dir}-int8`);
    const km = new KernelModel(await loadKernelNode(), model);
    const { generated } = predict(model, { prefix: 'The Time Traveller', numChars: 400, temperature: 0.8, seed: 1 }, km);
    expect(generated).toMatch(/[A-Z]/);
    expect(generated).toMatch(/[.,;]/);
    // No margin learnt: a line break is followed by the next line's text, not by a space.
    const breaks = generated.match(/\n./g) ?? [];
    expect(breaks.length).toBeGreaterThan(3);
    expect(breaks.filter((b) => b === '\n ').length).toBeLessThan(breaks.length / 4);
    const words = generated.split(/[^A-Za-z]+/).filter((w) => w.length > 2);
    const known = new Set(readFileSync(`${root}data/corpora/doyle-sherlock-holmes.txt`, 'utf8').split(/[^A-Za-z]+/));
    expect(words.filter((w) => known.has(w)).length / words.length).toBeGreaterThan(0.8);
  });
});
