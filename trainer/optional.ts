/**
 * Packages the trainer uses only for some runs — tfjs and its backends — are optional peers of
 * the package: an app that only generates does not install them. Loading one that is missing
 * says which package to install, in one line.
 */
import { DeeprnnError } from '../shared/errors.ts';

/** What importing an optional package gave: the module, or why it cannot be had. */
export type Optional<T> = { module: T } | { missing: true } | { broken: string };

/** A package that may not be installed: the module, or why it cannot be had (not installed, or installed and failing to load). */
export async function importOptional<T>(name: string): Promise<Optional<T>> {
  try {
    return { module: (await import(/* @vite-ignore */ name)) as T };
  } catch (e) {
    const err = e as Error & { code?: string };
    const notFound = (err.code === 'ERR_MODULE_NOT_FOUND' || err.code === 'MODULE_NOT_FOUND') && err.message.includes(`'${name}'`);
    return notFound ? { missing: true } : { broken: (err.message.split('\n').find((l) => l.trim()) ?? String(e)).trim() };
  }
}

/** An optional package, or a DeeprnnError naming it and the command that installs it. */
export async function importRequired<T>(name: string, forWhat: string, install = `npm install ${name}`): Promise<T> {
  const m = await importOptional<T>(name);
  if ('missing' in m) throw new DeeprnnError('missing_package', `${forWhat} needs ${name}, which is not installed: ${install}`);
  if ('broken' in m) throw new DeeprnnError('missing_package', `${name} is installed but does not load (${m.broken})`);
  return m.module;
}
