#!/usr/bin/env node
// The `deeprnn` command. The sources are TypeScript run through tsx, so there is no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../trainer/cli.ts');
process.exitCode = await main(process.argv.slice(2));
