/** `deeprnn score`: each character's log-probability under a model, and the text's perplexity. */
import { readFile } from 'node:fs/promises';
import { SCORE_FIELDS } from '../../shared/contract.ts';
import { OptionError } from '../../shared/errors.ts';
import { runJob } from '../../shared/batch.ts';
import { ScoreJob, validateScore } from '../../shared/evaluate.ts';
import { KernelModel } from '../../shared/kernel/stepper.ts';
import { DEFAULT_MODEL_DIR, loadKernelNode, readModelDir } from '../../shared/platform/node.ts';
import { decodeUtf8 } from '../corpus.ts';
import { contractOptions, contractValues, helpText, modelOption, opt } from '../options.ts';
import { parseOptions } from '../argv.ts';

const OPTIONS = {
  model: modelOption,
  ...contractOptions(SCORE_FIELDS),
  file: opt.string({ arg: 'FILE', help: 'score the text of this UTF-8 file instead of --text' }),
  json: opt.boolean({ help: 'print the full result as JSON: every character with its log-probability' }),
};

export const scoreHelp = helpText(
  'Usage: deeprnn score [--model DIR] --text TEXT | --file FILE [--author A] [--json]',
  OPTIONS,
  "The text is read as one stream through the model's preprocessing, as a generation reads its prefix; each\ncharacter after the first gets ln P(character | the ones before). For the perplexity of whole corpora,\nper file and with the training's own held-out reading, use deeprnn evaluate.",
);

export async function scoreCommand(argv: string[], out: (s: string) => void): Promise<void> {
  const { values } = parseOptions(OPTIONS, argv);
  const text = (values as Record<string, unknown>).text;
  if ((text === undefined) === (values.file === undefined)) throw new OptionError('give the text to score with --text TEXT or --file FILE (one of them)');
  const request = contractValues(SCORE_FIELDS, values);
  if (values.file !== undefined)
    request.text = decodeUtf8(
      await readFile(values.file).catch(() => {
        throw new OptionError(`--file ${values.file} cannot be read`);
      }),
      values.file,
    );
  const model = await readModelDir(values.model ?? DEFAULT_MODEL_DIR);
  const s = validateScore(model, request);
  const km = new KernelModel(await loadKernelNode(), model);
  const rows = km.acquire(1);
  const job = new ScoreJob(model, s);
  runJob(job, rows);
  km.release(rows);
  const r = job.result();
  if (values.json) return out(JSON.stringify(r));
  out(
    `${r.predicted} characters predicted: perplexity ${r.perplexity.toFixed(4)}, ${r.bitsPerChar.toFixed(4)} bits per character, log-probability ${r.logprob.toFixed(2)} nats${r.unknown ? `; ${r.unknown} characters the model never saw, read as <unk>` : ''}`,
  );
}
