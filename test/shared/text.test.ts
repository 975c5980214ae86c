import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { normalizePrefix, readTimeMachineLines, tokenizeChars } from '../../shared/text.ts';
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
