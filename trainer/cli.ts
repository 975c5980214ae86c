/** `deeprnn` — one command, one sub-command per job. Parsing and display only; the work is elsewhere. */
import { DeeprnnError } from '../shared/errors.ts';
import { benchCommand, benchHelp } from './commands/bench.ts';
import { evaluateCommand, evaluateHelp } from './commands/evaluate.ts';
import { exportCommand, exportHelp } from './commands/export.ts';
import { generateCommand, generateHelp } from './commands/generate.ts';
import { scoreCommand, scoreHelp } from './commands/score.ts';
import { trainCommand, trainHelp } from './commands/train.ts';

type Command = (argv: string[], out: (s: string) => void) => Promise<number | void>;
const commands: Record<string, { run: Command; help: string; summary: string }> = {
  train: { run: trainCommand, help: trainHelp, summary: "train a model (d2l's train_ch8); --preset d2l reproduces the book's run" },
  generate: {
    run: generateCommand,
    help: generateHelp,
    summary: "generate text from a model (d2l's predict_ch8, with sampling, beam search, stop sequences, log-probabilities)",
  },
  score: { run: scoreCommand, help: scoreHelp, summary: "each character's log-probability under a model, and the text's perplexity" },
  evaluate: { run: evaluateCommand, help: evaluateHelp, summary: 'perplexity of text files under a model, per file and overall' },
  export: { run: exportCommand, help: exportHelp, summary: 'convert a model (float16, int8) or write it as ONNX' },
  bench: { run: benchCommand, help: benchHelp, summary: 'measure training and generation speed on this machine (JSON lines)' },
};

const usage = `deeprnn — deep recurrent character-level language models (d2l.ai, "Deep Recurrent Neural Networks")

Usage: deeprnn <command> [options]

Commands:
${Object.entries(commands)
  .map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`)
  .join('\n')}

Run "deeprnn <command> --help" for a command's options.`;

/** Runs the CLI; returns the exit code (0 ok, 1 failure, 2 bad usage, 130 interrupted). */
export async function main(argv: string[], out = (s: string) => console.log(s), err = (s: string) => console.error(s)): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    out(usage);
    return 0;
  }
  const command = commands[name];
  if (!command) {
    err(`deeprnn: unknown command "${name}"\n\n${usage}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    out(command.help);
    return 0;
  }
  try {
    const code = await command.run(rest, out);
    return typeof code === 'number' ? code : 0;
  } catch (e) {
    if (e instanceof DeeprnnError) {
      err(`deeprnn ${name}: ${e.message}`);
      return e.code === 'invalid_option' ? 2 : 1;
    }
    // Anything else is still one line for the user; the stack only with DEEPRNN_DEBUG=1.
    const code = (e as NodeJS.ErrnoException).code;
    err(`deeprnn ${name}: ${code ? `${code}: ` : ''}${(e as Error).message}`);
    if (process.env.DEEPRNN_DEBUG) console.error(e);
    return 1;
  }
}
