import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../shared/rng.ts';
import { tokenizeChars } from '../../shared/text.ts';
import { authorToken, Vocab } from '../../shared/vocab.ts';
import { corpusFile, invalidUtf8Offset, samplePrefixOf, splitCorpus, textBounds } from '../../trainer/corpus.ts';
import { readCorpus } from '../../trainer/corpus-files.ts';
import { checkWindows, randomWindows, sequentialWindows } from '../../trainer/data.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const TM = { path: join(ROOT, 'data/timemachine.txt'), author: 'wells' };
const range = (n: number) => Int32Array.from({ length: n }, (_, i) => i);
const d2l = { preprocessing: 'd2l' as const, keepBoilerplate: false, authorTags: false };
const raw = { preprocessing: 'raw' as const, keepBoilerplate: false, authorTags: false };
let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'deeprnn-data-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));
const file = async (name: string, content: string | Uint8Array) => {
  const path = join(dir, name);
  await writeFile(path, content);
  return path;
};

describe('load_data_time_machine', () => {
  it("keeps d2l's first 10,000 tokens: 8 windows, 8,960 tokens per epoch at batch 32 × 35", async () => {
    const c = await readCorpus([TM], d2l);
    const { train, validation } = splitCorpus(c, { maxTokens: 10000, valFraction: 0, authorTags: false });
    expect(c.vocab.size).toBe(28);
    expect(train.length).toBe(10000);
    expect(train).toBeInstanceOf(Uint16Array); // 2 bytes a character
    expect(validation).toHaveLength(0);
    expect(c.vocab.decode(train.subarray(0, 16))).toBe('the time machine');
    for (let seed = 0; seed < 20; seed++) {
      const windows = [...sequentialWindows(train, 32, 35, new Rng(seed))];
      expect(windows.length).toBe(8);
      expect(windows.reduce((n, w) => n + w.x.length, 0)).toBe(8960);
    }
  });

  it("reads the book as d2l's tokenizer does, with the same vocabulary", async () => {
    const text = await readFile(TM.path, 'utf8');
    const c = await readCorpus([TM], d2l);
    const tokens = tokenizeChars(text, 'd2l');
    expect(c.vocab.tokens).toEqual(Vocab.build(tokens).tokens);
    expect(c.vocab.decode(c.ids[0])).toBe(tokens.join(''));
    const r = await readCorpus([TM], raw);
    expect(r.vocab.decode(r.ids[0])).toBe(tokenizeChars(text, 'raw').join(''));
  });

  it('holds out the end of each file for validation, not only the last file', async () => {
    const a = await file('a.txt', 'abcd'.repeat(50));
    const b = await file('b.txt', 'wxyz'.repeat(25));
    const c = await readCorpus(
      [
        { path: a, author: 'a' },
        { path: b, author: 'b' },
      ],
      raw,
    );
    const s = splitCorpus(c, { maxTokens: 0, valFraction: 0.1, authorTags: false });
    expect(s.validation.map((v) => [v.file, v.ids.length])).toEqual([
      [a, 20],
      [b, 10],
    ]);
    expect(c.vocab.decode(s.validation[0].ids)).toBe('abcd'.repeat(5));
    expect(c.vocab.decode(s.validation[1].ids)).toBe('yzwxyzwxyz'); // the last 10 of 100
    expect(c.vocab.decode(s.train)).toBe('abcd'.repeat(45) + 'wxyz'.repeat(25).slice(0, 90));
  });

  it('builds one vocabulary over several files', async () => {
    const c = await readCorpus(
      [
        { path: await file('x.txt', 'ab\n'), author: 'x' },
        { path: await file('y.txt', 'bc\n'), author: 'y' },
      ],
      raw,
    );
    expect(c.vocab.tokens).toEqual(['<unk>', 'b', '\n', 'a', 'c']);
    expect(Array.from(splitCorpus(c, { maxTokens: 0, valFraction: 0, authorTags: false }).train)).toEqual([3, 1, 2, 1, 4, 2]);
  });

  it('refuses a corpus too small for one window', () => {
    expect(() => checkWindows(100, 32, 35, 'training')).toThrow(/training set has 100 tokens: too few/);
    expect(() => checkWindows(2000, 32, 35, 'training')).not.toThrow();
  });
});

