/**
 * The serving engine's front: admission control, a bounded queue, per-request deadlines and
 * cancellation, over one or more lanes (the threads of a Node server, or the single in-thread
 * lane of a Worker). The app asks it for a generation or a score and gets characters, a result,
 * or — at once — a refusal when the server is full. Runtime-free: the entry points bring lanes.
 */
import type { GeneratedToken, GenerateResult, ScoreResult, StartEvent } from '../../shared/contract.ts';
import { DeeprnnError } from '../../shared/errors.ts';
import type { ValidatedScore } from '../../shared/evaluate.ts';
import type { ValidatedGeneration } from '../../shared/generate.ts';
import { rowsOf, type Lane, type LaneEvent, type Work } from './work.ts';

/** The server is full: answer 503 with Retry-After. */
export class OverloadedError extends DeeprnnError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super('overloaded', message);
  }
}

export interface SchedulerOptions {
  /** Requests that may wait for a free row, beyond those running (0: none wait). */
  queueSize: number;
  /** Wall-clock limit of a request from its admission, in ms: generation ends with finishReason "deadline". */
  deadlineMs: number;
}

/** A generation in flight: characters as they come, then the result. */
export interface Generation {
  readonly start: StartEvent;
  /** Batches of characters, in order; ends when the generation ends. */
  tokens(): AsyncIterable<GeneratedToken[]>;
  readonly result: Promise<GenerateResult>;
}

/** A model's load: requests running and waiting, rows of batch in use and in all. */
export interface EngineStats {
  running: number;
  queued: number;
  activeRows: number;
  capacity: number;
}

/** What the app needs of a serving engine. */
export interface GenerationService {
  readonly engine: string;
  generate(g: ValidatedGeneration, start: StartEvent, opts: { stream: boolean; signal?: AbortSignal }): Generation;
  score(s: ValidatedScore, signal?: AbortSignal): Promise<ScoreResult>;
  /** Load figures for /healthz. */
  stats(): EngineStats;
  close(): Promise<void>;
}

interface Pending {
  work: Work;
  rows: number;
  lane: number | null;
  deadline: ReturnType<typeof setTimeout> | null;
  onEvent(e: LaneEvent): void;
  /** Finish without a lane (deadline while queued, or a cancel). */
  settle(reason: 'cancelled' | 'deadline'): void;
}

/** A tiny async queue of token batches. */
class TokenQueue {
  private items: GeneratedToken[][] = [];
  private wake: (() => void) | null = null;
  private ended = false;

  push(t: GeneratedToken[]): void {
    this.items.push(t);
    this.wake?.();
  }
  end(): void {
    this.ended = true;
    this.wake?.();
  }
  async *drain(): AsyncGenerator<GeneratedToken[]> {
    for (;;) {
      if (this.items.length) {
        yield this.items.shift()!;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((r) => (this.wake = r));
      this.wake = null;
    }
  }
}

export class Scheduler implements GenerationService {
  private readonly free: number[];
  private readonly pending = new Map<number, Pending>();
  private readonly queue: Pending[] = [];
  private nextId = 1;

  constructor(
    private readonly lanes: Lane[],
    readonly engine: string,
    private readonly o: SchedulerOptions,
  ) {
    this.free = lanes.map((l) => l.capacity);
  }

  /** Lanes call this with every event they emit. */
  readonly onLaneEvents = (lane: number, events: LaneEvent[]): void => {
    for (const e of events) {
      const p = this.pending.get(e.id);
      if (!p) continue;
      if (e.type !== 'tokens') this.release(p, lane);
      p.onEvent(e);
    }
  };

  stats(): EngineStats {
    let running = 0;
    for (const p of this.pending.values()) if (p.lane !== null) running++;
    const capacity = this.lanes.reduce((n, l) => n + l.capacity, 0);
    return { running, queued: this.queue.length, activeRows: capacity - this.free.reduce((n, f) => n + f, 0), capacity };
  }

  private release(p: Pending, lane: number): void {
    if (p.deadline) clearTimeout(p.deadline);
    this.pending.delete(p.work.id);
    this.free[lane] += p.rows;
    p.lane = null;
    this.dispatch();
  }

  /** Start queued work on lanes with room, in arrival order. */
  private dispatch(): void {
    while (this.queue.length) {
      const p = this.queue[0];
      const lane = this.laneFor(p.rows);
      if (lane < 0) return;
      this.queue.shift();
      this.run(p, lane);
    }
  }

  /** The lane with the most free rows that fits, or −1. */
  private laneFor(rows: number): number {
    let best = -1;
    for (let i = 0; i < this.free.length; i++) if (this.free[i] >= rows && (best < 0 || this.free[i] > this.free[best])) best = i;
    return best;
  }

