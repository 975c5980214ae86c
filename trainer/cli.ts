/** `deeprnn` — one command, one sub-command per job. Parsing and display only; the work is elsewhere. */
import { DeeprnnError } from '../shared/errors.ts';
import { benchCommand, benchHelp } from './commands/bench.ts';
import { exportCommand, exportHelp } from './commands/export.ts';
import { generateCommand, generateHelp } from './commands/generate.ts';
import { trainCommand, trainHelp } from './commands/train.ts';

const usage = `deeprnn — deep recurrent character-level language models (d2l.ai, "Deep Recurrent Neural Networks")

Usage: deeprnn <command> [options]

Commands:
  train      train a model (d2l's train_ch8); --preset d2l reproduces the book's run
  export     convert a model artifact (e.g. to float16)
  generate   generate text from a model artifact (d2l's predict_ch8)
  bench      measure training and generation speed on this machine (JSON lines)

Run "deeprnn <command> --help" for a command's options.`;

type Command = (argv: string[], out: (s: string) => void) => Promise<void>;
const commands: Record<string, { run: Command; help: string }> = {
  train: { run: trainCommand, help: trainHelp },
  export: { run: exportCommand, help: exportHelp },
  generate: { run: generateCommand, help: generateHelp },
  bench: { run: benchCommand, help: benchHelp },
};

/** Runs the CLI; returns the exit code (0 ok, 1 failure, 2 bad usage). */
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
    await command.run(rest, out);
    return 0;
  } catch (e) {
    if (e instanceof DeeprnnError) {
      err(`deeprnn ${name}: ${e.message}`);
      return e.code === 'invalid_option' ? 2 : 1;
    }
    throw e;
  }
}
