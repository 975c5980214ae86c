/** `deeprnn generate`: d2l's `predict_ch8` from the command line. */
import { OptionError } from '../../shared/errors.ts';
import { predict } from '../../shared/generate.ts';
import { bestStepper } from '../../shared/kernel/stepper.ts';
import { DEFAULT_MODEL_DIR, loadKernelNode, readModelDir } from '../../shared/platform/node.ts';
import { intOption, numberOption, parseCommand, stringOption } from '../options.ts';

export const generateHelp = `Usage: deeprnn generate [--model DIR] --prefix TEXT [options]

Prints the prefix followed by the generated characters (d2l's predict_ch8).

  --model DIR         model artifact folder (default: $MODEL_DIR or models/timemachine-deep-lstm)
  --prefix TEXT       text to warm the model up on (required, 1 to 10000 characters)
  --num-chars N       characters to generate, 1 to 100000 (default 50)
  --temperature T     0 = greedy, as d2l (default); otherwise sample at temperature T (≤ 100)
  --top-k K           sample only among the K most likely characters
  --top-p P           sample only from the smallest set whose probability reaches P, 0 < P ≤ 1
  --seed S            integer seed in [0, 4294967295]: the same seed gives the same text
  --json              print the full result as JSON`;

export async function generateCommand(argv: string[], out: (s: string) => void): Promise<void> {
  const { values } = parseCommand(argv, {
    model: { type: 'string' },
    prefix: { type: 'string' },
    'num-chars': { type: 'string' },
    temperature: { type: 'string' },
    'top-k': { type: 'string' },
    'top-p': { type: 'string' },
    seed: { type: 'string' },
    json: { type: 'boolean' },
  });
  const prefix = stringOption('prefix', values.prefix);
  if (prefix === undefined) throw new OptionError('--prefix is required');
  const options = {
    prefix,
    numChars: intOption('num-chars', stringOption('num-chars', values['num-chars']), 1, 100_000) ?? 50,
    temperature: numberOption('temperature', stringOption('temperature', values.temperature), (v) => v >= 0 && v <= 100, 'a number in [0, 100]'),
    topK: intOption('top-k', stringOption('top-k', values['top-k']), 1, Number.MAX_SAFE_INTEGER),
    topP: numberOption('top-p', stringOption('top-p', values['top-p']), (v) => v > 0 && v <= 1, 'a number in (0, 1]'),
    seed: intOption('seed', stringOption('seed', values.seed), 0, 0xffffffff),
  };
  const model = await readModelDir(stringOption('model', values.model) ?? DEFAULT_MODEL_DIR);
  const result = predict(model, options, bestStepper(model, await loadKernelNode()));
  out(values.json ? JSON.stringify({ model: model.name, ...result }) : result.text);
}
