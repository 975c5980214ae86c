/** `deeprnn generate`: d2l's `predict_ch8` from the command line, with the contract's every field. */
import { GENERATE_FIELDS } from '../../shared/contract.ts';
import { predict } from '../../shared/generate.ts';
import { KernelModel } from '../../shared/kernel/stepper.ts';
import { DEFAULT_MODEL_DIR, loadKernelNode, readModelDir } from '../../shared/platform/node.ts';
import { contractOptions, contractValues, helpText, modelOption, opt } from '../options.ts';
import { parseOptions } from '../argv.ts';

const OPTIONS = {
  model: modelOption,
  ...contractOptions(GENERATE_FIELDS),
  json: opt.boolean({ help: 'print the full result as JSON (with --logprobs: each character with its log-probability)' }),
};

export const generateHelp = helpText(
  'Usage: deeprnn generate [--model DIR] [--prefix TEXT] [options]',
  OPTIONS,
  "Prints the prefix followed by the generated characters (d2l's predict_ch8); the prefix defaults to the\nmodel's sample prefix. Same model and seed, same text as the server and the browser.",
);

export async function generateCommand(argv: string[], out: (s: string) => void): Promise<void> {
  const { values } = parseOptions(OPTIONS, argv);
  const request = contractValues(GENERATE_FIELDS, values);
  const model = await readModelDir(values.model ?? DEFAULT_MODEL_DIR);
  const result = predict(model, request, new KernelModel(await loadKernelNode(), model));
  if (values.json) return out(JSON.stringify(result));
  if (!result.beams || result.beams.length < 2) return out(result.text);
  out(result.beams.map((b, i) => `[beam ${i + 1}: score ${b.score.toFixed(4)}, ${b.finishReason}]\n${b.text}`).join('\n\n'));
}
