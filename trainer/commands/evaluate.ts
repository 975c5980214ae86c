/**
 * `deeprnn evaluate`: perplexity and bits per character of any text under a model, per file and
 * overall — by `evaluateIds`, the function training's validation calls, reading the files as
 * training reads them (the model's preprocessing and vocabulary, boilerplate removed).
 */
import { basename } from 'node:path';
import { OptionError } from '../../shared/errors.ts';
import { combine, evaluateIds, EVAL_SEGMENT, type Evaluation } from '../../shared/evaluate.ts';
import { KernelModel } from '../../shared/kernel/stepper.ts';
import { DEFAULT_MODEL_DIR, loadKernelNode, readModelDir } from '../../shared/platform/node.ts';
import { cleaningOf, corpusFile, splitCorpus } from '../corpus.ts';
import { readCorpus } from '../corpus-files.ts';
import { helpText, modelOption, opt } from '../options.ts';
import { parseOptions } from '../argv.ts';

const OPTIONS = {
  model: modelOption,
  corpus: opt.list({
    arg: '[NAME=]FILE',
    help: 'text file to score, UTF-8; NAME: its author, for models trained with author tags (default: the file name up to - _ or .)',
  }),
  'held-out': opt.number({
    min: 0,
    max: 0.5,
    exclusiveMin: true,
    arg: 'F',
    help: "score only the last F of each file, as training holds it out (--val-fraction F): gives the run's validation perplexity",
  }),
  'keep-boilerplate': opt.boolean({ help: 'keep Project Gutenberg licence blocks and YAML front matter (removed by default, as in training)' }),
  'keep-mojibake': opt.boolean({ help: 'raw text: keep mojibake as written (default: as the model was trained: repaired unless it kept them)' }),
  'keep-margins': opt.boolean({ help: "raw text: keep a file's margin (default: as the model was trained: removed unless it kept them)" }),
  clean: opt.boolean({
    help: 'raw text: repair mojibake and remove margins whatever the model was trained on (to score a model trained before 2026-12-07 on the text a newer one reads)',
  }),
  json: opt.boolean({ help: 'print the result as JSON' }),
};

export const evaluateHelp = helpText(
  'Usage: deeprnn evaluate [--model DIR] --corpus FILE [--corpus FILE …] [--held-out F] [--json]',
  OPTIONS,
  `Characters the model never saw are read as <unk>, counted and reported (their probability is the
model's probability of <unk>). Text is read in ${EVAL_SEGMENT}-character segments, each from zero state.`,
);

const row = (e: Evaluation) => ({ characters: e.predicted, perplexity: +e.perplexity.toFixed(4), bitsPerChar: +e.bitsPerChar.toFixed(4), unknown: e.unknown });

export async function evaluateCommand(argv: string[], out: (s: string) => void): Promise<void> {
  const { values } = parseOptions(OPTIONS, argv);
  if (!values.corpus?.length) throw new OptionError('give the text to score with --corpus FILE (repeat for several)');
  const model = await readModelDir(values.model ?? DEFAULT_MODEL_DIR);
  const files = values.corpus.map(corpusFile);
  // A model trained with author tags reads each file with its author's tag, when it knows the author.
  const tagged = model.vocab.authors.size > 0 && files.every((f) => model.vocab.authors.has(f.author));
  if (values.clean && (values['keep-mojibake'] || values['keep-margins']))
    throw new OptionError(`--clean removes what --${values['keep-mojibake'] ? 'keep-mojibake' : 'keep-margins'} keeps: give one of them`);
  const asTrained = values.clean ? { keepMojibake: false, keepMargins: false } : cleaningOf(model);
  const corpus = await readCorpus(files, {
    preprocessing: model.preprocessing,
    keepBoilerplate: values['keep-boilerplate'] ?? false,
    keepMojibake: values['keep-mojibake'] || asTrained.keepMojibake,
    keepMargins: values['keep-margins'] || asTrained.keepMargins,
    authorTags: tagged,
    vocab: model.vocab,
    unknownChars: 'unk',
  });
  const parts = values['held-out']
    ? splitCorpus(corpus, { maxTokens: 0, valFraction: values['held-out'], authorTags: tagged }).validation.map((v) => v.ids)
    : corpus.ids;
  const km = new KernelModel(await loadKernelNode(), model);
  const rows = km.acquire(Math.min(64, Math.max(...parts.map((p) => Math.ceil(p.length / EVAL_SEGMENT)))));
  const perFile = parts.map((ids) => evaluateIds(rows, ids, model.vocab));
  km.release(rows);
  const overall = combine(perFile);
  if (values.json) {
    return out(
      JSON.stringify({
        model: model.name,
        heldOut: values['held-out'] ?? null,
        authorTags: tagged,
        files: files.map((f, i) => ({ path: f.path, author: f.author, ...row(perFile[i]) })),
        overall: row(overall),
      }),
    );
  }
  if (model.vocab.authors.size > 0 && !tagged)
    out(`note: the model knows the authors ${[...model.vocab.authors.keys()].join(', ')}; name a file's author as NAME=FILE to read it with the author's tag`);
  const width = Math.max(7, ...files.map((f) => basename(f.path).length));
  out(`${'file'.padEnd(width)}  characters  perplexity  bits/char  unknown`);
  const line = (name: string, e: Evaluation) =>
    `${name.padEnd(width)}  ${String(e.predicted).padStart(10)}  ${e.perplexity.toFixed(4).padStart(10)}  ${e.bitsPerChar.toFixed(4).padStart(9)}  ${String(e.unknown).padStart(7)}`;
  files.forEach((f, i) => out(line(basename(f.path), perFile[i])));
  if (files.length > 1) out(line('overall', overall));
}