  private run(p: Pending, lane: number): void {
    p.lane = lane;
    this.free[lane] -= p.rows;
    this.lanes[lane].submit(p.work);
  }

  private admit(work: Work, onEvent: (e: LaneEvent) => void, settle: (reason: 'cancelled' | 'deadline') => void, signal?: AbortSignal): void {
    const rows = rowsOf(work);
    const most = Math.max(...this.lanes.map((l) => l.capacity));
    if (rows > most) throw new OverloadedError(`the request needs ${rows} rows of a batch; this server's batches have ${most}`, 0);
    const lane = this.laneFor(rows);
    if (lane < 0 && this.queue.length >= this.o.queueSize) {
      throw new OverloadedError(`the server is at capacity (${this.stats().running} running, ${this.queue.length} waiting); retry shortly`, 1);
    }
    const p: Pending = { work, rows, lane: null, deadline: null, onEvent, settle };
    this.pending.set(work.id, p);
    p.deadline = setTimeout(() => this.expire(p, 'deadline'), this.o.deadlineMs);
    if (lane >= 0) this.run(p, lane);
    else this.queue.push(p);
    if (signal) {
      if (signal.aborted) this.expire(p, 'cancelled');
      else signal.addEventListener('abort', () => this.expire(p, 'cancelled'), { once: true });
    }
  }

  /** A request's deadline passed or its client left. */
  private expire(p: Pending, reason: 'cancelled' | 'deadline'): void {
    if (!this.pending.has(p.work.id)) return;
    if (p.lane === null) {
      const i = this.queue.indexOf(p);
      if (i >= 0) this.queue.splice(i, 1);
      if (p.deadline) clearTimeout(p.deadline);
      this.pending.delete(p.work.id);
      p.settle(reason);
      return;
    }
    const lane = p.lane;
    // A generation past its deadline ends with its text so far (the lane sends the result); a
    // cancelled job, or a score (which has no partial result), leaves its lane at once.
    if (reason === 'deadline' && p.work.kind === 'generate') return this.lanes[lane].cancel(p.work.id, 'deadline');
    this.lanes[lane].cancel(p.work.id, 'cancelled');
    this.release(p, lane);
    p.settle(reason);
  }

  generate(g: ValidatedGeneration, start: StartEvent, opts: { stream: boolean; signal?: AbortSignal }): Generation {
    const id = this.nextId++;
    const queue = new TokenQueue();
    let resolve!: (r: GenerateResult) => void;
    let reject!: (e: Error) => void;
    const result = new Promise<GenerateResult>((res, rej) => ((resolve = res), (reject = rej)));
    result.catch(() => {}); // callers that only stream need not await it
    const admitted = performance.now();
    this.admit(
      { kind: 'generate', id, g, stream: opts.stream },
      (e) => {
        if (e.type === 'tokens') queue.push(e.tokens);
        else if (e.type === 'generated') {
          queue.end();
          resolve(e.result);
        } else if (e.type === 'failed') {
          queue.end();
          reject(new DeeprnnError('internal', e.message));
        }
      },
      (reason) => {
        queue.end();
        if (reason === 'cancelled') reject(new DeeprnnError('cancelled', 'the client went away'));
        // Past its deadline before a row was free: nothing was generated.
        else
          resolve({
            model: start.model,
            prefix: g.prefix,
            text: g.prefix,
            generated: '',
            numChars: 0,
            seed: g.seed,
            finishReason: 'deadline',
            ...(g.author ? { author: g.author.name } : {}),
            timings: { totalMs: Math.round(performance.now() - admitted) },
          });
      },
      opts.signal,
    );
    return { start, tokens: () => queue.drain(), result };
  }

  score(s: ValidatedScore, signal?: AbortSignal): Promise<ScoreResult> {
    const id = this.nextId++;
    return new Promise<ScoreResult>((resolve, reject) => {
      this.admit(
        { kind: 'score', id, s },
        (e) => {
          if (e.type === 'scored') resolve(e.result);
          else if (e.type === 'failed') reject(new DeeprnnError('internal', e.message));
        },
        (reason) =>
          reject(
            reason === 'deadline'
              ? new DeeprnnError('deadline', `scoring did not finish within the server's deadline of ${this.o.deadlineMs} ms`)
              : new DeeprnnError('cancelled', 'the client went away'),
          ),
        signal,
      );
    });
  }

  async close(): Promise<void> {
    for (const p of [...this.pending.values()]) this.expire(p, 'cancelled');
    await Promise.all(this.lanes.map((l) => l.close()));
  }
}
