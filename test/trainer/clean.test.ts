import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readModelDir } from '../../shared/platform/node.ts';
import { main } from '../../trainer/cli.ts';
import { findMargin, removeMargin, repairMojibake } from '../../trainer/clean.ts';
import { readingSummary } from '../../trainer/corpus.ts';
import { readCorpus } from '../../trainer/corpus-files.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const utf8 = (s: string) => new TextEncoder().encode(s);
/** `s` as UTF-8 bytes read back one character per byte: Windows-1252 (WHATWG's decoder), or Latin-1 proper (C1 controls). */
const asCp1252 = (s: string) => new TextDecoder('windows-1252').decode(utf8(s));
const asLatin1 = (s: string) => String.fromCharCode(...utf8(s));

describe('mojibake repair', () => {
  const words = [
    'café',
    'Bohème',
    'cañon',
    'maître',
    '£4 a week',
    '“quoted”',
    'God’s',
    'a—dash',
    'wait…',
    'Nadir™',
    '€5',
    'daß',
    'Œuvre',
    'Łódź',
    'İstanbul',
    '½ per cent',
  ];

  it('decodes UTF-8 read as Windows-1252 or as Latin-1 back to the text, counting one per character', () => {
    for (const w of words) {
      const nonAscii = [...w].filter((c) => c.charCodeAt(0) > 0x7f).length;
      for (const garble of [asCp1252, asLatin1]) {
        expect(garble(w)).not.toBe(w);
        expect(repairMojibake(`He said ${garble(w)}, then left.`), `${garble.name} ${w}`).toEqual({ text: `He said ${w}, then left.`, repaired: nonAscii });
      }
    }
  });

  it('leaves real text alone: Latin-1 letters and signs, guillemets, dashes next to capitals, and repairs nothing twice', () => {
    for (const s of ['»Ü« and CAFÉ— and café»— end', 'naïve façade, £4, © 1899, 10°', 'IRMÃ E FILHO', 'Ã alone', 'plain ASCII text', 'Señor Müller’s “Æsop”'])
      expect(repairMojibake(s)).toEqual({ text: s, repaired: 0 });
    const once = repairMojibake(asCp1252(words.join(' '))).text;
    expect(repairMojibake(once)).toEqual({ text: once, repaired: 0 });
  });

  it('takes back an à whose no-break space became a plain one (voilà, tête-à-tête)', () => {
    expect(repairMojibake('VoilÃ  tout! tÃªte-Ã -tÃªte')).toEqual({ text: 'Voilà tout! tête-à-tête', repaired: 4 });
  });
});

describe('margins', () => {
  const book = (lines: string[]) => utf8(lines.join('\n'));

  it('is the indentation 95% of the non-blank lines begin with; deeper lines keep the rest', () => {
    const lines = [...Array.from({ length: 96 }, (_, i) => ` line ${i}`), '', '', 'HEADING', 'TITLE', '      a verse', '       another'];
    const m = findMargin(book(lines));
    expect(m).toEqual({ char: ' ', width: 1 });
    const r = removeMargin(lines.join('\n'), m);
    expect(r.lines).toBe(98);
    expect(r.text.split('\n').slice(-6)).toEqual(['', '', 'HEADING', 'TITLE', '     a verse', '      another']);
    expect(r.text.startsWith('line 0\nline 1\n')).toBe(true);
  });

  it('none where fewer lines share one (prose with indented paragraphs, verse), and tabs count as their own', () => {
    const paragraphs = Array.from({ length: 100 }, (_, i) => (i % 5 === 0 ? `    Paragraph ${i}` : `text ${i}`));
    expect(findMargin(book(paragraphs)).width).toBe(0);
    expect(findMargin(book(['\t\tone', '\t\ttwo', '\t\tthree', '', '\t\tfour']))).toEqual({ char: '\t', width: 2 });
    expect(findMargin(book(['  one', '\t two']))).toEqual({ char: ' ', width: 0 });
    expect(findMargin(new Uint8Array(0)).width).toBe(0);
    expect(removeMargin('  a\n b\nc', { char: ' ', width: 0 })).toEqual({ text: '  a\n b\nc', lines: 0 });
  });
});

