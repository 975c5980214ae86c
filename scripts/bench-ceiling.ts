/**
 * npm run bench:ceiling (not a test): the rate this machine's WebAssembly engine issues the
 * kernel's inner instructions at (scripts/ceiling/peaks.ts, built here with asc), and what that
 * makes the least a character or a training token of the d2l model (2×256 LSTM, vocabulary 28) can
 * cost on one thread — the floor every `npm run bench` figure is measured against; then each
 * generation build's gemmQ7 in Debian's Chromium, whose newer V8 lowers the kernel differently. JSON lines.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import { kernelBuildsInPage, launchChromium } from '../test/e2e/pages.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const emit = (o: object) => console.log(JSON.stringify(o));
emit({
  kind: 'machine',
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  node: process.version,
  v8: process.versions.v8,
  date: new Date().toISOString(),
});

const dir = await mkdtemp(join(tmpdir(), 'deeprnn-ceiling-'));
const wasmPath = join(dir, 'peaks.wasm');
const asc = spawnSync(
  process.execPath,
  [
    join(ROOT, 'node_modules/assemblyscript/bin/asc.js'),
    join(ROOT, 'scripts/ceiling/peaks.ts'),
    '-O3',
    '--runtime',
    'stub',
    '--enable',
    'simd',
    '--enable',
    'relaxed-simd',
    '--noAssert',
    '--use',
    'abort=',
    '--initialMemory',
    '1',
    '-o',
    wasmPath,
  ],
  { encoding: 'utf8' },
);
if (asc.status !== 0) throw new Error(`asc failed: ${asc.stderr}`);
const bytes = await readFile(wasmPath);
await rm(dir, { recursive: true, force: true });
if (!WebAssembly.validate(bytes)) v8.setFlagsFromString('--experimental-wasm-relaxed-simd'); // Node 20: behind a flag
type Peak = (n: number, p: number) => number;
const peaks = new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports as unknown as Record<
  'fma' | 'mulAdd' | 'dotI16' | 'dotI8' | 'dotI16Loaded' | 'dotI7Loaded',
  Peak
> & { memory: WebAssembly.Memory };
const operands = new Int16Array(peaks.memory.buffer, 1024, 40);
operands.forEach((_, i) => (operands[i] = (i % 7) + 1));
// The float loops' operands: normal floats (the int16 words above read as floats are denormals,
// which Intel cores run ~100× slower — the loops would measure that, not the instruction).
const FLOATS = 8192;
new Float32Array(peaks.memory.buffer, FLOATS, 8).set([0.001, 0.001, 0.001, 0.001, 0.999, 0.999, 0.999, 0.999]);

/** Multiply-accumulates per second of one loop, best of five 0.3-second runs. */
function rate(f: Peak, macsPerIteration: number, p = 1024): number {
  f(1e5, p);
  let best = 0;
  for (let r = 0; r < 5; r++) {
    let n = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < 300) {
      f(1e6, p);
      n++;
    }
    best = Math.max(best, (n * 1e6 * macsPerIteration) / ((performance.now() - t0) / 1000));
  }
  return best;
}

// The d2l model's multiply-accumulates per character: layer 0's one-hot input is a gather, so
// W_hh of layer 0, W_ih and W_hh of layer 1 (4H × H each), and the output layer.
const H = 256;
const V = 28;
const perChar = 3 * 4 * H * H + V * H;
const rows: [string, Peak, number, string, number][] = [
  ['f32x4.relaxed_madd (training: fused multiply-add)', peaks.fma, 40, 'training token (forward + backward ≈ 3× the forward products)', 3 * perChar],
  ['f32x4.mul + f32x4.add (float32 generation, portable)', peaks.mulAdd, 40, 'float32 character', perChar],
  [
    'load8x8_s + i32x4.dot_i16x8_s + add, weights loaded (int8 renditions with int16 states, as gemmQ8 at batch 1)',
    peaks.dotI16Loaded,
    48,
    'int8 character, int16 states',
    perChar,
  ],
  [
    'v128.load + i16x8.relaxed_dot_i8x16_i7x16_s + extadd_pairwise + add, weights loaded (7-bit states, as gemmQ7)',
    peaks.dotI7Loaded,
    96,
    'int8 character, 7-bit states',
    perChar,
  ],
  [
    'i32x4.dot_i16x8_s + add, operands in registers (the loop this bench measured before 2026-12-05: an upper bound no product reaches)',
    peaks.dotI16,
    64,
    'int8 character',
    perChar,
  ],
];
for (const [instruction, f, macs, unit, perUnit] of rows) {
  const r = rate(f, macs, f === peaks.fma || f === peaks.mulAdd ? FLOATS : 1024);
  emit({
    kind: 'ceiling',
    instruction,
    gmacPerSecond: +(r / 1e9).toFixed(1),
    floor: unit,
    floorMicroseconds: +((perUnit / r) * 1e6).toFixed(2),
    floorPerSecond: Math.round(r / perUnit),
  });
}

// The generation builds' gemmQ7 in Debian's Chromium (when installed): a newer V8 than Node 20's,
// with its own lowering — the dot-add is one AVX-VNNI instruction there on CPUs that have it.
// One layer's W_hh (1,024 outputs × 256 columns) at batch 1 and 32, measured by the page helper
// the browser tests check the builds' agreement with.
if (existsSync('/usr/bin/chromium')) {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const report = await kernelBuildsInPage((f, a) => page.evaluate(f, a), true);
    for (const [build, r] of Object.entries(report.builds)) {
      if (!r.runs) continue;
      for (const batch of [1, 32] as const) {
        emit({
          kind: 'chromium-gemmQ7',
          browser: `Chromium ${browser.version()}`,
          build,
          exact: r.exact,
          dotAddUnsaturated: r.unsaturated,
          batch,
          gmacPerSecond: r.gmacPerSecond?.[`batch${batch}`],
        });
      }
    }
    emit({ kind: 'chromium-gemmQ7', buildsAgree: report.agree });
  } finally {
    await browser.close();
  }
} else emit({ kind: 'chromium-gemmQ7', skipped: 'no /usr/bin/chromium' });
