/**
 * A lane that runs in this thread: one batched executor over one pooled stepper of one model.
 * The Workers entry and the browser worker use it directly; each Node worker thread runs one
 * (edge/engine/thread.ts). It ticks while it has jobs and yields between ticks, so messages (a
 * cancel, new work) and I/O get their turn.
 */
import { BatchExecutor, PrefixCache } from '../../shared/batch.ts';
import { ScoreJob } from '../../shared/evaluate.ts';
import { createJob, type DecodeJob } from '../../shared/generate.ts';
import type { KernelModel, KernelRows } from '../../shared/kernel/stepper.ts';
import type { Model } from '../../shared/model.ts';
import { OverloadedError, Scheduler, type GenerationService, type SchedulerOptions } from './scheduler.ts';
import type { Lane, LaneEvent, Work } from './work.ts';

export interface LocalLaneOptions {
  /** Rows of the batch. */
  capacity: number;
  /** Ticks between two yields: 1 in a thread of its own; more where the lane shares a thread with I/O. */
  ticksPerYield?: number;
  /** How to yield (default: a macrotask). */
  yieldNow?: () => Promise<void>;
  /**
   * Streamed characters are sent at most this often (ms; 0: every tick). A thread serving a
   * hundred streams sends each one's characters in small batches instead of one message per
   * character, so the main thread only writes.
   */
  flushEveryMs?: number;
  /** Events of one tick, all at once (a thread posts them as one message). */
  emit: (events: LaneEvent[]) => void;
}

interface Running {
  work: Work;
  job: DecodeJob | ScoreJob;
  started: number;
}

const macrotask = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

export class LocalLane implements Lane {
  readonly capacity: number;
  private readonly model: Model;
  private readonly rows: KernelRows;
  private readonly executor: BatchExecutor;
  private readonly running = new Map<number, Running>();
  private pumping = false;
  private closed = false;

  constructor(
    private readonly kernelModel: KernelModel,
    private readonly o: LocalLaneOptions,
  ) {
    this.capacity = o.capacity;
    this.model = kernelModel.model;
    this.rows = kernelModel.acquire(o.capacity);
    this.executor = new BatchExecutor(this.rows, undefined, new PrefixCache());
  }

  submit(work: Work): void {
    const job = work.kind === 'generate' ? createJob(this.model, work.g) : new ScoreJob(this.model, work.s);
    if (!this.executor.add(job)) {
      this.o.emit([{ type: 'failed', id: work.id, message: `no room: the job needs ${job.rows} rows and ${this.executor.freeRows} are free` }]);
      return;
    }
    this.running.set(work.id, { work, job, started: performance.now() });
    void this.pump();
  }

  cancel(id: number, reason: 'cancelled' | 'deadline'): void {
    const r = this.running.get(id);
    if (!r) return;
    if (reason === 'deadline' && r.job instanceof ScoreJob) reason = 'cancelled'; // a score has no partial result
    if (reason === 'cancelled') {
      this.executor.remove(r.job);
      this.running.delete(id);
      return;
    }
    (r.job as DecodeJob).stop('deadline');
    this.executor.remove(r.job);
    this.o.emit(this.finish(r));
  }

  private finish(r: Running): LaneEvent[] {
    this.running.delete(r.work.id);
    const id = r.work.id;
    if (r.job instanceof ScoreJob) return [{ type: 'scored', id, result: r.job.result() }];
    const events: LaneEvent[] = [];
    if (r.work.kind === 'generate' && r.work.stream) {
      const tail = r.job.take();
      if (tail.length) events.push({ type: 'tokens', id, tokens: tail });
    }
    events.push({ type: 'generated', id, result: r.job.result({ totalMs: Math.round(performance.now() - r.started) }) });
    return events;
  }