describe('reading a raw book', () => {
  const doyle = { path: join(ROOT, 'data/corpora/doyle-sherlock-holmes.txt'), author: 'doyle' };
  const raw = { preprocessing: 'raw' as const, keepBoilerplate: false, authorTags: false };

  it('Sherlock Holmes: its mojibake repaired and its one-space margin removed, said in the run summary; both kept on request', async () => {
    const c = await readCorpus([doyle], raw);
    const text = c.vocab.decode(c.ids[0]);
    for (const bad of ['Ã', 'Â', 'â€']) expect(text).not.toContain(bad);
    expect(text).toContain('Voilà tout!');
    expect(text).toContain('£4 a week');
    expect(text.match(/\n /g)?.length ?? 0).toBeLessThan(1000); // was a space after every line break
    const f = c.files[0];
    expect(f.repaired).toBe(95);
    expect(f.margin).toEqual({ char: ' ', width: 1, lines: 50029 });
    expect(readingSummary(c.files)).toEqual([
      `${doyle.path}: 95 mojibake characters repaired (UTF-8 once read as Windows-1252; --keep-mojibake keeps them); a margin of 1 space removed from 50,029 lines (--keep-margins keeps it)`,
    ]);
    const kept = await readCorpus([doyle], { ...raw, keepMojibake: true, keepMargins: true });
    expect(kept.vocab.decode(kept.ids[0])).toContain('VoilÃ  tout!');
    expect(kept.files[0]).toMatchObject({ repaired: 0, margin: { width: 0, lines: 0 } });
    expect(readingSummary(kept.files)).toEqual([]);
    const d2l = await readCorpus([doyle], { ...raw, preprocessing: 'd2l' });
    expect(d2l.files[0]).toMatchObject({ repaired: 0, margin: { width: 0, lines: 0 } }); // its letter filter drops both anyway
  });
});

describe('deeprnn evaluate reads text as the model was trained on it', () => {
  it("cleaned or as written, by the run's record; --clean cleans for a model that was not", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'deeprnn-clean-'));
    try {
      const text = (await readFile(join(ROOT, 'data/corpora/doyle-sherlock-holmes.txt'), 'utf8')).slice(30_000, 42_000);
      const book = join(dir, 'doyle.txt');
      await writeFile(book, `${text}\n VoilÃ  tout! He paid Â£4 a week.\n`);
      const cli = async (args: string[]) => {
        let out = '';
        let err = '';
        const code = await main(
          args,
          (s) => (out += `${s}\n`),
          (s) => (err += `${s}\n`),
        );
        return { code, out, err };
      };
      const TRAIN = [
        '--corpus',
        book,
        '--hidden',
        '16',
        '--batch-size',
        '4',
        '--num-steps',
        '16',
        '--epochs',
        '1',
        '--engine',
        'native',
        '--threads',
        '1',
        '--val-fraction',
        '0.1',
      ];
      const score = async (model: string, ...extra: string[]) => {
        const r = await cli(['evaluate', '--model', model, '--corpus', book, '--held-out', '0.1', '--json', ...extra]);
        expect(r.err).toBe('');
        return JSON.parse(r.out).overall.perplexity as number;
      };
      for (const [name, keep] of [
        ['cleaned', []],
        ['as-written', ['--keep-mojibake', '--keep-margins']],
      ] as const) {
        const out = join(dir, name);
        expect((await cli(['train', ...TRAIN, ...keep, '--out', out])).code).toBe(0);
        const m = await readModelDir(out);
        expect(m.vocab.has('Ã')).toBe(keep.length > 0);
        expect(await score(out)).toBeCloseTo(m.training!.validationPerplexity!, 3);
      }
      const asWritten = join(dir, 'as-written');
      expect(await score(asWritten, '--clean')).not.toBeCloseTo(await score(asWritten), 2);
      const both = await cli(['evaluate', '--model', asWritten, '--corpus', book, '--clean', '--keep-margins']);
      expect([both.code, both.err]).toEqual([2, 'deeprnn evaluate: --clean removes what --keep-margins keeps: give one of them\n']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
