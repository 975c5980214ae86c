/**
 * docs/layout.md against the tree: every source file is listed there once, under its folder, and
 * every file listed there exists — so a newcomer who reads the page finds everything, and a file
 * added, moved or removed without its line fails here.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
/** The folders whose every file the page lists (and the root's own files). */
const CODE = ['.ci', 'bin', 'shared', 'trainer', 'edge', 'scripts', 'test'];
/** What the page leaves to its own table (data and models) or what is not source. */
const NOT_LISTED = new Set(['package-lock.json']);

/** Files git would commit (tracked, or new and not ignored); the tree walked where there is no git. */
function treeFiles(): string[] {
  let files: string[];
  try {
    files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter(Boolean);
  } catch {
    const IGNORED = new Set(['node_modules', 'build', 'dist', '.git', 'runs', 'test-output', 'coverage', '.wrangler', 'scratch']);
    const walk = (dir: string): string[] =>
      readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
        const rel = dir ? `${dir}/${e.name}` : e.name;
        if (e.isDirectory()) return IGNORED.has(e.name) || rel === 'shared/kernel/build' ? [] : dir || CODE.includes(e.name) ? walk(rel) : [];
        return [rel];
      });
    files = walk('');
  }
  // Files git still tracks but the working tree no longer has are not part of the tree.
  return files
    .filter((f) => !NOT_LISTED.has(f) && (!f.includes('/') || CODE.includes(f.split('/')[0])))
    .filter((f) => {
      try {
        readFileSync(join(ROOT, f));
        return true;
      } catch {
        return false;
      }
    });
}

/** The page's files: `### \`folder/\`` headings, then `- \`name\` — what it is` lines. */
function pageFiles(): { files: string[]; undescribed: string[] } {
  const files: string[] = [];
  const undescribed: string[] = [];
  let folder: string | null = null;
  for (const line of readFileSync(join(ROOT, 'docs/layout.md'), 'utf8').split('\n')) {
    const heading = /^### `([^`]*)`\s*$/.exec(line);
    if (heading) {
      folder = heading[1].replace(/^\/$/, '').replace(/\/$/, '');
      continue;
    }
    if (line.startsWith('## ')) folder = null;
    const entry = folder !== null ? /^- `([^`]+)`(?:\s+—\s+(.*))?$/.exec(line) : null;
    if (!entry) continue;
    const path = folder ? posix.join(folder, entry[1]) : entry[1];
    files.push(path);
    if (!entry[2]?.trim()) undescribed.push(path);
  }
  return { files, undescribed };
}

describe('docs/layout.md', () => {
  it('lists every source file of the tree, once, each with what it is, and nothing that is not there', () => {
    const tree = treeFiles().sort();
    const { files, undescribed } = pageFiles();
    expect(tree.length).toBeGreaterThan(100); // the walk found the tree
    const duplicates = files.filter((f, i) => files.indexOf(f) !== i);
    expect(duplicates, 'listed twice').toEqual([]);
    expect(undescribed, 'listed without a description').toEqual([]);
    expect(
      tree.filter((f) => !files.includes(f)),
      'in the tree, missing from docs/layout.md',
    ).toEqual([]);
    expect(
      files.filter((f) => !tree.includes(f)),
      'in docs/layout.md, not in the tree',
    ).toEqual([]);
  });
});
