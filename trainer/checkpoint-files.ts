/** A checkpoint on disk (Node): DIR/checkpoint.bin, which a run's folder store writes (trainer/train-files.ts). */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DeeprnnError } from '../shared/errors.ts';
import { CHECKPOINT_FILE, decodeCheckpoint, type Checkpoint } from './checkpoint.ts';

export async function readCheckpoint(dir: string): Promise<Checkpoint> {
  const path = join(dir, CHECKPOINT_FILE);
  let file: Uint8Array;
  try {
    file = await readFile(path);
  } catch {
    throw new DeeprnnError('no_checkpoint', `${path} does not exist: nothing to resume (start the run with --out ${dir})`);
  }
  return decodeCheckpoint(file, path);
}
