/**
 * Corpus files → character ids, d2l's `load_corpus_time_machine` made to hold up on real files
 * and large ones:
 * - strict UTF-8: a bad byte is an error naming the file and its byte offset;
 * - boilerplate removed by default (a Project Gutenberg licence header and footer, a leading
 *   YAML front matter), and how many characters each file lost is reported;
 * - compact: ids are 16-bit (32-bit only past 65,535 distinct characters), each file is decoded
 *   a chunk at a time and the vocabulary is counted in the same pass, so memory stays at a few
 *   bytes per character (a 200 MB text peaks near 4 bytes per character);
 * - raw text cleaned (clean.ts): mojibake repaired, a hard-wrapped book's margin removed;
 * - author tags: with `authorTags`, each file's author tag is read at the start of every paragraph.
 * Runtime-free: a source is anything that gives bytes (a file in Node: trainer/corpus-files.ts; a
 * pasted text or a dropped file in a page), and the SHA-256 is the host's.
 */
import { DeeprnnError, OptionError } from '../shared/errors.ts';
import { describeMargin, findMargin, type Margin, removeMargin, repairMojibake } from './clean.ts';
import type { Model } from '../shared/model.ts';
import { d2lLine, type Preprocessing } from '../shared/text.ts';
import { AUTHOR_NAME, authorToken, UNK, Vocab } from '../shared/vocab.ts';

/** Token ids of a corpus: 16 bits each unless the vocabulary outgrows them. */
export type IdArray = Uint16Array | Uint32Array | Int32Array;

export interface CorpusFile {
  path: string;
  /** The author's name for --author-tags: `--corpus NAME=FILE`, else from the file name. */
  author: string;
}

/** `--corpus [NAME=]FILE` → a file and its author name (the name up to the first - _ or .). */
export function corpusFile(arg: string): CorpusFile {
  const m = /^([^=/\\]+)=(.+)$/.exec(arg);
  const path = m ? m[2] : arg;
  const author = m ? m[1] : (path.split(/[/\\]/).pop() ?? '').split(/[-_.]/)[0].toLowerCase() || 'text';
  if (!AUTHOR_NAME.test(author))
    throw new OptionError(
      `--corpus ${arg}: the author name ${JSON.stringify(author)} must be letters, digits, - _ or . (at most 64), starting with a letter or digit; give one as NAME=FILE`,
    );
  return { path, author };
}

/** A corpus text as bytes, under the name its reports and errors use. */
export interface CorpusSource extends CorpusFile {
  bytes(): Promise<Uint8Array>;
}

/** An incremental SHA-256 (Node's crypto, or WebCrypto-free JavaScript in a page). */
export interface Sha256 {
  update(bytes: Uint8Array): void;
  /** Lower-case hex. */
  digest(): string;
}

export interface ReadOptions {
  preprocessing: Preprocessing;
  /** Keep Gutenberg licence blocks and YAML front matter (default: remove them). */
  keepBoilerplate: boolean;
  /** Raw text: keep mojibake as written (default: repair it; clean.ts). */
  keepMojibake?: boolean;
  /** Raw text: keep a file's margin, the indentation before its every line (default: remove it; clean.ts). */
  keepMargins?: boolean;
  /** Read each file's author tag at the start of every paragraph. */
  authorTags: boolean;
  /**
   * Read with this vocabulary (fine-tuning, evaluation) instead of counting a new one:
   * characters outside it are refused with their list (`refuse`) or read as <unk>.
   */
  vocab?: Vocab;
  unknownChars?: 'refuse' | 'unk';
}

export interface FileReport {
  path: string;
  author: string;
  sha256: string;
  bytes: number;
  /** Characters the model reads from it (after preprocessing; tags not counted). */
  characters: number;
  /** Characters of boilerplate removed before preprocessing. */
  removed: { header: number; footer: number };
  /** Characters outside a given vocabulary, read as <unk>. */
  unknown: number;
  /** Raw text: mojibake sequences decoded back, each now one character. */
  repaired: number;
  /** Raw text: the margin removed, and from how many lines. */
  margin: Margin & { lines: number };
}

