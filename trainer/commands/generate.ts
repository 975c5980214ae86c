/** `deeprnn generate`: d2l's `predict_ch8` from the command line, with the contract's every field. */
import { readFile } from 'node:fs/promises';
import { GENERATE_FIELDS } from '../../shared/contract.ts';
import { OptionError } from '../../shared/errors.ts';
import { predict } from '../../shared/generate.ts';
import { KernelModel } from '../../shared/kernel/stepper.ts';
import { DEFAULT_MODEL_DIR, loadKernelNode, readModelDir } from '../../shared/platform/node.ts';
import { contractOptions, contractValues, helpText, modelOption, opt } from '../options.ts';
import { parseOptions } from '../argv.ts';
import { decodeUtf8 } from '../corpus.ts';

const OPTIONS = {
  model: modelOption,
  ...contractOptions(GENERATE_FIELDS),
  regex: opt.string({ arg: 'PATTERN', help: 'the text matches this ECMAScript pattern, whole (docs/constraints.md)' }),
  choice: opt.list({ arg: 'TEXT', help: 'the text is one of these, picked with its probability under the model' }),
  'json-schema': opt.string({ arg: 'FILE', help: 'the text is JSON valid under the JSON Schema in FILE' }),
  grammar: opt.string({ arg: 'FILE', help: "the text matches the GBNF grammar in FILE (llama.cpp's syntax, from rule root)" }),
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
  const constraint = await constraintOption(values);
  if (constraint) request.constraint = constraint;
  const model = await readModelDir(values.model ?? DEFAULT_MODEL_DIR);
  const result = predict(model, request, new KernelModel(await loadKernelNode(), model));
  if (values.json) return out(JSON.stringify(result));
  if (!result.beams || result.beams.length < 2) return out(result.text);
  out(result.beams.map((b, i) => `[beam ${i + 1}: score ${b.score.toFixed(4)}, ${b.finishReason}]\n${b.text}`).join('\n\n'));
}

/** --regex, --choice, --json-schema FILE or --grammar FILE → the contract's `constraint` (one of them). */
async function constraintOption(values: { regex?: string; choice?: string[]; 'json-schema'?: string; grammar?: string }): Promise<unknown> {
  const given = (['regex', 'choice', 'json-schema', 'grammar'] as const).filter((k) => values[k] !== undefined);
  if (given.length > 1) throw new OptionError(`--${given[0]} and --${given[1]} cannot go together: give one constraint`);
  const file = async (option: string, path: string) =>
    decodeUtf8(
      await readFile(path).catch(() => {
        throw new OptionError(`--${option} ${path} cannot be read`);
      }),
      path,
    );
  if (values.regex !== undefined) return { regex: values.regex };
  if (values.choice !== undefined) return { choice: values.choice };
  if (values.grammar !== undefined) return { grammar: await file('grammar', values.grammar) };
  if (values['json-schema'] !== undefined) {
    const text = await file('json-schema', values['json-schema']);
    try {
      return { jsonSchema: JSON.parse(text) };
    } catch (e) {
      throw new OptionError(`--json-schema ${values['json-schema']} is not JSON: ${(e as Error).message}`);
    }
  }
  return undefined;
}
