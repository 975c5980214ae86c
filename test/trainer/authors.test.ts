import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readModelDir } from '../../shared/platform/node.ts';
import { main } from '../../trainer/cli.ts';

// Your own text: several files and authors, held-out validation per file, `deeprnn evaluate`,
// fine-tuning with --init-from, and author tags from training to generation.
const ROOT = new URL('../..', import.meta.url).pathname;
let dir = '';
let wells = '';
let shelley = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'deeprnn-authors-'));
  wells = join(dir, 'wells.txt');
  shelley = join(dir, 'shelley.txt');
  await writeFile(wells, (await readFile(join(ROOT, 'data/timemachine.txt'), 'utf8')).slice(2000, 14000));
  await writeFile(shelley, (await readFile(join(ROOT, 'data/corpora/shelley-frankenstein.txt'), 'utf8')).slice(4000, 13000));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

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
const RUN = ['--batch-size', '4', '--num-steps', '16', '--engine', 'native', '--threads', '1', '--optimizer', 'adam', '--lr', '0.01'];
const TRAIN = ['--hidden', '24', ...RUN];

describe('several authors', () => {
  it("validates on every file's held-out end; deeprnn evaluate reproduces those figures", async () => {
    const o = join(dir, 'mixed');
    const r = await cli(['train', '--corpus', wells, '--corpus', shelley, ...TRAIN, '--epochs', '2', '--out', o]);
    expect(r.code).toBe(0);
    const model = await readModelDir(o);
    const details = model.training!.corpus!.details as { path: string; validationPerplexity: number; validationCharacters: number }[];
    expect(details.map((d) => d.path)).toEqual([wells, shelley]);
    expect(details.every((d) => d.validationPerplexity > 1 && d.validationCharacters > 800)).toBe(true);
    const metrics = (await readFile(join(o, 'metrics.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(Object.keys(metrics[0].validation)).toEqual([wells, shelley]);
    const ev = JSON.parse((await cli(['evaluate', '--model', o, '--corpus', wells, '--corpus', shelley, '--held-out', '0.1', '--json'])).out);
    expect(ev.files.map((f: { perplexity: number }) => f.perplexity)).toEqual(details.map((d) => d.validationPerplexity));
    expect(ev.overall.perplexity).toBeCloseTo(model.training!.validationPerplexity!, 3);
    const table = await cli(['evaluate', '--model', o, '--corpus', wells, '--corpus', shelley]);
    expect(table.out).toMatch(/^file +characters +perplexity +bits\/char +unknown\n/);
    expect(table.out).toMatch(/\noverall +\d+ +\d+\.\d{4}/);
  });

  it('fine-tunes with --init-from, keeping the vocabulary; new characters are refused with their list, or read as <unk>', async () => {
    const base = join(dir, 'base');
    expect((await cli(['train', '--corpus', wells, ...TRAIN, '--epochs', '1', '--out', base])).code).toBe(0);
    const baseModel = await readModelDir(base);
    const refused = await cli(['train', '--init-from', base, '--corpus', shelley, ...RUN, '--epochs', '1', '--out', join(dir, 'tuned-no')]);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/characters the model's vocabulary does not: .*Pass --unknown-chars unk/);
    const tuned = join(dir, 'tuned');
    expect((await cli(['train', '--init-from', base, '--corpus', shelley, ...RUN, '--epochs', '1', '--unknown-chars', 'unk', '--out', tuned])).code).toBe(0);
    const t = await readModelDir(tuned);
    expect(t.vocab.tokens).toEqual(baseModel.vocab.tokens);
    expect(t.training?.hyperparameters?.initFrom).toBe(base);
    expect((await cli(['train', '--init-from', base, '--corpus', shelley, '--hidden', '32', '--out', join(dir, 'x')])).err).toMatch(
      /--init-from takes the model's architecture and preprocessing; drop --hidden/,
    );
  });

  it('--author-tags: generation takes an author', async () => {
    const o = join(dir, 'tagged');
    expect(
      (await cli(['train', '--corpus', `wells=${wells}`, '--corpus', `shelley=${shelley}`, '--author-tags', ...TRAIN, '--epochs', '2', '--out', o])).code,
    ).toBe(0);
    const model = await readModelDir(o);
    expect([...model.vocab.authors.keys()]).toEqual(['wells', 'shelley']);
    const as = async (author: string) =>
      JSON.parse(
        (await cli(['generate', '--model', o, '--prefix', 'The ', '--num-chars', '80', '--temperature', '1', '--seed', '3', '--author', author, '--json'])).out,
      );
    const w = await as('wells');
    expect(w.author).toBe('wells');
    expect(w.generated).not.toMatch(/<author/);
    // The tag conditions the model: the same text reads differently under each author.
    const score = async (author: string) => JSON.parse((await cli(['score', '--model', o, '--text', w.text, '--author', author, '--json'])).out).logprob;
    expect(await score('wells')).not.toBe(await score('shelley'));
    expect((await cli(['generate', '--model', o, '--author', 'doyle'])).err).toMatch(/author must be one of wells, shelley/);
    const ev = await cli(['evaluate', '--model', o, '--corpus', `shelley=${shelley}`, '--held-out', '0.1', '--json']);
    expect(JSON.parse(ev.out).authorTags).toBe(true);
  });
});
