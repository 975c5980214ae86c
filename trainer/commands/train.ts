/** `deeprnn train`: option parsing, the output folder, Ctrl-C, and progress display around trainer/train.ts. */
import { OptionError } from '../../shared/errors.ts';
import type { Checkpoint, EpochRecord } from '../checkpoint.ts';
import { readCheckpoint } from '../checkpoint-files.ts';
import { availableParallelism } from 'node:os';
import { RESUME_OPTIONS, trainConfig, trainOptions, type TrainConfig, type TrainValues } from '../config.ts';
import { withOutDir } from '../outdir.ts';
import { helpText } from '../options.ts';
import { parseOptions } from '../argv.ts';
import { train } from '../train-files.ts';

/** The CLI's table: threads bounded by this machine's cores. */
export const TRAIN_OPTIONS = trainOptions(availableParallelism());

export const trainHelp = helpText(
  'Usage: deeprnn train --out DIR [options]\n       deeprnn train --resume DIR [--epochs N] [--time-budget MIN]',
  TRAIN_OPTIONS,
  `Trains a deep recurrent language model (d2l's train_ch8) and writes DIR/model.json + weights.bin,
DIR/metrics.jsonl, DIR/perplexity.svg and DIR/checkpoint.bin (every epoch, and on a stop).
Ctrl-C (or SIGTERM) finishes the current window, writes the checkpoint and a usable model from the
best weights so far, and prints the command that resumes; a second Ctrl-C quits at once.
Different --threads values sum gradients in a different order: results differ in the last bits.`,
);

/** A one-line progress bar on a terminal; nothing otherwise. */
function progressBar(stream: NodeJS.WriteStream): ((epoch: number, epochs: number, i: number, n: number) => void) | undefined {
  if (!stream.isTTY) return undefined;
  let last = 0;
  return (epoch, epochs, i, n) => {
    const now = Date.now();
    if (now - last < 100 && i + 1 < n) return;
    last = now;
    const width = 24;
    const done = Math.min(width, Math.round(((i + 1) / Math.max(1, n)) * width));
    stream.write(`\r  epoch ${epoch}/${epochs === 1_000_000 ? '∞' : epochs} [${'#'.repeat(done)}${'.'.repeat(width - done)}] window ${i + 1}/${n}\x1b[K`);
  };
}

/** Into a pipe or a file (CI logs, nohup, | tee): a plain line this often, instead of a bar. */
export const PIPE_PROGRESS_MS = 15_000;

/** A progress line for a pipe: where the run is, its loss, its speed, and the time left (budget, or the epochs' pace). */
function pipeProgress(
  out: (s: string) => void,
  config: Pick<TrainConfig, 'epochs' | 'timeBudgetMinutes'>,
  everyMs = PIPE_PROGRESS_MS,
): (epoch: number, i: number, n: number, r: { loss: number; tokens: number; elapsedSeconds: number }) => void {
  let last = Date.now();
  let start: { at: number; tokens: number; elapsed: number } | null = null;
  return (epoch, i, n, r) => {
    const now = Date.now();
    if (i === 0 || !start) start = { at: now, tokens: r.tokens, elapsed: r.elapsedSeconds };
    if (now - last < everyMs) return;
    last = now;
    const seconds = (now - start.at) / 1000;
    const rate = Math.round(seconds > 0 && r.tokens > start.tokens ? (r.tokens - start.tokens) / seconds : r.tokens / Math.max(1e-9, r.elapsedSeconds));
    const epochs = config.epochs === 1_000_000 ? '∞' : config.epochs;
    const done = epoch - 1 + (i + 1) / Math.max(1, n);
    const left =
      config.timeBudgetMinutes > 0
        ? Math.max(0, config.timeBudgetMinutes * 60 - r.elapsedSeconds)
        : config.epochs === 1_000_000
          ? null
          : (r.elapsedSeconds / Math.max(1e-9, done)) * (config.epochs - done);
    out(
      `epoch ${epoch}/${epochs} window ${i + 1}/${n}: loss ${r.loss.toFixed(3)} (perplexity ${Math.exp(r.loss).toFixed(2)}), ${rate} tokens/s, ${Math.round(r.elapsedSeconds)} s${left === null ? '' : `, ~${Math.round(left)} s left`}`,
    );
  };
}