export interface Corpus {
  vocab: Vocab;
  /** Each file's ids, in order (author tags included). */
  ids: IdArray[];
  files: FileReport[];
  /** SHA-256 of all files' bytes, in order. */
  sha256: string;
}

/** Strict UTF-8 → text (without a byte-order mark); a bad sequence names the file and byte offset. */
export function decodeUtf8(bytes: Uint8Array, file: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw badUtf8(file, bytes, invalidUtf8Offset(bytes), 0);
  }
}

/** The error for invalid UTF-8 at `bytes[at]`, where `bytes` starts at byte `base` of the file. */
function badUtf8(file: string, bytes: Uint8Array, at: number, base: number): DeeprnnError {
  return new DeeprnnError(
    'bad_utf8',
    `${file} is not valid UTF-8: invalid byte 0x${bytes[at].toString(16).padStart(2, '0')} at byte offset ${base + at} (convert the file to UTF-8, e.g. iconv -f latin1 -t utf-8)`,
  );
}

/** The offset of the first byte that does not belong to a valid UTF-8 sequence (−1: none). */
export function invalidUtf8Offset(b: Uint8Array, from = 0): number {
  for (let i = from; i < b.length; ) {
    const c = b[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    let n: number;
    let min: number;
    if (c >= 0xc2 && c <= 0xdf) [n, min] = [1, 0x80];
    else if (c >= 0xe0 && c <= 0xef) [n, min] = [2, 0x800];
    else if (c >= 0xf0 && c <= 0xf4) [n, min] = [3, 0x10000];
    else return i;
    let cp = c & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      if (i + k >= b.length || (b[i + k] & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (b[i + k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n + 1;
  }
  return -1;
}

const GUTENBERG_START = /^\*{3}\s*START OF (?:THE|THIS) PROJECT GUTENBERG E-?BOOK[^\n]*\n/im;
const GUTENBERG_END = /^\*{3}\s*END OF (?:THE|THIS) PROJECT GUTENBERG E-?BOOK/im;
const FRONT_MATTER = /^(?:\uFEFF)?---[ \t]*\r?\n[\s\S]*?\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|$)/;
/** Bytes of the head and tail searched for boilerplate markers. */
const MARKER_WINDOW = 256 * 1024;

/**
 * The byte range of a file's own text: after a YAML front matter or a Gutenberg START line,
 * before a Gutenberg END line. Markers are ASCII, so they are found in the bytes read as Latin-1.
 */
export function textBounds(bytes: Uint8Array): { start: number; end: number } {
  // One character per byte, so offsets in the text are offsets in the bytes.
  const latin1 = (from: number, to: number) => new TextDecoder('latin1').decode(bytes.subarray(from, to));
  const headEnd = Math.min(bytes.length, MARKER_WINDOW);
  const head = latin1(0, headEnd);
  let start = 0;
  const fm = FRONT_MATTER.exec(head);
  if (fm) start = fm[0].length;
  const gs = GUTENBERG_START.exec(head);
  if (gs) start = Math.max(start, gs.index + gs[0].length);
  const tailStart = Math.max(start, bytes.length - MARKER_WINDOW);
  const ge = GUTENBERG_END.exec(latin1(tailStart, bytes.length));
  const end = ge ? tailStart + ge.index : bytes.length;
  return { start, end };
}

const countChars = (bytes: Uint8Array) => {
  let n = 0;
  for (const b of bytes) if ((b & 0xc0) !== 0x80) n++; // every byte that starts a character
  return n;
};

/** A growing id array: 16-bit until an id needs more. */
class IdBuilder {
  private a: IdArray;
  length = 0;
  constructor(capacity: number) {
    this.a = new Uint16Array(Math.max(16, capacity));
  }
  push(id: number): void {
    if (this.length === this.a.length) {
      const b = new (this.a.constructor as Uint16ArrayConstructor)(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    if (id > 0xffff && this.a instanceof Uint16Array) this.a = Uint32Array.from(this.a);
    this.a[this.length++] = id;
  }
  done(): IdArray {
    return this.a.length === this.length ? this.a : this.a.slice(0, this.length);
  }
}

/**
 * Decoded text in pieces that end at a line break (normalisation never spans one). `base`: where
 * `bytes` starts in the file, so an error names the file's own byte offset.
 */
function* textChunks(bytes: Uint8Array, file: string, base: number, chunkBytes = 4 << 20): Generator<string> {
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
  let carry = '';
  for (let at = 0; at < bytes.length; at += chunkBytes) {
    let s: string;
    try {
      s = decoder.decode(bytes.subarray(at, Math.min(bytes.length, at + chunkBytes)), { stream: at + chunkBytes < bytes.length });
    } catch {
      throw badUtf8(file, bytes, invalidUtf8Offset(bytes, Math.max(0, at - 4)), base);
    }
    s = carry + s;
    const cut = s.lastIndexOf('\n') + 1;
    carry = s.slice(cut);
    if (cut > 0) yield s.slice(0, cut);
  }
  if (carry) yield carry;
}

/**
 * Read the corpus files: one vocabulary over all of them (or the one given), each file's ids.
 * The vocabulary is d2l's: <unk>, then (with author tags) one tag per author, then characters by
 * descending frequency, ties in order of first appearance.
 */
export async function buildCorpus(files: readonly CorpusSource[], o: ReadOptions & { sha256: () => Sha256 }): Promise<Corpus> {
  if (files.length === 0) throw new OptionError('give at least one corpus file');
  const authors = o.authorTags ? [...new Set(files.map((f) => f.author))] : [];
  if (o.vocab && o.authorTags) {
    const missing = authors.filter((a) => !o.vocab!.authors.has(a));
    if (missing.length)
      throw new OptionError(`the model has no author tag for ${missing.join(', ')} (it knows ${[...o.vocab.authors.keys()].join(', ') || 'none'})`);
  }
  // Provisional ids while counting: 0 <unk>, 1…A the tags, then characters by first appearance.
  const provisional = new Int32Array(0x110000).fill(-1); // code point → provisional id
  const firstSeen: number[] = []; // provisional id − 1 − A → code point
  const counts: number[] = [];
  const A = authors.length;
  const known = o.vocab;
  const unknownSeen = new Map<string, number>();
  const hash = o.sha256();
  const ids: IdArray[] = [];
  const reports: FileReport[] = [];

  for (const f of files) {
    let bytes = await f.bytes();
    hash.update(bytes);
    const one = o.sha256();
    one.update(bytes);
    const fileSha = one.digest();
    const fileBytes = bytes.length;
    const bom = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
    bytes = bytes.subarray(bom);
    const bounds = o.keepBoilerplate ? { start: 0, end: bytes.length } : textBounds(bytes);
    const body = bytes.subarray(bounds.start, bounds.end);
    const badHead = invalidUtf8Offset(bytes.subarray(0, bounds.start));
    if (badHead >= 0) throw badUtf8(f.path, bytes, badHead, bom);
    const out = new IdBuilder(body.length + (o.authorTags ? (body.length >> 4) + 16 : 0));
    const tag = o.authorTags ? (known ? known.authors.get(f.author)! : 1 + authors.indexOf(f.author)) : -1;
    let characters = 0;
    let unknown = 0;
    let repaired = 0;
    let margin: FileReport['margin'] = { char: ' ', width: 0, lines: 0 };
    /** One character (a code point) of the preprocessed text. */
    const put = (cp: number) => {
      characters++;
      if (known) {
        const ch = String.fromCodePoint(cp);
        const id = known.indexOf(ch);
        if (id === known.unkIndex) {
          unknown++;
          unknownSeen.set(ch, (unknownSeen.get(ch) ?? 0) + 1);
        }
        out.push(id);
        return;
      }
      let p = provisional[cp];
      if (p < 0) {
        p = provisional[cp] = 1 + A + firstSeen.length;
        firstSeen.push(cp);
        counts.push(0);
      }
      counts[p - 1 - A]++;
      out.push(p);
    };
    const putString = (s: string) => {
      for (let i = 0; i < s.length; i++) {
        const c = s.codePointAt(i)!;
        if (c > 0xffff) i++;
        put(c);
      }
    };
    if (o.preprocessing === 'd2l') {
      // d2l: each line filtered and lower-cased, lines joined with no separator; a tag starts
      // the text and every line that follows a blank one.
      let blank = true;
      let partial = '';
      for (const chunk of textChunks(body, f.path, bom + bounds.start)) {
        const lines = (partial + chunk).replace(/\r\n?/g, '\n').split('\n');
        partial = lines.pop()!;
        for (const line of lines) {
          const l = d2lLine(line);
          if (l && blank && tag >= 0) out.push(tag);
          blank = line.trim() === '';
          putString(l);
        }
      }
      const l = d2lLine(partial);
      if (l && blank && tag >= 0) out.push(tag);
      putString(l);
    } else {
      // raw: the text as written (NFC, line breaks as \n), mojibake repaired and the margin
      // removed (clean.ts); a tag before the first character of the text and of every paragraph
      // (after two or more line breaks).
      let breaks = 2;
      if (!o.keepMargins) margin = { ...findMargin(body), lines: 0 };
      for (const chunk of textChunks(body, f.path, bom + bounds.start)) {
        let s = chunk.replace(/\r\n?/g, '\n');
        if (!o.keepMojibake) {
          const r = repairMojibake(s);
          s = r.text;
          repaired += r.repaired;
        }
        if (margin.width > 0) {
          const r = removeMargin(s, margin);
          s = r.text;
          margin.lines += r.lines;
        }
        s = s.normalize('NFC');
        for (let i = 0; i < s.length; i++) {
          const c = s.codePointAt(i)!;
          if (c > 0xffff) i++;
          if (c === 10) breaks++;
          else {
            if (breaks >= 2 && tag >= 0) out.push(tag);
            breaks = 0;
          }
          put(c);
        }
      }
    }
    ids.push(out.done());
    reports.push({
      path: f.path,
      author: f.author,
      sha256: fileSha,
      bytes: fileBytes,
      characters,
      unknown,
      repaired,
      margin,
      removed: { header: countChars(bytes.subarray(0, bounds.start)), footer: countChars(bytes.subarray(bounds.end)) },
    });
  }

  if (known && unknownSeen.size > 0 && o.unknownChars !== 'unk') {
    const list = [...unknownSeen.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 40)
      .map(([c, n]) => `${JSON.stringify(c)} ×${n}`);
    throw new DeeprnnError(
      'unknown_chars',
      `the corpus has ${unknownSeen.size} characters the model's vocabulary does not: ${list.join(', ')}${unknownSeen.size > 40 ? ', …' : ''}. Pass --unknown-chars unk to read them as <unk>, or clean the text.`,
    );
  }
  if (reports.every((r) => r.characters === 0)) throw new OptionError('the corpus is empty after preprocessing');

  let vocab = known;
  if (!vocab) {
    const charCounts = new Map<string, number>(firstSeen.map((cp, i) => [String.fromCodePoint(cp), counts[i]]));
    vocab = Vocab.fromCounts(charCounts, authors);
    // Provisional ids → the vocabulary's, in place.
    const remap = new Uint32Array(1 + A + firstSeen.length);
    for (let a = 0; a < A; a++) remap[1 + a] = vocab.indexOf(authorToken(authors[a]));
    firstSeen.forEach((cp, i) => (remap[1 + A + i] = vocab!.indexOf(String.fromCodePoint(cp))));
    for (const a of ids) for (let i = 0; i < a.length; i++) a[i] = remap[a[i]];
  }
  if (vocab.tokens[vocab.unkIndex] !== UNK) throw new Error('unreachable: vocabulary without <unk>');
  return { vocab, ids, files: reports, sha256: hash.digest() };
}

/**
 * How a model's training read its raw text: cleaned (the default since 2026-12-07) unless its
 * hyperparameters say it kept mojibake or margins; a model trained before then read it as written.
 * What `deeprnn evaluate` reads by default, so a held-out score is the run's.
 */
export function cleaningOf(model: Model): Pick<ReadOptions, 'keepMojibake' | 'keepMargins'> {
  const h = model.training?.hyperparameters;
  return { keepMojibake: h?.keepMojibake !== false, keepMargins: h?.keepMargins !== false };
}

/**
 * What reading changed in each file, a line per file that changed: boilerplate removed, mojibake
 * repaired, a margin removed — the run prints it before it trains.
 */
export function readingSummary(files: readonly FileReport[]): string[] {
  const n = (x: number) => x.toLocaleString('en-US');
  return files.flatMap((f) => {
    const parts = [
      f.removed.header + f.removed.footer > 0
        ? `${n(f.removed.header + f.removed.footer)} characters of licence and front matter removed (--keep-boilerplate keeps them)`
        : '',
      f.repaired > 0 ? `${n(f.repaired)} mojibake characters repaired (UTF-8 once read as Windows-1252; --keep-mojibake keeps them)` : '',
      f.margin.lines > 0 ? `a margin of ${describeMargin(f.margin)} removed from ${n(f.margin.lines)} lines (--keep-margins keeps it)` : '',
    ].filter(Boolean);
    return parts.length ? [`${f.path}: ${parts.join('; ')}`] : [];
  });
}

/** What training reads: the training ids, and the held-out part of each file. */
export interface Split {
  train: IdArray;
  validation: { file: string; author: string; ids: IdArray }[];
}

/**
 * d2l's max_tokens (the first N ids of all files together; 0 = all), then the last `valFraction`
 * of *each* file held out — so every author is validated, not just the last file's. Each held-out
 * part starts with its file's author tag (with tags), as a paragraph would.
 */
export function splitCorpus(c: Corpus, o: { maxTokens: number; valFraction: number; authorTags: boolean }): Split {
  let budget = o.maxTokens > 0 ? o.maxTokens : Infinity;
  const parts: IdArray[] = [];
  const validation: Split['validation'] = [];
  c.ids.forEach((all, i) => {
    const ids = all.subarray(0, Math.min(all.length, budget));
    budget -= ids.length;
    if (ids.length === 0) return;
    const cut = Math.round(ids.length * (1 - o.valFraction));
    parts.push(ids.subarray(0, cut));
    if (cut < ids.length) {
      const f = c.files[i];
      const tag = o.authorTags ? c.vocab.authors.get(f.author) : undefined;
      const held = ids.subarray(cut);
      const v = new (held.constructor as Uint16ArrayConstructor)(held.length + (tag === undefined ? 0 : 1));
      if (tag !== undefined) v[0] = tag;
      v.set(held, tag === undefined ? 0 : 1);
      validation.push({ file: f.path, author: f.author, ids: v });
    }
  });
  const wide = parts.some((p) => p instanceof Uint32Array);
  const train = wide ? new Uint32Array(parts.reduce((n, p) => n + p.length, 0)) : new Uint16Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (train.set(p, at), at + p.length), 0);
  return { train, validation };
}

/**
 * A prefix for the demo page and the element, from the model's own text: the first two words of
 * a paragraph (raw text) or of the text (d2l), at most 24 characters.
 */
export function samplePrefixOf(vocab: Vocab, ids: IdArray, preprocessing: Preprocessing): string {
  const text = vocab.decode(Array.from(ids.subarray(0, 20_000)).filter((i) => !vocab.isSpecial(i)));
  const starts = preprocessing === 'raw' ? [...text.matchAll(/(?:^|\n\n)([A-Z][a-z]+ [A-Za-z]+)[ ,.;]/g)].map((m) => m[1]) : [];
  const words = starts.find((s) => s.length <= 24) ?? text.trim().split(/\s+/).slice(0, 2).join(' ').slice(0, 24);
  return words || text.slice(0, 12);
}
