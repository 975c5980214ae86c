/**
 * The output folder of a run, checked before any training: a clear line for every way it can be
 * wrong (a file, a folder that holds a model or a checkpoint, a read-only or virtual place), and
 * no empty folder left behind by a run that fails.
 */
import { constants } from 'node:fs';
import { access, mkdir, readdir, rm, rmdir, stat, statfs, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { MODEL_JSON } from '../shared/artifact.ts';
import { DeeprnnError } from '../shared/errors.ts';
import { CHECKPOINT_FILE } from './checkpoint.ts';

/** File systems that are not storage (statfs magic numbers): procfs, sysfs, devpts, cgroup, debugfs. */
const VIRTUAL = new Map<number, string>([[0x9fa0, 'procfs'], [0x62656572, 'sysfs'], [0x1cd1, 'devpts'], [0x27e0eb, 'cgroup'], [0x63677270, 'cgroup2'], [0x64626720, 'debugfs']]);

const fail = (message: string): never => {
  throw new DeeprnnError('bad_out_dir', message);
};

async function existing(path: string): Promise<string> {
  for (let p = resolve(path); ; p = dirname(p)) {
    try {
      await stat(p);
      return p;
    } catch {
      if (dirname(p) === p) return p;
    }
  }
}

/** Check that `dir` can take a run's files; create it. Returns whether it was created here. */
export async function prepareOutDir(dir: string, o: { force: boolean; resume?: boolean }): Promise<{ created: boolean }> {
  const path = resolve(dir);
  const info = await stat(path).catch(() => null);
  if (info && !info.isDirectory()) fail(`--${o.resume ? 'resume' : 'out'} ${dir} is a file, not a folder`);
  if (info && !o.resume && !o.force) {
    const names = await readdir(path).catch(() => [] as string[]);
    if (names.includes(CHECKPOINT_FILE)) fail(`${dir} holds a training checkpoint: continue that run with "deeprnn train --resume ${dir}", or pass --force to start over in it`);
    if (names.includes(MODEL_JSON)) fail(`${dir} holds a model: choose another --out, or pass --force to overwrite it`);
  }
  const base = await existing(path);
  const fs = await statfs(base).catch(() => null);
  const virtual = fs ? VIRTUAL.get(fs.type) : undefined;
  if (virtual) fail(`${dir} is on ${virtual}, a virtual file system: choose a folder on disk`);
  if (!(await stat(base)).isDirectory()) fail(`cannot create ${dir}: ${base} is a file`);
  await access(base, constants.W_OK).catch(() => fail(`cannot write in ${base}: no permission (or a read-only file system)`));
  try {
    await mkdir(path, { recursive: true });
    const probe = join(path, `.deeprnn-write-test-${process.pid}`);
    await writeFile(probe, '');
    await rm(probe);
  } catch (e) {
    fail(`cannot write in ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return { created: !info };
}

/** After a failed run: remove the folder if this run created it and left nothing in it. */
export async function removeIfEmpty(dir: string, created: boolean): Promise<void> {
  if (!created) return;
  if ((await readdir(dir).catch(() => ['?'])).length === 0) await rmdir(dir).catch(() => {});
}
