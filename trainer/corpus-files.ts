/** Corpus files on disk (Node): trainer/corpus.ts's sources, read with fs and hashed with node:crypto. */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { DeeprnnError } from '../shared/errors.ts';
import { buildCorpus, type Corpus, type CorpusFile, type ReadOptions, type Sha256 } from './corpus.ts';

export const nodeSha256 = (): Sha256 => {
  const h = createHash('sha256');
  return { update: (b) => void h.update(b), digest: () => h.digest('hex') };
};

/** A file as a corpus source: a file that cannot be read is one line naming it. */
export function fileSource(f: CorpusFile) {
  return {
    ...f,
    bytes: async (): Promise<Uint8Array> => {
      try {
        return await readFile(f.path);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        throw new DeeprnnError(
          'missing_corpus',
          `corpus file ${f.path} cannot be read${code === 'ENOENT' ? ': it does not exist' : code === 'EISDIR' ? ': it is a directory' : ` (${code ?? (e as Error).message})`}`,
        );
      }
    },
  };
}

/** Read the corpus files (see buildCorpus). */
export function readCorpus(files: readonly CorpusFile[], o: ReadOptions): Promise<Corpus> {
  return buildCorpus(files.map(fileSource), { ...o, sha256: nodeSha256 });
}
