/**
 * The serving engine, one for every runtime: admission, a bounded queue, per-request deadlines
 * and cancellation. Where work runs and whether there is room for it is a policy, its
 * `Placement` (placement.ts): a fixed set of lanes — a Node server's threads, a page's worker —
 * or a lane made for each request within an isolate's rows (Workers). The app asks it for a
 * generation or a score and gets characters, an outcome, or — at once — a refusal when it is
 * full. Runtime-free: the factories (engines.ts, threads.ts) bring the lanes.
 */
import type { GeneratedToken, ScoreResult, StartEvent } from '../../shared/contract.ts';
import type { JobOutcome } from '../../shared/decode/job.ts';
import { DeeprnnError } from '../../shared/errors.ts';
import type { ValidatedScore } from '../../shared/evaluate.ts';
import type { ValidatedGeneration } from '../../shared/decode/validate.ts';
import type { Placement } from './placement.ts';
import { rowsOf, workOf, type Lane, type LaneEvent, type Work } from './work.ts';

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
  /**
   * Fair shares: rows one client may hold running (its other requests wait, and others' requests
   * pass them in the queue), and the work it may have waiting, in characters × rows (past it, 429).
   * Absent: no per-client bound.
   */
  clientRows?: number;
  clientQueuedWork?: number;
  /** Characters a stream may have produced and not yet sent (a client that stops reading): past it, the generation ends. */
  streamBacklog?: number;
}

/** A client over its fair share of waiting work: answer 429 with Retry-After. */
export class ClientShareError extends DeeprnnError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super('rate_limited', message);
  }
}

/** Who a request comes from, as the app identifies it (a checked key, else an address). */
export interface RequestOrigin {
  client?: string;
}

/** A generation in flight: characters as they come, then its outcome (the edge seals it into the client's result: edge/http.ts). */
export interface Generation {
  readonly start: StartEvent;
  /** Batches of characters, in order; ends when the generation ends. */
  tokens(): AsyncIterable<GeneratedToken[]>;
  readonly outcome: Promise<JobOutcome>;
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
  generate(g: ValidatedGeneration, start: StartEvent, opts: { stream: boolean; signal?: AbortSignal } & RequestOrigin): Generation;
  score(s: ValidatedScore, signal?: AbortSignal, origin?: RequestOrigin): Promise<ScoreResult>;
  /** Load figures for /healthz. */
  stats(): EngineStats;
  close(): Promise<void>;
}

interface Pending {
  work: Work;
  rows: number;
  /** Its client ('' when the caller named none), and its work in characters × rows (what waits counts against the client). */
  client: string;
  workUnits: number;
  /** The lane it runs on; null while it waits. */
  lane: Lane | null;
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
  /** Tokens pushed and not yet drained: what a client that does not read leaves behind. */
  backlog = 0;

  push(t: GeneratedToken[]): void {
    this.items.push(t);
    this.backlog += t.length;
    this.wake?.();
  }
  end(): void {
    this.ended = true;
    this.wake?.();
  }
  async *drain(): AsyncGenerator<GeneratedToken[]> {
    for (;;) {
      if (this.items.length) {
        const t = this.items.shift()!;
        this.backlog -= t.length;
        yield t;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((r) => (this.wake = r));
      this.wake = null;
    }
  }
}

export class Scheduler implements GenerationService {
  private readonly pending = new Map<number, Pending>();
  private readonly queue: Pending[] = [];
  private nextId = 1;
  /** Per client: rows running, and work waiting. */
  private readonly clients = new Map<string, { rows: number; waiting: number }>();

  private share(client: string): { rows: number; waiting: number } {
    let c = this.clients.get(client);
    if (!c) this.clients.set(client, (c = { rows: 0, waiting: 0 }));
    return c;
  }

  /** Whether a client may start `rows` more rows now. */
  private withinShare(p: Pending): boolean {
    const cap = this.o.clientRows;
    return cap === undefined || p.client === '' || this.share(p.client).rows + p.rows <= Math.max(cap, p.rows);
  }

  private forget(client: string): void {
    const c = this.clients.get(client);
    if (c && c.rows === 0 && c.waiting === 0) this.clients.delete(client);
  }

  constructor(
    /** Where work runs, and whether there is room for it now: the admission policy. */
    private readonly placement: Placement,
    readonly engine: string,
    private readonly o: SchedulerOptions,
  ) {}

  /** Lanes call this with every event they emit. */
  readonly onLaneEvents = (events: LaneEvent[]): void => {
    for (const e of events) {
      const p = this.pending.get(e.id);
      if (!p) continue;
      if (e.type !== 'tokens') this.release(p);
      p.onEvent(e);
    }
  };

  stats(): EngineStats {
    let running = 0;
    for (const p of this.pending.values()) if (p.lane !== null) running++;
    return { running, queued: this.queue.length, activeRows: this.placement.activeRows(), capacity: this.placement.capacity };
  }

  private release(p: Pending): void {
    if (p.deadline) clearTimeout(p.deadline);
    this.pending.delete(p.work.id);
    if (p.lane) {
      this.placement.give(p.lane, p.rows);
      this.share(p.client).rows -= p.rows;
      this.forget(p.client);
    }
    p.lane = null;
    this.dispatch();
  }

  /**
   * Start queued work on lanes with room, in arrival order — passing over a request whose client
   * already holds its share of rows, so one client's flood never holds up another's request.
   */
  private dispatch(): void {
    for (let i = 0; i < this.queue.length; ) {
      const p = this.queue[i];
      if (!this.withinShare(p)) {
        i++;
        continue;
      }
      const lane = this.placement.take(p.rows, this.onLaneEvents);
      if (!lane) return;
      this.queue.splice(i, 1);
      this.share(p.client).waiting -= p.workUnits;
      this.run(p, lane);
    }
  }

