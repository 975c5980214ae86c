/**
 * npm run dev:edge / npm run deploy: `wrangler dev` or `wrangler deploy` with the arguments after
 * `--` (`MODEL_DIR=runs/alice npm run dev:edge -- --port 8790`). wrangler.toml's [build] command
 * (edge/stage.ts) stages MODEL_DIR's models — unset: the shipped one — as it does for a plain
 * `npx wrangler dev`; this adds what a shortcut should: no telemetry prompt, no fetch of
 * Cloudflare's `request.cf` sample for `wrangler dev` (the app never reads `cf`, and offline the
 * fetch prints a network stack trace at every start), and a stop that stops everything. SIGTERM or SIGINT here ends wrangler and the workerd it started (they run
 * in a process group of their own, which is signalled whole), then this process.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const COMMANDS = ['dev', 'deploy'] as const;
const [command, ...args] = process.argv.slice(2);
if (!COMMANDS.includes(command as (typeof COMMANDS)[number])) {
  console.error(`usage: node --import tsx scripts/edge.ts ${COMMANDS.join('|')} [wrangler arguments]`);
  process.exit(2);
}
const wrangler = fileURLToPath(new URL('../node_modules/wrangler/bin/wrangler.js', import.meta.url));
const child = spawn(process.execPath, [wrangler, command, ...args], {
  stdio: 'inherit',
  detached: true, // its own process group: a signal reaches wrangler and workerd alike
  env: {
    ...process.env,
    WRANGLER_SEND_METRICS: process.env.WRANGLER_SEND_METRICS ?? 'false',
    CLOUDFLARE_CF_FETCH_ENABLED: process.env.CLOUDFLARE_CF_FETCH_ENABLED ?? 'false',
  },
});
const group = (signal: NodeJS.Signals) => {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // already gone
  }
};
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    group(signal);
    // wrangler drains and exits; whatever is left after 5 s is killed.
    setTimeout(() => group('SIGKILL'), 5000).unref();
  });
}
child.on('exit', (code, signal) => {
  group('SIGTERM'); // a workerd wrangler left behind
  process.exit(code ?? (signal ? 1 : 0));
});
