/**
 * Cleaning a raw corpus file before it is learnt (`--preprocessing raw`; d2l's letter filter
 * removes both anyway):
 * - **mojibake**: UTF-8 that was once read as Windows-1252 or Latin-1 and saved again ("Ã©" for
 *   "é", "Â£" for "£", "â€”" for "—") is decoded back, as ftfy does for the common cases. Only
 *   sequences whose result is a character such text holds are taken — Latin-1 and Latin
 *   Extended-A letters and signs (U+00A0–U+017F), general punctuation (U+2010–U+205F), currency
 *   signs and letterlike symbols (U+20A0–U+214F) — so "»Ü«" or "É—" in a real text stay as they are.
 * - **margins**: a hard-wrapped book whose lines all begin with the same indentation (Project
 *   Gutenberg's Sherlock Holmes: one space before every line) would teach the model that every line
 *   break is followed by it. A file's margin is the longest run of spaces (or of tabs) that at least
 *   95% of its non-blank lines begin with; each line loses up to that much of its leading run, so
 *   indentation beyond the margin (verse, letters, quotations) stays, one margin less.
 * Runtime-free: a page's training reads files the same way.
 */

/** Windows-1252's bytes 0x80–0x9F (0: undefined there; Latin-1 reads them as C1 controls U+0080–U+009F). */
const CP1252_HIGH = [
  0x20ac, 0, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017d, 0, 0, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022,
  0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0, 0x017e, 0x0178,
];
/** A character → the byte Windows-1252 or Latin-1 wrote it from (−1: neither has it). */
const BYTE_OF = new Map<number, number>();
for (let b = 0x80; b <= 0xff; b++) BYTE_OF.set(b, b); // Latin-1 (C1 controls included)
CP1252_HIGH.forEach((cp, i) => cp && BYTE_OF.set(cp, 0x80 + i));
const byteOf = (cp: number): number => (cp < 0x80 ? cp : (BYTE_OF.get(cp) ?? -1));

/** Whether a repaired character is one such text holds (see the file's comment). */
const plausible = (cp: number): boolean => (cp >= 0xa0 && cp <= 0x17f) || (cp >= 0x2010 && cp <= 0x205f) || (cp >= 0x20a0 && cp <= 0x214f);

/**
 * The character a mojibake sequence starting at `text[i]` stood for, and how many characters it
 * spans; null where none starts there. A sequence is a UTF-8 lead byte (0xC2–0xF4) and its
 * continuation bytes (0x80–0xBF), each read back through Windows-1252 or Latin-1.
 */
function mojibakeAt(text: string, i: number): { cp: number; length: number } | null {
  const lead = byteOf(text.charCodeAt(i));
  const n = lead >= 0xc2 && lead <= 0xdf ? 1 : lead >= 0xe0 && lead <= 0xef ? 2 : lead >= 0xf0 && lead <= 0xf4 ? 3 : 0;
  if (n === 0) return null;
  let cp = lead & (0x3f >> n);
  for (let k = 1; k <= n; k++) {
    const b = i + k < text.length ? byteOf(text.charCodeAt(i + k)) : -1;
    if (b < 0x80 || b > 0xbf) return k === 1 && lostA0(text, i) ? { cp: 0xe0, length: 2 } : null;
    cp = (cp << 6) | (b & 0x3f);
  }
  const min = [0, 0x80, 0x800, 0x10000][n];
  return cp >= min && plausible(cp) ? { cp, length: n + 1 } : null;
}

/**
 * "à" (C3 A0) whose A0, a no-break space, became a plain space on the way: "voilÃ  tout",
 * "tÃªte-Ã -tÃªte". Taken after a lower-case letter or a hyphen and before a character that is
 * not a letter, so an upper-case word ending in Ã ("IRMÃ E") stays.
 */
const lostA0 = (text: string, i: number): boolean =>
  text[i] === 'Ã' && text[i + 1] === ' ' && /[\p{Ll}-]/u.test(text[i - 1] ?? '') && !/\p{L}/u.test(text[i + 2] ?? '');

/** `text` with its mojibake decoded back, and how many characters were repaired. */
export function repairMojibake(text: string): { text: string; repaired: number } {
  let out = '';
  let from = 0;
  let repaired = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0xc2 || c > 0xff) continue; // every sequence starts with Â…ô (0xC2–0xF4 read as Latin-1)
    const m = mojibakeAt(text, i);
    if (!m) continue;
    out += text.slice(from, i) + String.fromCodePoint(m.cp);
    i += m.length - 1;
    from = i + 1;
    repaired++;
  }
  return repaired ? { text: out + text.slice(from), repaired } : { text, repaired: 0 };
}

/** The longest indentation counted for a margin. */
const MAX_MARGIN = 16;
/** The share of non-blank lines that must begin with a margin. */
const MARGIN_SHARE = 0.95;

/** A file's margin: `width` spaces or tabs (width 0: none). */
export interface Margin {
  char: ' ' | '\t';
  width: number;
}

/** The margin of a file's text, from its bytes (spaces, tabs and line breaks are ASCII, so any UTF-8 text reads the same). */
export function findMargin(bytes: Uint8Array): Margin {
  const counts = { ' ': new Array<number>(MAX_MARGIN + 1).fill(0), '\t': new Array<number>(MAX_MARGIN + 1).fill(0) };
  let nonBlank = 0;
  for (let i = 0; i < bytes.length; ) {
    let j = i;
    while (j < bytes.length && (bytes[j] === 0x20 || bytes[j] === 0x09)) j++;
    const blank = j === bytes.length || bytes[j] === 0x0a || bytes[j] === 0x0d;
    if (!blank) {
      nonBlank++;
      if (j > i) {
        const c = bytes[i] === 0x20 ? ' ' : '\t';
        let run = 0;
        while (run < MAX_MARGIN && i + run < j && bytes[i + run] === bytes[i]) run++;
        counts[c][run]++;
      }
    }
    while (j < bytes.length && bytes[j] !== 0x0a) j++;
    i = j + 1;
  }
  for (const char of [' ', '\t'] as const) {
    let atLeast = 0; // lines whose leading run of `char` is at least `width`
    for (let width = MAX_MARGIN; width >= 1; width--) {
      atLeast += counts[char][width];
      if (atLeast >= MARGIN_SHARE * nonBlank && nonBlank > 0) return { char, width };
    }
  }
  return { char: ' ', width: 0 };
}

/** `text` (whole lines, \n line breaks) with up to `margin` removed from the start of each line, and how many lines lost some. */
export function removeMargin(text: string, margin: Margin): { text: string; lines: number } {
  if (margin.width === 0) return { text, lines: 0 };
  let lines = 0;
  const re = new RegExp(`^${margin.char === ' ' ? ' ' : '\\t'}{1,${margin.width}}`, 'gm');
  return {
    text: text.replace(re, () => {
      lines++;
      return '';
    }),
    lines,
  };
}

/** A margin as the run's summary says it. */
export const describeMargin = (m: Margin): string => `${m.width} ${m.char === ' ' ? 'space' : 'tab'}${m.width === 1 ? '' : 's'}`;