describe('real files', () => {
  it('removes a Project Gutenberg header and footer, and a YAML front matter, and says how much', async () => {
    const wotw = { path: join(ROOT, 'data/corpora/wells-war-of-the-worlds.txt'), author: 'wells' };
    const frank = { path: join(ROOT, 'data/corpora/shelley-frankenstein.txt'), author: 'shelley' };
    const c = await readCorpus([wotw, frank], raw);
    const [w, f] = c.ids.map((ids) => c.vocab.decode(ids));
    expect(w).not.toMatch(/Project Gutenberg|\*\*\* (START|END) OF/i);
    expect(w.trimStart().startsWith('cover')).toBe(true);
    expect(w.trimEnd().endsWith('among the dead.')).toBe(true);
    expect(f).not.toMatch(/^---|title: Frankenstein/);
    expect(f.trimStart().startsWith('Letter 1')).toBe(true);
    expect(c.files[0].removed.header).toBeGreaterThan(500);
    expect(c.files[0].removed.footer).toBeGreaterThan(15000);
    expect(c.files[1].removed).toEqual({ header: 141, footer: 0 });
    const kept = await readCorpus([wotw], { ...raw, keepBoilerplate: true });
    expect(kept.files[0].removed).toEqual({ header: 0, footer: 0 });
    expect(kept.vocab.decode(kept.ids[0])).toMatch(/Project Gutenberg/);
    expect(textBounds(new TextEncoder().encode('no markers here'))).toEqual({ start: 0, end: 15 });
  });

  it('names the file and the byte offset of invalid UTF-8', async () => {
    const bad = await file('latin1.txt', Buffer.concat([Buffer.from('good text\n'.repeat(3)), Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a])]));
    await expect(readCorpus([{ path: bad, author: 'x' }], raw)).rejects.toThrow(/latin1\.txt is not valid UTF-8: invalid byte 0xe9 at byte offset 33/);
    // The offset counts from the file's first byte, past a BOM and a removed header too.
    const header = Buffer.from('*** START OF THE PROJECT GUTENBERG EBOOK X ***\n');
    const behind = await file('behind.txt', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), header, Buffer.from('caf'), Buffer.from([0xe9])]));
    await expect(readCorpus([{ path: behind, author: 'x' }], raw)).rejects.toThrow(new RegExp(`invalid byte 0xe9 at byte offset ${3 + header.length + 3}\\b`));
    const inHeader = await file('head.txt', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf, 0x61, 0xe9, 0x0a]), header, Buffer.from('text')]));
    await expect(readCorpus([{ path: inHeader, author: 'x' }], raw)).rejects.toThrow(/invalid byte 0xe9 at byte offset 4\b/);
    // A file's checksum and size are the file's own, BOM included (what sha256sum and ls say).
    const withBom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('text\n')]);
    const ok = await readCorpus([{ path: await file('bom.txt', withBom), author: 'x' }], raw);
    expect(ok.files[0]).toMatchObject({ bytes: withBom.length, sha256: createHash('sha256').update(withBom).digest('hex') });
    expect(ok.vocab.decode(ok.ids[0])).toBe('text\n');
    expect(invalidUtf8Offset(Uint8Array.of(0x61, 0xc3, 0xa9, 0xf0, 0x9f, 0x99, 0x82))).toBe(-1);
    expect(invalidUtf8Offset(Uint8Array.of(0x61, 0xed, 0xa0, 0x80))).toBe(1); // a UTF-16 surrogate
    expect(invalidUtf8Offset(Uint8Array.of(0xc0, 0x80))).toBe(0); // overlong
  });

  it('takes authors from --corpus NAME=FILE or the file name', () => {
    expect(corpusFile('doyle=data/x.txt')).toEqual({ path: 'data/x.txt', author: 'doyle' });
    expect(corpusFile('data/corpora/wells-war-of-the-worlds.txt').author).toBe('wells');
    expect(() => corpusFile('bad name!=x.txt')).toThrow(/author name/);
  });

  it('reads with a given vocabulary: unknown characters refused with their list, or read as <unk>', async () => {
    const vocab = new Vocab(['<unk>', 'a', 'b', ' ']);
    const path = await file('mixed.txt', 'ab zz ab q');
    await expect(readCorpus([{ path, author: 'x' }], { ...raw, vocab })).rejects.toThrow(
      /2 characters the model's vocabulary does not: "z" ×2, "q" ×1\. Pass --unknown-chars unk/,
    );
    const c = await readCorpus([{ path, author: 'x' }], { ...raw, vocab, unknownChars: 'unk' });
    expect(c.files[0].unknown).toBe(3);
    expect(Array.from(c.ids[0])).toEqual([1, 2, 3, 0, 0, 3, 1, 2, 3, 0]);
  });

  it('author tags: reserved entries after <unk>, read at the start of every paragraph', async () => {
    const a = await file('alice.txt', 'Para one.\n\nPara two\nstill two.\n\n\nThree');
    const b = await file('bob.txt', 'Bob here');
    const c = await readCorpus(
      [
        { path: a, author: 'alice' },
        { path: b, author: 'bob' },
      ],
      { ...raw, authorTags: true },
    );
    expect(c.vocab.tokens.slice(0, 3)).toEqual(['<unk>', authorToken('alice'), authorToken('bob')]);
    expect([...c.vocab.authors.entries()]).toEqual([
      ['alice', 1],
      ['bob', 2],
    ]);
    expect(c.vocab.decode(c.ids[0])).toBe('<author:alice>Para one.\n\n<author:alice>Para two\nstill two.\n\n\n<author:alice>Three');
    expect(c.vocab.decode(c.ids[1])).toBe('<author:bob>Bob here');
    expect(c.files[0].characters).toBe('Para one.\n\nPara two\nstill two.\n\n\nThree'.length);
    const s = splitCorpus(c, { maxTokens: 0, valFraction: 0.3, authorTags: true });
    expect(s.validation.every((v) => c.vocab.isSpecial(v.ids[0]))).toBe(true); // each held-out part starts with its author
    expect(samplePrefixOf(c.vocab, c.ids[0], 'raw')).toBe('Para one');
  });

  it('keeps memory near 2 bytes per character of the text it holds', async () => {
    const big = await file('big.txt', 'the quick brown fox jumps over the lazy dog.\n'.repeat(100_000)); // 4.5 MB
    const c = await readCorpus([{ path: big, author: 'x' }], raw);
    expect(c.ids[0]).toBeInstanceOf(Uint16Array);
    expect(c.ids[0].byteLength).toBe(2 * 4_500_000);
    expect(
      createHash('sha256')
        .update(await readFile(big))
        .digest('hex'),
    ).toBe(c.files[0].sha256);
  });
});

