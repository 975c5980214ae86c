import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { predict } from '../../shared/generate.ts';
import { writeModelDir } from '../../shared/platform/node.ts';
import { main } from '../../trainer/cli.ts';
import { randomModel } from '../helpers.ts';

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(args, (s) => (out += s + '\n'), (s) => (err += s + '\n'));
  return { code, out, err };
}

describe('deeprnn generate', () => {
  let dir = '';
  const model = randomModel('gru', { seed: 4 });
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'deeprnn-cli-'));
    await writeModelDir(dir, model);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('prints prefix + greedy continuation', async () => {
    const r = await cli(['generate', '--model', dir, '--prefix', 'time traveller', '--num-chars', '20']);
    expect(r.code).toBe(0);
    expect(r.out).toBe(predict(model, { prefix: 'time traveller', numChars: 20 }).text + '\n');
  });

  it('samples with the given seed, temperature, top-k and top-p; --json gives the full result', async () => {
    const args = ['generate', '--model', dir, '--prefix', 'the', '--num-chars', '30', '--temperature', '0.8', '--top-k', '5', '--top-p', '0.9', '--seed', '12'];
    const r = await cli([...args, '--json']);
    const result = JSON.parse(r.out);
    expect(result.text).toBe(predict(model, { prefix: 'the', numChars: 30, temperature: 0.8, topK: 5, topP: 0.9, seed: 12 }).text);
    expect(result.seed).toBe(12);
    expect((await cli(args)).out).toBe(result.text + '\n');
  });

  it('rejects each invalid option with exit code 2 and a clear message', async () => {
    const cases: [string[], RegExp][] = [
      [['--prefix', 'a', '--num-chars', 'ten'], /--num-chars must be a whole number/],
      [['--prefix', 'a', '--num-chars', '0'], /--num-chars must be in \[1, 100000\]/],
      [['--prefix', 'a', '--temperature=-1'], /--temperature must be a number in \[0, 100\]/],
      [['--prefix', 'a', '--temperature', 'hot'], /--temperature/],
      [['--prefix', 'a', '--top-k', '0'], /--top-k/],
      [['--prefix', 'a', '--top-p', '1.5'], /--top-p/],
      [['--prefix', 'a', '--seed=-3'], /--seed/],
      [['--prefix', 'a', '--bogus'], /Unknown option '--bogus'/],
      [['--num-chars', '3'], /--prefix is required/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(['generate', '--model', dir, ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err).toMatch(message);
    }
  });

  it('fails with exit code 1 on a missing model', async () => {
    const r = await cli(['generate', '--model', join(dir, 'nope'), '--prefix', 'a']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/model\.json does not exist/);
  });

  it('runs as the installed bin: npx deeprnn --help', () => {
    const root = new URL('../..', import.meta.url).pathname;
    const help = execFileSync('npx', ['deeprnn', '--help'], { cwd: root, encoding: 'utf8' });
    expect(help).toMatch(/Usage: deeprnn <command>/);
    expect(help).toMatch(/generate/);
  });
});
