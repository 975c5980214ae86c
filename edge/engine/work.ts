/**
 * What the serving engine carries between the scheduler and a lane: work in (plain data, so it
 * crosses a thread or a Web Worker boundary as is) and events out.
 */
import type { GeneratedToken, ScoreResult } from '../../shared/contract.ts';
import type { JobOutcome } from '../../shared/decode/job.ts';
import type { ValidatedScore } from '../../shared/evaluate.ts';
import { rowsOf as jobRows, stepsOf, type ValidatedGeneration } from '../../shared/decode/validate.ts';

export type Work =
  | { kind: 'generate'; id: number; g: ValidatedGeneration /** Send characters as they come (else only the result). */; stream: boolean }
  | { kind: 'score'; id: number; s: ValidatedScore };

export type LaneEvent =
  | { type: 'tokens'; id: number; tokens: GeneratedToken[] }
  | { type: 'generated'; id: number; outcome: JobOutcome }
  | { type: 'scored'; id: number; result: ScoreResult }
  | { type: 'failed'; id: number; message: string };

/** Where work runs: in this thread (Workers, the browser worker) or in a worker thread (Node). */
export interface Lane {
  /** Rows of its batch: a job takes one (beam search: one per beam). */
  readonly capacity: number;
  /** Start `work`; every event about it goes to the lane's listener. */
  submit(work: Work): void;
  /** Stop a job: `cancelled` drops it silently (nobody is listening), `deadline` ends it with its result so far. */
  cancel(id: number, reason: 'cancelled' | 'deadline'): void;
  close(): Promise<void>;
}

/** Rows a piece of work occupies. */
export function rowsOf(work: Work): number {
  return work.kind === 'generate' ? jobRows(work.g) : 1;
}

/** What a piece of work costs, in characters × rows: what a client's waiting work is counted in. */
export function workOf(work: Work): number {
  if (work.kind === 'score') return work.s.ids.length;
  return (stepsOf(work.g) + work.g.ids.length) * jobRows(work.g);
}
