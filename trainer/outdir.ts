/**
 * The output folder of a run, checked before any training: a clear line for every way it can be
 * wrong (a file, a folder that holds a model or a checkpoint, a read-only or virtual place, a
 * folder another run is writing), held by a lock file while the run writes, and no empty folder
 * left behind by a run that fails.
 */
import { constants, rmdirSync, unlinkSync } from 'node:fs';
import { access, link, mkdir, readFile, readdir, rename, stat, statfs, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { MODEL_JSON } from '../shared/artifact.ts';
import { DeeprnnError } from '../shared/errors.ts';
import { CHECKPOINT_FILE } from './checkpoint.ts';

/** File systems that are not storage (statfs magic numbers): procfs, sysfs, devpts, cgroup, debugfs. */
const VIRTUAL = new Map<number, string>([
  [0x9fa0, 'procfs'],
  [0x62656572, 'sysfs'],
  [0x1cd1, 'devpts'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
  [0x64626720, 'debugfs'],
]);

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

/**
 * Whether this process may write in a folder: what the kernel says (`access`). One place, so a
 * test run as root — whom a folder's mode never stops — can stand for a read-only place.
 */
export const permissions = {
  writable: (folder: string): Promise<boolean> =>
    access(folder, constants.W_OK).then(
      () => true,
      () => false,
    ),
};

/** The nearest existing folder above `path` must be real storage we may write in. */
async function checkPlace(given: string, path: string): Promise<void> {
  const base = await existing(path);
  const fs = await statfs(base).catch(() => null);
  const virtual = fs ? VIRTUAL.get(fs.type) : undefined;
  if (virtual) fail(`${given} is on ${virtual}, a virtual file system: choose a folder on disk`);
  if (!(await stat(base)).isDirectory()) fail(`cannot create ${given}: ${base} is a file`);
  if (!(await permissions.writable(base))) fail(`cannot write in ${base}: no permission (or a read-only file system)`);
}

/** Check that a single output file (ONNX) may be written: not a folder, not a file the user has, unless --force. */
export async function prepareOutFile(file: string, o: { force: boolean }): Promise<void> {
  const path = resolve(file);
  const info = await stat(path).catch(() => null);
  if (info?.isDirectory()) fail(`--out ${file} is a folder: give a file name (for example ${join(file, 'model.onnx')})`);
  if (info && !o.force) fail(`${file} exists: choose another --out, or pass --force to overwrite it`);
  await checkPlace(file, dirname(path));
  await mkdir(dirname(path), { recursive: true }).catch((e: NodeJS.ErrnoException) => fail(`cannot create ${dirname(file)}: ${e.code ?? e.message}`));
}

/**
 * Who holds a folder: a run writes here until `release`. A checkpoint or a model only appears
 * after the first epoch (or stop), so without it two runs could start in one folder unseen.
 */
export const LOCK_FILE = '.deeprnn-lock';

interface LockOwner {
  pid: number;
  host: string;
  command: string;
  since: string;
}

/** Whether the run that wrote `owner` may still be running (unknowable on another host: assume so). */
function alive(owner: LockOwner): boolean {
  if (owner.host !== hostname()) return true;
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // someone else's live process
  }
}

function parseOwner(raw: string | null): LockOwner | null {
  try {
    const o = JSON.parse(raw ?? '') as Partial<LockOwner>;
    if (typeof o.pid === 'number' && Number.isInteger(o.pid) && o.pid > 0 && typeof o.host === 'string') {
      return { pid: o.pid, host: o.host, command: String(o.command ?? ''), since: String(o.since ?? '') };
    }
  } catch {
    /* unreadable or damaged (locks are written whole: see createLockFile): treated as abandoned */
  }
  return null;
}

/**
 * Remove the abandoned lock `judged` — that one only: another run may have taken the folder since
 * it was read. So it is moved aside under a name of our own and read again; if it is not what was
 * judged, it goes back (unless a third run has locked the folder in that instant).
 */
export async function removeAbandoned(path: string, judged: string | null): Promise<void> {
  const aside = `${path}.abandoned-${process.pid}`;
  try {
    await rename(path, aside);
  } catch {
    return; // gone already: another run removed it
  }
  const moved = await readFile(aside, 'utf8').catch(() => null);
  if (moved !== judged && moved !== null) await link(aside, path).catch(() => writeFile(path, moved, { flag: 'wx' }).catch(() => {}));
  await unlink(aside).catch(() => {});
}

/**
 * Create `path` holding `content`, atomically: written to a file of our own, then hard-linked into
 * place (link fails if the lock exists), so no run ever reads a half-written lock. Where the file
 * system has no hard links, an exclusive create (O_EXCL) and a write.
 */
async function createLockFile(path: string, content: string): Promise<boolean> {
  const mine = `${path}.${process.pid}`;
  try {
    await writeFile(mine, content);
    await link(mine, path);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS') throw e;
  } finally {
    await unlink(mine).catch(() => {});
  }
  try {
    await writeFile(path, content, { flag: 'wx' });
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}

/** Take `dir`'s lock, taking over one left by a run that no longer exists. */
async function lock(dir: string): Promise<string> {
  const path = join(dir, LOCK_FILE);
  const owner: LockOwner = { pid: process.pid, host: hostname(), command: process.argv.slice(2).join(' '), since: new Date().toISOString() };
  for (let attempt = 0; ; attempt++) {
    if (await createLockFile(path, JSON.stringify(owner) + '\n')) return path;
    const raw = await readFile(path, 'utf8').catch(() => null);
    const holder = parseOwner(raw);
    if (holder && alive(holder)) {
      const where = holder.host === hostname() ? `process ${holder.pid}` : `process ${holder.pid} on ${holder.host}`;
      fail(
        `${dir} is in use by another deeprnn run (${where}${holder.since ? `, since ${holder.since}` : ''}): wait for it to end or stop it${holder.host === hostname() ? '' : `; if it is gone, delete ${path}`}`,
      );
    }
    // Abandoned (the run was killed, or an older lock was damaged): remove it and try once more.
    if (attempt > 0) fail(`${dir}: could not take ${LOCK_FILE} from an ended run; delete it if no run is writing there`);
    await removeAbandoned(path, raw);
  }
}

/**
 * Run `work` in the output folder `dir`: checked (see the file's head), created, and locked
 * against other runs until `work` ends, however it ends. A folder this run created is removed
 * again if the run failed, or the process exits under it (a second Ctrl-C), before writing in it.
 */
export async function withOutDir<T>(dir: string, o: { force: boolean; resume?: boolean }, work: () => Promise<T>): Promise<T> {
  const path = resolve(dir);
  const info = await stat(path).catch(() => null);
  if (info && !info.isDirectory()) fail(`--${o.resume ? 'resume' : 'out'} ${dir} is a file, not a folder`);
  await checkPlace(dir, path);
  // The lock is the first file written: it also proves that the folder takes files.
  let created: string | undefined; // the outermost folder mkdir made (with its parents), if any
  const removeCreated = () => {
    // Only empty folders go (rmdir refuses any other), innermost first, up to what this run made.
    for (let p = path; created !== undefined; p = dirname(p)) {
      try {
        rmdirSync(p);
      } catch {
        return;
      }
      if (p === created) return;
    }
  };
  const lockPath = await mkdir(path, { recursive: true })
    .then((first) => {
      created = first;
      return lock(dir);
    })
    .catch((e: unknown) => {
      removeCreated();
      if (e instanceof DeeprnnError) throw e;
      return fail(`cannot write in ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    });
  const drop = (failed: boolean) => {
    try {
      unlinkSync(lockPath);
    } catch {
      /* gone already */
    }
    if (failed) removeCreated();
  };
  const onExit = () => drop(true);
  process.on('exit', onExit);
  let failed = true;
  try {
    // Locked first, then looked at: a run that looked before another locked it would miss it.
    if (info && !o.resume && !o.force) {
      const names = await readdir(path).catch(() => [] as string[]);
      if (names.includes(CHECKPOINT_FILE))
        fail(`${dir} holds a training checkpoint: continue that run with "deeprnn train --resume ${dir}", or pass --force to start over in it`);
      if (names.includes(MODEL_JSON)) fail(`${dir} holds a model: choose another --out, or pass --force to overwrite it`);
    }
    const result = await work();
    failed = false;
    return result;
  } finally {
    process.off('exit', onExit);
    drop(failed);
  }
}
