import { ArtifactError } from './errors.ts';

export const UNK = '<unk>';

/** The reserved vocabulary entry of an author tag (training with --author-tags). */
export const authorToken = (author: string): string => `<author:${author}>`;
const AUTHOR_TOKEN = /^<author:(.+)>$/;
/** Author names: what a file name or `--corpus NAME=FILE` may give. */
export const AUTHOR_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/**
 * d2l's `Vocab` for character tokens: `<unk>` at index 0, then tokens by descending frequency;
 * ties keep the order of first appearance (Python's `sorted` is stable, as is `Array.sort`).
 * Models trained with author tags also hold one reserved entry per author, `<author:NAME>`,
 * right after `<unk>`: fed at the start of every paragraph, never a character of the text.
 */
export class Vocab {
  readonly tokens: readonly string[];
  readonly unkIndex: number;
  /** Author name → the id of its tag. */
  readonly authors: ReadonlyMap<string, number>;
  private readonly index: Map<string, number>;
  /** Ids that are not characters (<unk> and author tags): never generated. */
  private readonly special: Uint8Array;

  constructor(tokens: readonly string[], unkIndex = 0) {
    if (tokens[unkIndex] !== UNK) {
      throw new ArtifactError('bad_vocabulary', `vocabulary entry ${unkIndex} must be "${UNK}"`);
    }
    this.tokens = tokens;
    this.unkIndex = unkIndex;
    this.index = new Map();
    this.special = new Uint8Array(tokens.length);
    this.special[unkIndex] = 1;
    const authors = new Map<string, number>();
    tokens.forEach((t, i) => {
      if (this.index.has(t)) throw new ArtifactError('bad_vocabulary', `vocabulary token ${JSON.stringify(t)} appears twice`);
      this.index.set(t, i);
      const tag = AUTHOR_TOKEN.exec(t);
      if (tag) {
        authors.set(tag[1], i);
        this.special[i] = 1;
      } else if (i !== unkIndex && [...t].length !== 1) {
        throw new ArtifactError('bad_vocabulary', `vocabulary token ${JSON.stringify(t)} is neither one character, ${UNK} nor an author tag`);
      }
    });
    this.authors = authors;
  }

  /**
   * Count the characters of a corpus and order them as d2l does. `counts` maps each character
   * (one code point) to its count, in order of first appearance; `authors` become tag entries.
   */
  static fromCounts(counts: ReadonlyMap<string, number>, authors: readonly string[] = []): Vocab {
    const byFreq = [...counts.entries()]
      .filter(([t]) => t !== UNK)
      .sort((a, b) => b[1] - a[1])
      .map(([t]) => t);
    return new Vocab([UNK, ...authors.map(authorToken), ...byFreq], 0);
  }

  /** Count the tokens of a corpus (one or several files) and order them as d2l does. */
  static build(tokens: Iterable<string>): Vocab {
    const counts = new Map<string, number>();
    for (const t of tokens) counts.set(t, (counts.get(t) ?? 0) + 1);
    return Vocab.fromCounts(counts);
  }

  get size(): number {
    return this.tokens.length;
  }

  /** `vocab[token]`: unknown characters map to `<unk>`, never throw. */
  indexOf(token: string): number {
    return this.index.get(token) ?? this.unkIndex;
  }

  /** Whether `token` is a character of the vocabulary (not <unk>, not a tag). */
  has(token: string): boolean {
    const i = this.index.get(token);
    return i !== undefined && this.special[i] === 0;
  }

  /** The characters the model can write, in code-point order (no <unk>, no tags). */
  get alphabet(): string[] {
    return this.tokens.filter((_, i) => this.special[i] === 0).sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!);
  }

  /**
   * The alphabet in one short line for messages: printable runs of three or more consecutive
   * code points as `a–z`, the rest as JSON strings ("\n", " ").
   */
  describeAlphabet(): string {
    const cs = this.alphabet;
    const plain = (c: string) => /^[\p{L}\p{N}]$/u.test(c);
    const parts: string[] = [];
    for (let i = 0; i < cs.length; ) {
      // A run of plain characters with consecutive code points: cs[i..j].
      let j = i;
      while (plain(cs[i]) && j + 1 < cs.length && plain(cs[j + 1]) && cs[j + 1].codePointAt(0) === cs[j].codePointAt(0)! + 1) j++;
      if (j - i >= 2) parts.push(`${cs[i]}–${cs[j]}`);
      else for (let k = i; k <= j; k++) parts.push(plain(cs[k]) ? cs[k] : JSON.stringify(cs[k]));
      i = j + 1;
    }
    return parts.join(' ');
  }

  /** <unk> and author tags: ids that stand for no printable character. */
  isSpecial = (id: number): boolean => this.special[id] === 1;

  encode(chars: Iterable<string>): number[] {
    const out: number[] = [];
    for (const c of chars) out.push(this.indexOf(c));
    return out;
  }

  decode(indices: Iterable<number>): string {
    let s = '';
    for (const i of indices) s += this.tokens[i];
    return s;
  }
}