  /** Tick while there is work; one pump at a time. */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      let ticks = 0;
      let flushed = performance.now();
      while (this.running.size > 0 && !this.closed) {
        const events: LaneEvent[] = [];
        try {
          const finished = this.executor.tick();
          // Streams flush on a clock where one is set (a thread's lane); else every tick.
          let flush = true;
          if (this.o.flushEveryMs) {
            const now = performance.now();
            flush = now - flushed >= this.o.flushEveryMs;
            if (flush) flushed = now;
          }
          for (const r of this.running.values()) {
            if (finished.length && finished.includes(r.job)) events.push(...this.finish(r));
            else if (flush && r.work.kind === 'generate' && r.work.stream) {
              const tokens = (r.job as DecodeJob).take();
              if (tokens.length) events.push({ type: 'tokens', id: r.work.id, tokens });
            }
          }
        } catch (e) {
          // A fault in the engine fails the jobs in flight, never the process.
          for (const r of this.running.values()) {
            this.executor.remove(r.job);
            events.push({ type: 'failed', id: r.work.id, message: (e as Error).message });
          }
          this.running.clear();
        }
        if (events.length) this.o.emit(events);
        if (++ticks % (this.o.ticksPerYield ?? 1) === 0) await (this.o.yieldNow ?? macrotask)();
      }
    } finally {
      this.pumping = false;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.running.clear();
    this.kernelModel.release(this.rows);
  }
}

/**
 * A scheduler over one lane in this thread: the Workers entry (and tests). `ticksPerYield` > 1
 * because the lane shares its thread with the request's I/O.
 */
export function localEngine(kernelModel: KernelModel, o: SchedulerOptions & { capacity: number; ticksPerYield?: number }): Scheduler {
  let scheduler: Scheduler | null = null;
  const lane = new LocalLane(kernelModel, { capacity: o.capacity, ticksPerYield: o.ticksPerYield ?? 8, emit: (events) => scheduler?.onLaneEvents(0, events) });
  scheduler = new Scheduler([lane], kernelModel.engine, o);
  return scheduler;
}

/**
 * The Workers engine's settings (the entry and `npm run bench:http` use the same): rows an
 * isolate runs at once (each request in its own context, any model), the deadline, and how often
 * a request's lane yields. A yield's CPU is billed too (~0.1 ms each in Node), and a request under
 * the free plan's budget computes for at most 10 ms anyway: it yields every 256 characters (~10 ms
 * of the int8 model), so a streamed response still flushes about a hundred times a second.
 */
export const WORKERS_SCHEDULE = { capacity: 16, deadlineMs: 25_000, ticksPerYield: 256 } as const;

/** The rows of generation an isolate runs at once, shared by every model it serves. */
export class IsolateRows {
  busy = 0;
  constructor(readonly capacity: number) {}
}

/**
 * The Workers engine: a lane of its own for each request, run in that request's context (workerd
 * cancels the timers and promises a request leaves behind, so one lane cannot outlive the request
 * that started it). The model's weights are shared; steppers come from its pool. Requests an
 * isolate holds at once are bounded by the rows of `rows` (one budget for all its models); past
 * it, 503 at once.
 */
export function requestScopedEngine(kernelModel: KernelModel, o: { rows: IsolateRows; deadlineMs: number; ticksPerYield?: number }): GenerationService {
  const budget = o.rows;
  let mine = 0;
  let myRows = 0;
  const admit = <T>(rows: number, run: (s: Scheduler) => T, done: (t: T) => Promise<unknown>): T => {
    if (budget.busy + rows > budget.capacity)
      throw new OverloadedError(`this isolate is at capacity (${budget.busy} of ${budget.capacity} rows busy); retry shortly`, 1);
    budget.busy += rows;
    mine++;
    myRows += rows;
    const s = localEngine(kernelModel, { capacity: rows, queueSize: 0, deadlineMs: o.deadlineMs, ticksPerYield: o.ticksPerYield });
    const t = run(s);
    void done(t).finally(() => {
      budget.busy -= rows;
      mine--;
      myRows -= rows;
      void s.close();
    });
    return t;
  };
  return {
    engine: kernelModel.engine,
    generate: (g, start, opts) =>
      admit(
        g.beam?.width ?? 1,
        (s) => s.generate(g, start, opts),
        (gen) => gen.result.catch(() => {}),
      ),
    score: (s, signal) =>
      admit(
        1,
        (sch) => sch.score(s, signal),
        (p) => p.catch(() => {}),
      ),
    stats: () => ({ running: mine, queued: 0, activeRows: myRows, capacity: budget.capacity }),
    close: async () => {},
  };
}
