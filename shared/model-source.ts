/**
 * Where `loadModel` reads a model folder from: an http(s) URL (fetched), a path relative to the
 * page in a browser, or — in Node — a folder on disk (`models/books-deep-lstm-int8`, an absolute
 * path, or a `file:` URL). Node's file system is imported only when a local folder is asked for,
 * by a specifier bundlers leave alone, so a browser or Worker bundle never holds a Node built-in.
 */
import { ArtifactError } from './errors.ts';
import { MODEL_JSON, WEIGHTS_BIN, type ArtifactFiles } from './artifact.ts';

/** Node's file system, by a name bundlers do not follow. */
const NODE_FS = 'node:fs/promises';
/** What is used of it (the library's types carry no Node types). */
interface NodeFs {
  readFile(path: string | URL, encoding: 'utf8'): Promise<string>;
  readFile(path: string | URL): Promise<Uint8Array>;
}

/** Does `source` name a folder on disk rather than something to fetch? */
export function isLocalSource(source: string | URL): boolean {
  const s = String(source);
  if (/^file:/i.test(s)) return true;
  // A scheme (http:, https:, data:, blob:) is fetched; so is a relative path where a page gives it a base.
  if (/^[a-z][a-z0-9+.-]*:/i.test(s) && !/^[a-z]:[\\/]/i.test(s)) return false;
  return typeof location === 'undefined';
}

/** The two files of a model folder, fetched or read from disk. */
export async function readModelSource(source: string | URL, fetcher: typeof fetch = fetch): Promise<ArtifactFiles> {
  if (isLocalSource(source)) return readLocal(source);
  const base = new URL(String(source).replace(/\/?$/, '/'), typeof location === 'undefined' ? undefined : location.href);
  const get = async (name: string) => {
    const r = await fetcher(new URL(name, base));
    if (!r.ok) throw new ArtifactError('unreadable', `cannot fetch ${new URL(name, base)}: HTTP ${r.status}`);
    return r;
  };
  const [modelJson, weights] = await Promise.all([get(MODEL_JSON).then((r) => r.text()), get(WEIGHTS_BIN).then((r) => r.arrayBuffer())]);
  return { modelJson, weights };
}

async function readLocal(source: string | URL): Promise<ArtifactFiles> {
  let fs: NodeFs;
  try {
    fs = (await import(/* @vite-ignore */ /* webpackIgnore: true */ NODE_FS)) as NodeFs;
  } catch {
    throw new ArtifactError(
      'unreadable',
      `${String(source)} is a folder path, and this runtime has no file system: pass an https URL, or the files ({ modelJson, weights })`,
    );
  }
  const dir = String(source).replace(/[\\/]+$/, '');
  const at = (name: string): string | URL => (/^file:/i.test(dir) ? new URL(`${dir}/${name}`) : `${dir}/${name}`);
  const read = async <T>(name: string, how: (p: string | URL) => Promise<T>): Promise<T> => {
    try {
      return await how(at(name));
    } catch (e) {
      const code = (e as { code?: string }).code;
      const why =
        code === 'ENOENT' ? 'no such file (a model folder holds model.json and weights.bin)' : code === 'EACCES' ? 'permission denied' : (code ?? 'unreadable');
      throw new ArtifactError('unreadable', `cannot read ${String(at(name))}: ${why}`);
    }
  };
  // One after the other: a folder missing both files is named by its model.json, every time (in parallel, whichever failed first was named).
  const modelJson = await read(MODEL_JSON, (p) => fs.readFile(p, 'utf8'));
  const weights = await read(WEIGHTS_BIN, (p) => fs.readFile(p));
  return { modelJson, weights: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) as ArrayBuffer };
}
