/**
 * Generation, d2l's `predict_ch8` and what users of char-RNN tools ask for beyond it: the state
 * starts at zeros, the model warms up on the prefix (its outputs ignored), then produces up to
 * `numChars` characters, each fed back as the next input — by sampling (greedy at temperature 0)
 * or by beam search — with log-probabilities, stop sequences and an author to write as.
 *
 * The pieces, one room each: decode/validate.ts checks a request into a `ValidatedGeneration`;
 * decode/sampling-job.ts and decode/beam-job.ts are the jobs (decode/job.ts: what every job
 * answers, and how its outcome becomes a signed token); shared/batch.ts runs jobs. A job never
 * touches a stepper itself: whoever runs it — the batched executor on a server thread, in a
 * Worker, in the browser, in the CLI; or onnxruntime in a page — drives the same job, so every
 * runtime picks the same characters. This file puts them together for one call.
 */
import { runJob } from './batch.ts';
import { LIBRARY_LIMITS, type GenerateResult, type Limits } from './contract.ts';
import { BeamJob } from './decode/beam-job.ts';
import { ChoiceJob } from './decode/choice-job.ts';
import { outcomeOf, sealOutcome, type DecodeJob } from './decode/job.ts';
import { SamplingJob } from './decode/sampling-job.ts';
import { validateGeneration, type GenerationOptions, type ValidatedGeneration } from './decode/validate.ts';
import { KernelModel, referenceRows, type RowStepper } from './kernel/stepper.ts';
import type { Model } from './model.ts';

/** The job for a validated request: every option scored for a choice, beam search when beamWidth > 1, sampling otherwise. */
export function createJob(model: Model, g: ValidatedGeneration): DecodeJob {
  if (g.constraint?.kind === 'choice') return new ChoiceJob(model, g);
  return g.beam ? new BeamJob(model, g) : new SamplingJob(model, g);
}

/**
 * Generate in one call, synchronously (the CLI, training's sample predictions, tests): validate,
 * run the job to its end, return the result (its continuation signed with `o.secret` when set). On a `KernelModel` it borrows a pooled stepper; on
 * a `RowStepper` it uses that one; without either, the reference pass.
 */
export function predict(
  model: Model,
  request: unknown,
  on?: KernelModel | RowStepper,
  limits: Limits = LIBRARY_LIMITS,
  o: GenerationOptions = {},
): GenerateResult {
  const g = validateGeneration(model, request, limits, 'library', o);
  const job = createJob(model, g);
  const rows = on instanceof KernelModel ? on.acquire(job.rows) : (on ?? referenceRows(model, job.rows));
  const t0 = performance.now();
  try {
    runJob(job, rows);
  } finally {
    if (on instanceof KernelModel) on.release(rows as ReturnType<KernelModel['acquire']>);
  }
  return sealOutcome(outcomeOf(job, { totalMs: Math.round(performance.now() - t0) }), o.secret, g.returnContinuation);
}