/** `--resume DIR [--epochs N] [--time-budget MIN]`: the run's own configuration, extended. */
async function resumeConfig(values: TrainValues, given: Set<string>, outDir: string): Promise<{ config: TrainConfig; checkpoint: Checkpoint }> {
  const other = [...given].find((k) => !RESUME_OPTIONS.includes(k as (typeof RESUME_OPTIONS)[number]));
  if (other)
    throw new OptionError(`--resume takes the run's own options from its checkpoint; drop --${other} (only --epochs, --time-budget and --json go with it)`);
  const checkpoint = await readCheckpoint(outDir);
  let config = checkpoint.config;
  if (given.has('epochs')) {
    const epochs = values.epochs!;
    if (epochs < checkpoint.position.epoch) throw new OptionError(`--epochs ${epochs}: the run has already completed ${checkpoint.position.epoch} epochs`);
    if (config.lrSchedule === 'cosine' && config.timeBudgetMinutes === 0 && epochs !== config.epochs) {
      throw new OptionError(
        `the run decays its learning rate over ${config.epochs} epochs (--lr-schedule cosine): extending it to ${epochs} could not give what a ${epochs}-epoch run gives; start a new run with --init-from ${outDir} instead`,
      );
    }
    config = { ...config, epochs };
  }
  if (given.has('time-budget')) config = { ...config, timeBudgetMinutes: values['time-budget']! };
  return { config, checkpoint };
}

export async function trainCommand(argv: string[], out: (s: string) => void): Promise<number> {
  const { values, given, positionals } = parseOptions(TRAIN_OPTIONS, argv);
  if (positionals.length > 0) throw new OptionError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const json = values.json === true;
  const outDir = values.resume ?? values.out;
  if (outDir === undefined) throw new OptionError('--out DIR is required (or --resume DIR)');
  const fresh = values.resume === undefined ? trainConfig(values) : null;
  if (fresh?.initFrom)
    for (const k of ['cell', 'layers', 'hidden', 'preprocessing'] as const)
      if (given.has(k)) throw new OptionError(`--init-from takes the model's architecture and preprocessing; drop --${k}`);
  const err = (s: string) => process.stderr.write(s + '\n');
  const log = json ? err : out;
  const quiet = values.quiet === true;
  const bar = json || quiet ? undefined : progressBar(process.stdout);
  const epochLine = (r: EpochRecord, epochs: number) =>
    `epoch ${r.epoch}/${epochs === 1_000_000 ? '∞' : epochs} perplexity ${r.perplexity.toFixed(2)}${r.validationPerplexity === null ? '' : ` validation ${r.validationPerplexity.toFixed(2)}`} ${r.tokensPerSecond} tokens/s ${r.elapsedSeconds.toFixed(0)} s`;

  // Ctrl-C: finish the window, write the checkpoint and a model, say how to resume. Twice: quit
  // now. Caught from before the folder is locked: no Ctrl-C can kill the run and leave its lock.
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (stop.signal.aborted) process.exit(130);
    if (bar) process.stdout.write('\r\x1b[K');
    err(`${signal}: stopping after this window (press Ctrl-C again to quit at once)…`);
    stop.abort(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await withOutDir(outDir, fresh ? { force: values.force === true } : { force: true, resume: true }, async () => {
      const { config, checkpoint } = fresh ? { config: fresh, checkpoint: null } : await resumeConfig(values, given, outDir);
      if (checkpoint)
        log(`resuming ${outDir} after epoch ${checkpoint.position.epoch}${checkpoint.position.window ? `, window ${checkpoint.position.window}` : ''}`);
      const r = await train(
        config,
        outDir,
        {
          log: (line) => {
            if (quiet && /^epoch \d+: /.test(line)) return; // the predictions along the way
            if (bar) process.stdout.write('\r\x1b[K');
            log(line);
          },
          window: bar
            ? (epoch, i, n) => bar(epoch, config.epochs, i, n)
            : json || quiet
              ? undefined
              : pipeProgress(log, config, values['progress-every']! * 1000),
          epoch: (rec, epochs) => {
            if (json) out(JSON.stringify(rec));
            else if (quiet) return;
            else if (bar) process.stdout.write(`\r\x1b[K${epochLine(rec, epochs)}\n`);
            else if (rec.epoch % 10 === 0 || rec.epoch === epochs || rec.epoch !== Math.floor(rec.epoch)) out(epochLine(rec, epochs));
          },
        },
        checkpoint,
        { signal: stop.signal },
      );
      if (r.stopped === 'time-budget')
        log(`time budget of ${config.timeBudgetMinutes} min reached: stopped at epoch ${r.last.epoch}; the model is in ${outDir}`);
      if (r.stopped === 'interrupted') {
        err(`interrupted at epoch ${r.last.epoch}: the model so far is in ${outDir}. Continue with:\n  deeprnn train --resume ${outDir}`);
        return 130;
      }
      return 0;
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
