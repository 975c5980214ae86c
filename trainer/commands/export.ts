/** `deeprnn export`: convert an artifact (float32 → float16 / int8), or write it as ONNX. */
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { WEIGHTS_DTYPES, type WeightsDtype } from '../../shared/artifact.ts';
import { OptionError } from '../../shared/errors.ts';
import { exportOnnx } from '../../shared/onnx.ts';
import { readModelDir, writeFileAtomic, writeModelDir } from '../../shared/platform/node.ts';
import { choiceOption, parseCommand, stringOption } from '../options.ts';

export const exportHelp = `Usage: deeprnn export --model DIR --out DIR2 [--dtype float32|float16|int8]
       deeprnn export --format onnx --model DIR --out FILE.onnx

artifact (default): a copy of the model in DIR2 with its weights stored as the given dtype
  (default float16, half the size; int8 with per-row scales, a quarter).
onnx: a standard ONNX graph (opset 17, LSTM/GRU/RNN operators) with inputs tokens [seq, batch]
  (int64) and h0_l{k} (c0_l{k}) [1, batch, H], outputs logits [seq, batch, V] and hn_l{k} (cn_l{k}).`;

export async function exportCommand(argv: string[], out: (s: string) => void): Promise<void> {
  const { values } = parseCommand(argv, { model: { type: 'string' }, out: { type: 'string' }, dtype: { type: 'string' }, format: { type: 'string' } });
  const from = stringOption('model', values.model);
  const to = stringOption('out', values.out);
  if (from === undefined || to === undefined) throw new OptionError('--model DIR and --out are required');
  const format = choiceOption('format', stringOption('format', values.format), ['artifact', 'onnx'] as const) ?? 'artifact';
  if (format === 'onnx') {
    if (values.dtype !== undefined) throw new OptionError('--dtype applies to artifacts; ONNX is written in float32');
    await writeFileAtomic(to, exportOnnx(await readModelDir(from)));
    out(`wrote ${to} (ONNX, opset 17)`);
    return;
  }
  const dtype = choiceOption<WeightsDtype>('dtype', stringOption('dtype', values.dtype), WEIGHTS_DTYPES) ?? 'float16';
  const model = await readModelDir(from);
  await writeModelDir(to, model, dtype);
  // The training plot belongs to the model card of every rendition of the model.
  await copyFile(join(from, 'perplexity.svg'), join(to, 'perplexity.svg')).catch(() => {});
  out(`wrote ${to} (${dtype})`);
}