  private run(p: Pending, lane: Lane): void {
    p.lane = lane;
    this.share(p.client).rows += p.rows;
    lane.submit(p.work);
  }

  private admit(
    work: Work,
    origin: RequestOrigin,
    onEvent: (e: LaneEvent) => void,
    settle: (reason: 'cancelled' | 'deadline') => void,
    signal?: AbortSignal,
  ): Pending {
    const rows = rowsOf(work);
    const most = this.placement.largestLane;
    if (rows > most) throw new OverloadedError(`the request needs ${rows} rows of a batch; this server's batches have ${most}`, 0);
    const client = origin.client ?? '';
    const p: Pending = { work, rows, client, workUnits: workOf(work), lane: null, deadline: null, onEvent, settle };
    const lane = this.withinShare(p) ? this.placement.take(rows, this.onLaneEvents) : null;
    if (!lane) {
      if (this.queue.length >= this.o.queueSize) {
        throw new OverloadedError(
          this.placement.full?.() ?? `the server is at capacity (${this.stats().running} running, ${this.queue.length} waiting); retry shortly`,
          1,
        );
      }
      const waiting = client === '' ? 0 : this.share(client).waiting;
      if (this.o.clientQueuedWork !== undefined && client !== '' && waiting > 0 && waiting + p.workUnits > this.o.clientQueuedWork) {
        this.forget(client);
        throw new ClientShareError(
          `this client already has ${waiting} characters of work waiting (beams and choices counted), over its share of ${this.o.clientQueuedWork}; retry when some has finished`,
          1,
        );
      }
    }
    this.pending.set(work.id, p);
    p.deadline = setTimeout(() => this.expire(p, 'deadline'), this.o.deadlineMs);
    if (lane) this.run(p, lane);
    else {
      this.queue.push(p);
      this.share(client).waiting += p.workUnits;
    }
    if (signal) {
      if (signal.aborted) this.expire(p, 'cancelled');
      else signal.addEventListener('abort', () => this.expire(p, 'cancelled'), { once: true });
    }
    return p;
  }

  /** A request's deadline passed or its client left. */
  private expire(p: Pending, reason: 'cancelled' | 'deadline'): void {
    if (!this.pending.has(p.work.id)) return;
    if (p.lane === null) {
      const i = this.queue.indexOf(p);
      if (i >= 0) {
        this.queue.splice(i, 1);
        this.share(p.client).waiting -= p.workUnits;
        this.forget(p.client);
      }
      if (p.deadline) clearTimeout(p.deadline);
      this.pending.delete(p.work.id);
      p.settle(reason);
      return;
    }
    const lane = p.lane;
    // A generation past its deadline ends with its text so far (the lane sends the result); a
    // cancelled job, or a score (which has no partial result), leaves its lane at once.
    if (reason === 'deadline' && p.work.kind === 'generate') {
      lane.cancel(p.work.id, 'deadline');
      return;
    }
    lane.cancel(p.work.id, 'cancelled');
    this.release(p);
    p.settle(reason);
  }

  generate(g: ValidatedGeneration, start: StartEvent, opts: { stream: boolean; signal?: AbortSignal } & RequestOrigin): Generation {
    const id = this.nextId++;
    const backlog = opts.stream ? this.o.streamBacklog : undefined;
    let stalled = false;
    let p: Pending | null = null;
    const queue = new TokenQueue();
    let resolve!: (r: JobOutcome) => void;
    let reject!: (e: Error) => void;
    const outcome = new Promise<JobOutcome>((res, rej) => ((resolve = res), (reject = rej)));
    outcome.catch(() => {}); // callers that only stream need not await it
    const admitted = performance.now();
    p = this.admit(
      { kind: 'generate', id, g, stream: opts.stream },
      opts,
      (e) => {
        if (e.type === 'tokens') {
          queue.push(e.tokens);
          // A client that stops reading: its characters pile up here, so its generation ends and leaves the batch.
          if (backlog !== undefined && queue.backlog > backlog && p) {
            stalled = true;
            this.expire(p, 'cancelled');
          }
        } else if (e.type === 'generated') {
          queue.end();
          resolve(e.outcome);
        } else if (e.type === 'failed') {
          queue.end();
          reject(new DeeprnnError('internal', e.message));
        }
      },
      (reason) => {
        queue.end();
        if (reason === 'cancelled')
          reject(
            new DeeprnnError('cancelled', stalled ? `the client stopped reading: over ${backlog} characters were waiting to be sent` : 'the client went away'),
          );
        // Past its deadline before a row was free: nothing was generated.
        else
          resolve({
            result: {
              model: start.model,
              prefix: g.prefix,
              text: g.prefix,
              generated: '',
              numChars: 0,
              seed: g.seed,
              finishReason: 'deadline',
              ...(g.author ? { author: g.author.name } : {}),
              timings: { totalMs: Math.round(performance.now() - admitted) },
            },
            left: null,
          });
      },
      opts.signal,
    );
    return { start, tokens: () => queue.drain(), outcome };
  }

  score(s: ValidatedScore, signal?: AbortSignal, origin: RequestOrigin = {}): Promise<ScoreResult> {
    const id = this.nextId++;
    return new Promise<ScoreResult>((resolve, reject) => {
      this.admit(
        { kind: 'score', id, s },
        origin,
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
    await this.placement.close();
  }
}
