import { ArtifactError } from './errors.ts';

export const UNK = '<unk>';

/**
 * d2l's `Vocab` for character tokens: `<unk>` at index 0, then tokens by descending frequency;
 * ties keep the order of first appearance (Python's `sorted` is stable, as is `Array.sort`).
 */
export class Vocab {
  readonly tokens: readonly string[];
  readonly unkIndex: number;
  private readonly index: Map<string, number>;

  constructor(tokens: readonly string[], unkIndex = 0) {
    if (tokens[unkIndex] !== UNK) {
      throw new ArtifactError('bad_vocabulary', `vocabulary entry ${unkIndex} must be "${UNK}"`);
    }
    this.tokens = tokens;
    this.unkIndex = unkIndex;
    this.index = new Map();
    tokens.forEach((t, i) => {
      if (this.index.has(t)) throw new ArtifactError('bad_vocabulary', `vocabulary token ${JSON.stringify(t)} appears twice`);
      this.index.set(t, i);
    });
  }

  /** Count the tokens of a corpus (one or several files) and order them as d2l does. */
  static build(tokens: Iterable<string>): Vocab {
    const counts = new Map<string, number>();
    for (const t of tokens) counts.set(t, (counts.get(t) ?? 0) + 1);
    counts.delete(UNK);
    const byFreq = [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([t]) => t);
    return new Vocab([UNK, ...byFreq], 0);
  }

  get size(): number {
    return this.tokens.length;
  }

  /** `vocab[token]`: unknown characters map to `<unk>`, never throw. */
  indexOf(token: string): number {
    return this.index.get(token) ?? this.unkIndex;
  }

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
