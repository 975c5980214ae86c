import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
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
  const code = await main(
    args,
    (s) => (out += s + '\n'),
    (s) => (err += s + '\n'),
  );
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
    // the prefix defaults to the model's sample prefix
    expect((await cli(['generate', '--model', dir, '--num-chars', '5'])).out).toBe(predict(model, { numChars: 5 }).text + '\n');
  });

  it('--regex, --choice, --json-schema FILE and --grammar FILE constrain the text as the library does; one at a time, files read with one-line errors', async () => {
    const same = async (args: string[], constraint: object) => {
      const r = await cli(['generate', '--model', dir, '--prefix', 'the', '--num-chars', '12', '--temperature', '1', '--seed', '3', ...args]);
      expect(r.err).toBe('');
      expect(r.out).toBe(predict(model, { prefix: 'the', numChars: 12, temperature: 1, seed: 3, constraint }).text + '\n');
    };
    await same(['--regex', '[a-z ]{4,12}'], { regex: '[a-z ]{4,12}' });
    await same(['--choice', ' hat', '--choice', ' time'], { choice: [' hat', ' time'] });
    await writeFile(join(dir, 'schema.json'), '{"type": "string", "maxLength": 5}');
    await writeFile(join(dir, 'words.gbnf'), 'root ::= (" " [a-z]{2,4}){2}');
    await same(['--grammar', join(dir, 'words.gbnf')], { grammar: 'root ::= (" " [a-z]{2,4}){2}' });
    const json = await cli(['generate', '--model', dir, '--prefix', 'the', '--num-chars', '12', '--json-schema', join(dir, 'schema.json')]);
    expect(json.err).toMatch(/cannot write "\\""/); // this model's 11 characters have no quote: the schema has no match
    expect((await cli(['generate', '--model', dir, '--regex', 'a', '--choice', 'b'])).err).toBe(
      'deeprnn generate: --regex and --choice cannot go together: give one constraint\n',
    );
    expect((await cli(['generate', '--model', dir, '--grammar', join(dir, 'nope.gbnf')])).err).toMatch(/--grammar .*nope\.gbnf cannot be read/);
    await writeFile(join(dir, 'bad.json'), '{type: string}');
    expect((await cli(['generate', '--model', dir, '--json-schema', join(dir, 'bad.json')])).err).toMatch(/--json-schema .*bad\.json is not JSON/);
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
      [['--prefix', 'a', '--num-chars', '0'], /numChars must be a whole number in \[1, 100000\]/],
      [['--prefix', 'a', '--temperature=-1'], /temperature must be a number in \[0, 100\]/],
      [['--prefix', 'a', '--temperature', 'hot'], /--temperature must be a number/],
      [['--prefix', 'a', '--top-k', '0'], /topK/],
      [['--prefix', 'a', '--top-p', '1.5'], /topP/],
      [['--prefix', 'a', '--seed=-3'], /seed/],
      [['--prefix', 'a', '--beam-width', '4', '--temperature', '1'], /beamWidth > 1 is a deterministic search/],
      [['--prefix', 'a', '--bogus'], /: unknown option --bogus \(--help lists the options\)\n$/],
      [['--prefix', 'a', '--num-char', '3'], /did you mean --num-chars\?/],
      [['--prefix', 'a', '--stop', '?'], /^deeprnn generate: stop\[0\] "\?" can never be generated: \S+ cannot write "\?" \(its alphabet: [^\n]+\)\n$/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(['generate', '--model', dir, ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err).toMatch(message);
    }
  });

  it('beam search, stop sequences and log-probabilities from the command line', async () => {
    const r = await cli([
      'generate',
      '--model',
      dir,
      '--prefix',
      'the',
      '--num-chars',
      '40',
      '--beam-width',
      '3',
      '--num-return',
      '2',
      '--stop',
      'e',
      '--stop',
      'ta',
      '--logprobs',
      '2',
      '--json',
    ]);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.out);
    const expected = predict(model, { prefix: 'the', numChars: 40, beamWidth: 3, numReturn: 2, stop: ['e', 'ta'], logprobs: 2 }); // reference pass; the CLI runs the kernel
    expect(result.text).toBe(expected.text);
    expect(result.beams.map((b: { generated: string }) => b.generated)).toEqual(expected.beams!.map((b) => b.generated));
    expect(result.beams[0].logprob).toBeCloseTo(expected.beams![0].logprob, 5);
    expect(result.logprobs.map((t: { text: string }) => t.text).join('')).toBe(expected.generated);
    const plain = await cli(['generate', '--model', dir, '--prefix', 'the', '--num-chars', '40', '--beam-width', '3', '--num-return', '2']);
    expect(plain.out).toMatch(/^\[beam 1: score -?\d+\.\d+, (length|stop)\]\nthe/);
  });

  it('scores a text, or a file', async () => {
    const r = await cli(['score', '--model', dir, '--text', 'the time', '--json']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.out);
    expect(s.chars).toHaveLength(8);
    expect(s.predicted).toBe(7);
    await writeFile(join(dir, 'text.txt'), 'the time');
    const f = await cli(['score', '--model', dir, '--file', join(dir, 'text.txt')]);
    expect(f.out).toMatch(new RegExp(`^7 characters predicted: perplexity ${s.perplexity.toFixed(4)}`));
    expect((await cli(['score', '--model', dir])).err).toMatch(/--text TEXT or --file FILE/);
    await writeFile(join(dir, 'latin1.txt'), Buffer.from([0x61, 0x62, 0xe9, 0x63]));
    expect((await cli(['score', '--model', dir, '--file', join(dir, 'latin1.txt')])).err).toMatch(
      /latin1\.txt is not valid UTF-8: invalid byte 0xe9 at byte offset 2/,
    );
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
