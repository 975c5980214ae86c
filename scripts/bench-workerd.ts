/**
 * npm run bench:workerd (not a test): the kernel's step in workerd itself — the V8 that Workers
 * run, whose lowering of the kernel's SIMD differs from Node's — for each kind of rendition, as
 * the wall time of requests to a plain `wrangler dev` (one at a time on an idle machine: wall
 * time bounds the CPU). Per character = (2,000-character request − 1-character request) / 1,999,
 * the fastest of ten each. Prints the build workerd chose (/healthz) and what shared/cost.ts
 * plans per character for it, as JSON lines. The int16-state rendition is exported for the run
 * into a temporary folder. BENCH_WORKERD_MODELS: a comma list of model folders instead.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { COST, stepCosts } from '../shared/cost.ts';
import type { Kernel } from '../shared/kernel/kernel.ts';
import { readModelDir, writeModelDir } from '../shared/platform/node.ts';
import { freePort } from '../test/e2e/pages.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const emit = (o: object) => console.log(JSON.stringify(o));
emit({ kind: 'machine', cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version, date: new Date().toISOString() });

const tmp = await mkdtemp(join(tmpdir(), 'deeprnn-bench-workerd-'));
const int16 = join(tmp, 'timemachine-deep-lstm-int16');
await writeModelDir(int16, await readModelDir(join(ROOT, 'models/timemachine-deep-lstm')), 'int8', 16);
const dirs = process.env.BENCH_WORKERD_MODELS?.split(',') ?? [
  join(ROOT, 'models/timemachine-deep-lstm-int8'),
  int16,
  join(ROOT, 'models/timemachine-deep-lstm'),
];

try {
  for (const dir of dirs) {
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [
        join(ROOT, 'node_modules/wrangler/bin/wrangler.js'),
        'dev',
        '--port',
        String(port),
        '--ip',
        '127.0.0.1',
        '--log-level',
        'error',
        '--var',
        'CPU_MS:300000',
      ],
      {
        cwd: ROOT,
        env: { ...process.env, MODEL_DIR: dir, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false' },
        stdio: 'ignore',
        detached: true,
      },
    );
    const url = `http://127.0.0.1:${port}`;
    try {
      let health: { engine?: string } | null = null;
      for (let i = 0; i < 120 && !health; i++) {
        health = await fetch(`${url}/healthz`).then(
          (r) => (r.ok ? r.json() : null),
          () => null,
        );
        if (!health) await new Promise((r) => setTimeout(r, 500));
      }
      if (!health?.engine) throw new Error(`wrangler dev did not start for ${dir}`);
      const timed = async (numChars: number) => {
        const body = JSON.stringify({ prefix: 'time traveller', numChars, temperature: 0.8, seed: 1 });
        const once = async () => {
          const t = performance.now();
          const r = (await (await fetch(`${url}/v1/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })).json()) as {
            numChars?: number;
          };
          if (r.numChars !== numChars) throw new Error(`unexpected answer: ${JSON.stringify(r).slice(0, 200)}`);
          return performance.now() - t;
        };
        for (let i = 0; i < 3; i++) await once();
        let best = Infinity;
        for (let i = 0; i < 10; i++) best = Math.min(best, await once());
        return best;
      };
      const long = await timed(2000);
      const short = await timed(1);
      const model = await readModelDir(dir);
      const build = /\((kernel[\w-]*\.wasm)\)$/.exec(health.engine)?.[1] as Kernel['build'] | undefined;
      const plan = stepCosts(model, 1, build);
      emit({
        kind: 'workerd',
        model: model.name,
        storage: model.storage,
        stateBits: model.stateBits ?? null,
        engine: health.engine,
        microsecondsPerChar: +(((long - short) / 1999) * 1000).toFixed(1),
        request2000Ms: +long.toFixed(1),
        request1Ms: +short.toFixed(1),
        plannedCharUs: +plan.charUs.toFixed(1),
        plannedCharUsBeforeMargin: +(plan.charUs / COST.slowerCpu).toFixed(1),
      });
    } finally {
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        // already gone
      }
    }
  }
} finally {
  await rm(tmp, { recursive: true, force: true });
}
