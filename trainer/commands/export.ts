/** `deeprnn export`: convert an artifact (float32 → float16, …). */
import { WEIGHTS_DTYPES, type WeightsDtype } from '../../shared/artifact.ts';
import { OptionError } from '../../shared/errors.ts';
import { readModelDir, writeModelDir } from '../../shared/platform/node.ts';
import { choiceOption, parseCommand, stringOption } from '../options.ts';

export const exportHelp = `Usage: deeprnn export --model DIR --out DIR2 [--dtype float32|float16]

Writes a copy of the model artifact in DIR to DIR2 with its weights stored as the given dtype
(default float16: half the size; generation is unchanged to within float16's precision).`;

export async function exportCommand(argv: string[], out: (s: string) => void): Promise<void> {
  const { values } = parseCommand(argv, { model: { type: 'string' }, out: { type: 'string' }, dtype: { type: 'string' } });
  const from = stringOption('model', values.model);
  const to = stringOption('out', values.out);
  if (from === undefined || to === undefined) throw new OptionError('--model DIR and --out DIR2 are required');
  const dtype = choiceOption<WeightsDtype>('dtype', stringOption('dtype', values.dtype), WEIGHTS_DTYPES) ?? 'float16';
  const model = await readModelDir(from);
  await writeModelDir(to, model, dtype);
  out(`wrote ${to} (${dtype})`);
}
