// npm install's build (the WebAssembly kernel and the browser module) — except under `npx deeprnn`:
// the first npx of a checkout installs the checkout into npm's npx cache (so that its bin links
// exist), and that install runs `prepare` again, rebuilding what npm install already built (~8 s
// before the first command of every new checkout started).
import { spawnSync } from 'node:child_process';

if (process.env.npm_command === 'exec') process.exit(0);
const npm = process.env.npm_execpath;
const r = npm
  ? spawnSync(process.execPath, [npm, 'run', 'build'], { stdio: 'inherit' })
  : spawnSync('npm', ['run', 'build'], { stdio: 'inherit', shell: true });
process.exit(r.status ?? 1);
