/**
 * A generation as the executor runs it (`DecodeJob`, a `RowJob` of shared/batch.ts), and what it
 * leaves when it ends: its result, and — for a sampling job cut by a length or a budget — the
 * state to go on from, as a value. The job never signs anything: whoever finishes it (the edge
 * for a server, `predict` for the library) makes the token with `sealOutcome`, so a secret never
 * rides in a job, a validated request or a message to a thread.
 */
import type { RowJob } from '../batch.ts';
import type { FinishReason, GeneratedToken, GenerateResult, StartEvent } from '../contract.ts';
import { encodeContinuation, type Continuation } from '../continuation.ts';
import type { Model } from '../model.ts';
import type { ValidatedGeneration } from './validate.ts';

/** A generation: a `RowJob` that streams characters and ends with a `GenerateResult`. */
export interface DecodeJob extends RowJob {
  /** Characters produced since the last call, in order (for streaming). */
  take(): GeneratedToken[];
  /** End now (a deadline): the result so far. */
  stop(reason: FinishReason): void;
  /** The result (without a continuation token), once finished. */
  result(timings: { totalMs: number }): GenerateResult;
  /** Once it has left the executor: the state it can go on from, or null (a stop sequence ended it, beam search). */
  left(): Continuation | null;
  /** What the `start` event says. */
  readonly start: StartEvent;
}

/** How a generation ended: its result, and the state it leaves (plain data: it crosses threads). */
export interface JobOutcome {
  result: GenerateResult;
  left: Continuation | null;
}

/** A finished job's outcome. */
export function outcomeOf(job: DecodeJob, timings: { totalMs: number }): JobOutcome {
  return { result: job.result(timings), left: job.left() };
}

/**
 * The result a client gets: the outcome's state as a continuation token, signed with `secret`
 * when one is set — for a result numChars ended only when the request wants one
 * (`returnContinuation`); a result a deadline or a budget cut always has its token.
 */
export function sealOutcome(o: JobOutcome, secret?: string, returnContinuation = true): GenerateResult {
  if (!o.left || (o.result.finishReason === 'length' && !returnContinuation)) return o.result;
  return { ...o.result, continuation: encodeContinuation(o.left, secret) };
}

export function startEvent(model: Model, g: ValidatedGeneration): StartEvent {
  const e: StartEvent = { model: model.name, prefix: g.prefix, seed: g.seed, numChars: g.numChars };
  if (g.author) e.author = g.author.name;
  return e;
}