describe("d2l's sequential iterator", () => {
  it('reshapes to [batch, -1] after a random offset, windows continue each row, Y is X shifted by one', () => {
    // d2l's own example: corpus 0..34, batch 2, 5 steps
    const rng = new Rng(3);
    const offset = new Rng(3).randint(0, 5);
    const windows = [...sequentialWindows(range(35), 2, 5, rng)];
    const perRow = Math.floor((35 - offset - 1) / 2);
    expect(windows.length).toBe(Math.floor(perRow / 5));
    windows.forEach((w, i) => {
      expect(Array.from(w.x.subarray(0, 5))).toEqual(Array.from(range(5)).map((k) => offset + i * 5 + k));
      expect(Array.from(w.x.subarray(5, 10))).toEqual(Array.from(range(5)).map((k) => offset + perRow + i * 5 + k));
      expect(Array.from(w.y)).toEqual(Array.from(w.x).map((v) => v + 1));
    });
  });

  it('draws the offset in [0, numSteps] and cuts the corpus to a multiple of the batch size', () => {
    const seen = new Set<number>();
    for (let s = 0; s < 300; s++) {
      const [first] = sequentialWindows(range(200), 4, 5, new Rng(s));
      seen.add(first.x[0]);
    }
    expect([...seen].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5]);
    // offset 0 → 199 usable tokens → 196 (a multiple of 4) → 49 per row → 9 windows of 5
    expect([...sequentialWindows(range(200), 4, 5, null)].length).toBe(9);
  });
});

describe("d2l's random iterator", () => {
  it('yields non-overlapping subsequences, shuffled, each Y = X + 1, with offset in [0, numSteps − 1]', () => {
    const offsets = new Set<number>();
    for (let s = 0; s < 200; s++) {
      const windows = [...randomWindows(range(35), 2, 5, new Rng(s))];
      const starts = windows.flatMap((w) => [w.x[0], w.x[5]]);
      offsets.add(Math.min(...starts) % 5);
      expect(windows.length).toBe(3); // (35 − offset − 1) // 5 = 6 subsequences → 3 batches of 2
      expect(new Set(starts).size).toBe(starts.length);
      for (const w of windows) {
        expect(Array.from(w.y)).toEqual(Array.from(w.x).map((v) => v + 1));
        for (const b of [0, 1]) expect(Array.from(w.x.subarray(b * 5, b * 5 + 5))).toEqual(Array.from(range(5)).map((k) => w.x[b * 5] + k));
      }
    }
    expect([...offsets].sort()).toEqual([0, 1, 2, 3, 4]);
  });
});
