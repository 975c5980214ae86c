import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { atParagraphStart, normalizePrefix, readLines, readTimeMachineLines, tokenizeChars } from '../../shared/text.ts';
import { UNK, Vocab } from '../../shared/vocab.ts';

const corpus = readFileSync(new URL('../../data/timemachine.txt', import.meta.url), 'utf8');

describe("d2l's time machine corpus", () => {
  it('is the exact file d2l uses', () => {
    const sha1 = createHash('sha1')
      .update(readFileSync(new URL('../../data/timemachine.txt', import.meta.url)))
      .digest('hex');
    expect(sha1).toBe('090b5e7e70c295757f55df93cb0a180b9691891a');
  });

  it("gives d2l's figures: 3221 lines, 170,580 character tokens, 28 vocabulary entries", () => {
    const lines = readTimeMachineLines(corpus);
    expect(lines.length).toBe(3221);
    expect(lines[0]).toBe('the time machine by h g wells');
    expect(lines[10]).toBe('twinkled and his usually pale face was flushed and animated the');
    const tokens = tokenizeChars(corpus, 'd2l');
    expect(tokens.length).toBe(170580);
    const vocab = Vocab.build(tokens);
    expect(vocab.size).toBe(28);
    expect(vocab.tokens.join(',')).toBe([UNK, ' ', ...'etainoshrdlmucfwgypbvkxzjq'].join(','));
  });

  it('concatenates lines with no separator, as d2l does', () => {
    expect(tokenizeChars('Hello,\nWorld!\n', 'd2l').join('')).toBe('helloworld');
    expect(tokenizeChars('a\r\nb\rc', 'd2l').join('')).toBe('abc');
  });
});

describe('vocabulary', () => {
  it('orders by descending frequency, ties by first appearance, <unk> first', () => {
    const v = Vocab.build([...'bbaacccd']);
    expect(v.tokens).toEqual([UNK, 'c', 'b', 'a', 'd']);
    expect(v.unkIndex).toBe(0);
  });

  it('maps unknown characters to <unk> and never throws', () => {
    const v = Vocab.build([...'abc']);
    expect(v.encode('a?zé🙂')).toEqual([v.indexOf('a'), 0, 0, 0, 0]);
  });

  it('builds from several files and keeps case and punctuation in raw mode', () => {
    const tokens = [...tokenizeChars('Héllo, World!\r\n', 'raw'), ...tokenizeChars('¿Qué? 🙂', 'raw')];
    const v = Vocab.build(tokens);
    expect(v.tokens).toContain('H');
    expect(v.tokens).toContain('é');
    expect(v.tokens).toContain('\n');
    expect(v.tokens).toContain('🙂');
    expect(v.tokens).not.toContain('\r');
  });

  it('refuses a token list without <unk> at its index or with duplicates', () => {
    expect(() => new Vocab(['a', '<unk>'])).toThrow(/must be "<unk>"/);
    expect(() => new Vocab(['<unk>', 'a', 'a'])).toThrow(/twice/);
  });
});

describe('prefix normalisation', () => {
  it('applies the d2l filter without trimming, folding accents', () => {
    expect(normalizePrefix('The Time-Traveller, ', 'd2l')).toBe('the time traveller ');
    expect(normalizePrefix('Café NAÏVE', 'd2l')).toBe('cafe naive');
  });
  it('keeps raw text as written (NFC)', () => {
    expect(normalizePrefix('Cafe\u0301!\r\n', 'raw')).toBe('Café!\n');
  });
});

describe('the vocabulary, worked out by hand', () => {
  const v = new Vocab(['<unk>', '<author:wells>', 'd', 'x', 'a', ' ', 'c', '"', 'b', '.', 'y', '\n']);

  it('says its alphabet in one line: runs of three or more consecutive letters as a–z, a shorter run spelled out, the rest as JSON', () => {
    expect(v.alphabet).toEqual(['\n', ' ', '"', '.', 'a', 'b', 'c', 'd', 'x', 'y']);
    expect(v.describeAlphabet()).toBe('"\\n" " " "\\"" "." a–d x y');
    expect(new Vocab(['<unk>', 'a', 'b', 'é']).describeAlphabet()).toBe('a b é');
  });

  it('knows its characters, not <unk> or its tags; unknown characters read as <unk>', () => {
    expect(['a', '\n', '"'].every((c) => v.has(c))).toBe(true);
    expect(v.has('<unk>')).toBe(false);
    expect(v.has('<author:wells>')).toBe(false);
    expect(v.has('z')).toBe(false);
    expect(v.encode('az')).toEqual([4, 0]);
    expect(v.authors.get('wells')).toBe(1);
    expect([0, 1, 2].map(v.isSpecial)).toEqual([true, true, false]);
  });

  it('orders a corpus by frequency after <unk> and the tags, and refuses a broken table with the reason', () => {
    const counts = new Map([
      ['b', 2],
      ['<unk>', 9],
      ['a', 5],
    ]);
    expect(Vocab.fromCounts(counts, ['shelley']).tokens).toEqual(['<unk>', '<author:shelley>', 'a', 'b']);
    expect(() => new Vocab(['a', '<unk>'])).toThrow(/vocabulary entry 0 must be "<unk>"/);
    expect(() => new Vocab(['<unk>', 'a', 'a'])).toThrow(/vocabulary token "a" appears twice/);
    expect(() => new Vocab(['<unk>', 'ab'])).toThrow(/vocabulary token "ab" is neither one character, <unk> nor an author tag/);
  });
});

describe('paragraph starts and line ends', () => {
  it('a paragraph starts at the beginning and after a blank line (raw); every place is one in d2l text (no line breaks)', () => {
    expect(atParagraphStart('', 'raw')).toBe(true);
    expect(atParagraphStart('The end.\n\n', 'raw')).toBe(true);
    expect(atParagraphStart('The end.\n', 'raw')).toBe(false);
    expect(atParagraphStart('\n\nThe', 'raw')).toBe(false);
    expect(atParagraphStart('the time', 'd2l')).toBe(true);
  });

  it('a lone carriage return is a line break too, in prefixes and in corpora', () => {
    expect(normalizePrefix('a\rb\r\nc', 'raw')).toBe('a\nb\nc');
    expect(tokenizeChars('a\rb', 'raw')).toEqual(['a', '\n', 'b']);
    expect(readLines('one\rtwo\r\nthree\n')).toEqual(['one', 'two', 'three']);
    expect(normalizePrefix('e\u0301\u0301', 'd2l')).toBe('e');
  });
});
