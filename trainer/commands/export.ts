/** `deeprnn export`: convert an artifact (float32 → float16 / int8), or write it as ONNX. */
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { WEIGHTS_DTYPES } from '../../shared/artifact.ts';
import { OptionError } from '../../shared/errors.ts';
import { MODEL_NAME } from '../../shared/model.ts';
import { exportOnnx } from '../../shared/onnx.ts';
import { readModelDir, writeFileAtomic, writeModelDir } from '../../shared/platform/node.ts';
import { helpText, opt } from '../options.ts';
import { parseOptions } from '../argv.ts';
import { prepareOutFile, withOutDir } from '../outdir.ts';

const OPTIONS = {
  model: opt.string({ arg: 'DIR', help: 'the model artifact to convert (required)' }),
  out: opt.string({ arg: 'DIR|FILE', help: 'where to write: a folder for an artifact, a file for ONNX (required)' }),
  format: opt.choice({ choices: ['artifact', 'onnx'] as const, help: 'artifact (a model folder) or onnx', default: 'artifact' as const }),
  dtype: opt.choice({ choices: WEIGHTS_DTYPES, help: 'weights of the artifact: float16 halves them, int8 (per-row scales) quarters them (default float16)' }),
  'state-bits': opt.choice({
    choices: ['7', '16'] as const,
    help: 'int8: how hidden states enter the integer products — 7 (u = round(63·h) + 64, on the relaxed dot product where the engine has it, the same integers elsewhere; the default) or 16 (int16, the int8 path of renditions exported before 2026-12-05)',
  }),
  name: opt.string({ arg: 'NAME', help: "the rendition's name, as servers list it and requests name it: letters, digits, . _ - (default: the model's own)" }),
  force: opt.boolean({ help: 'overwrite a model (or an ONNX file) already at --out' }),
};

export const exportHelp = helpText(
  'Usage: deeprnn export --model DIR --out DIR2 [--dtype float32|float16|int8] [--state-bits 7|16] [--name NAME]\n       deeprnn export --format onnx --model DIR --out FILE.onnx',
  OPTIONS,
  `onnx: a standard ONNX graph (opset 17, LSTM/GRU/RNN operators) with inputs tokens [seq, batch]
(int64) and h0_l{k} (c0_l{k}) [1, batch, H], outputs logits [seq, batch, V] and hn_l{k} (cn_l{k}).`,
);

export async function exportCommand(argv: string[], out: (s: string) => void): Promise<void> {
  const { values } = parseOptions(OPTIONS, argv);
  if (values.model === undefined || values.out === undefined) throw new OptionError('--model DIR and --out are required');
  if (values.name !== undefined && !MODEL_NAME.test(values.name))
    throw new OptionError(`--name must be 1 to 128 letters, digits, ".", "_" or "-", got ${JSON.stringify(values.name)}`);
  const read = await readModelDir(values.model);
  const model = values.name === undefined ? read : { ...read, name: values.name };
  if (values.format === 'onnx') {
    if (values.dtype !== undefined) throw new OptionError('--dtype applies to artifacts; ONNX is written in float32');
    if (values.name !== undefined) throw new OptionError('--name applies to artifacts');
    await prepareOutFile(values.out, { force: values.force === true });
    await writeFileAtomic(values.out, exportOnnx(model));
    return out(`wrote ${values.out} (ONNX, opset 17)`);
  }
  const dtype = values.dtype ?? 'float16';
  if (values['state-bits'] !== undefined && dtype !== 'int8') throw new OptionError('--state-bits applies to int8 artifacts');
  const stateBits = dtype === 'int8' ? (Number(values['state-bits'] ?? '7') as 7 | 16) : 16;
  const { model: from, out: to } = values;
  await withOutDir(to, { force: values.force === true }, async () => {
    await writeModelDir(to, model, dtype, stateBits);
    // The training plot belongs to the model card of every rendition of the model.
    await copyFile(join(from, 'perplexity.svg'), join(to, 'perplexity.svg')).catch(() => {});
  });
  out(`wrote ${values.out} (${dtype}${dtype === 'int8' ? `, ${stateBits}-bit states` : ''}${values.name === undefined ? '' : `, named ${values.name}`})`);
}
