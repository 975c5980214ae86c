/**
 * npm run dev:edge / npm run deploy: serve MODEL_DIR's models on Workers with no source edit.
 * Checks and copies the models into the static assets (edge/stage.ts), then runs
 * `wrangler dev` or `wrangler deploy` with the arguments after `--`
 * (`MODEL_DIR=runs/alice npm run dev:edge -- --port 8790`). MODEL_DIR unset: the shipped model.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DEFAULT_MODEL_DIR } from '../shared/platform/node.ts';
import { stageModels } from '../edge/stage.ts';

const COMMANDS = ['dev', 'deploy'] as const;
const [command, ...args] = process.argv.slice(2);
if (!COMMANDS.includes(command as (typeof COMMANDS)[number])) {
  console.error(`usage: tsx scripts/edge.ts ${COMMANDS.join('|')} [wrangler arguments]`);
  process.exit(2);
}
const modelDir = DEFAULT_MODEL_DIR; // $MODEL_DIR, else the shipped model: what npm start serves
try {
  const index = await stageModels(modelDir);
  console.log(`deeprnn: Workers will serve ${index.models.map((m) => m.name).join(', ')} (from ${modelDir}, copied into the static assets)`);
} catch (e) {
  console.error(`deeprnn: cannot ${command === 'dev' ? 'start wrangler dev' : 'deploy'}: ${(e as Error).message}`);
  process.exit(1);
}
const wrangler = fileURLToPath(new URL('../node_modules/.bin/wrangler', import.meta.url));
const child = spawn(wrangler, [command, ...args], { stdio: 'inherit', env: { ...process.env, WRANGLER_SEND_METRICS: process.env.WRANGLER_SEND_METRICS ?? 'false' } });
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
