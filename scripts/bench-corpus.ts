/**
 * npm run bench:corpus (a measurement, not a test): what reading a large corpus costs — time to
 * the first window and peak memory — for texts of 3, 50 and 200 MB (SIZES_MB to choose), made by
 * repeating the books in data/ into a temporary file. Each size is read in a fresh process, as
 * `deeprnn train` reads it (raw text, boilerplate removed, a tenth held out, the first windows
 * drawn). JSON lines; memory from the kernel's high-water mark (VmHWM).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { open, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const hwm = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) * 1024;

if (process.argv[2] === '--child') {
  const { splitCorpus } = await import('../trainer/corpus.ts');
  const { readCorpus } = await import('../trainer/corpus-files.ts');
  const { sequentialWindows } = await import('../trainer/data.ts');
  const { Rng } = await import('../shared/rng.ts');
  const before = hwm();
  const t0 = performance.now();
  const corpus = await readCorpus([{ path: process.argv[3], author: 'text' }], { preprocessing: 'raw', keepBoilerplate: false, authorTags: false });
  const split = splitCorpus(corpus, { maxTokens: 0, valFraction: 0.1, authorTags: false });
  sequentialWindows(split.train, 32, 35, new Rng(1)).next();
  const seconds = (performance.now() - t0) / 1000;
  const chars = corpus.ids[0].length;
  const peak = hwm();
  console.log(
    JSON.stringify({
      characters: chars,
      vocabulary: corpus.vocab.size,
      loadSeconds: +seconds.toFixed(2),
      peakRssMB: Math.round(peak / 2 ** 20),
      bytesPerCharacter: +((peak - before) / chars).toFixed(2),
      startRssMB: Math.round(before / 2 ** 20),
    }),
  );
} else {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const books = [
    join(root, 'data/timemachine.txt'),
    ...(await readdir(join(root, 'data/corpora'))).filter((f) => f.endsWith('.txt')).map((f) => join(root, 'data/corpora', f)),
  ];
  const text = Buffer.concat(await Promise.all(books.map((b) => readFile(b))));
  for (const mb of (process.env.SIZES_MB ?? '3,50,200').split(',').map(Number)) {
    const path = join(tmpdir(), `deeprnn-corpus-${mb}mb.txt`);
    const f = await open(path, 'w');
    for (let written = 0; written < mb * 1e6; written += text.length) await f.write(text.subarray(0, Math.min(text.length, mb * 1e6 - written)));
    await f.close();
    const out = execFileSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', path], { encoding: 'utf8' });
    console.log(JSON.stringify({ kind: 'corpus', sizeMB: mb, ...JSON.parse(out) }));
    await rm(path);
  }
}
