/**
 * A lane that runs in this thread: one batched executor over one pooled stepper of one model.
 * The Workers entry and the browser worker use it directly; each Node worker thread runs one
 * (edge/engine/thread.ts). It ticks while it has jobs and yields between ticks, so messages (a
 * cancel, new work) and I/O get their turn.
 */
import { BatchExecutor, PrefixCache } from '../../shared/batch.ts';
import { ScoreJob } from '../../shared/evaluate.ts';
import { outcomeOf, type DecodeJob } from '../../shared/decode/job.ts';
import { createJob } from '../../shared/generate.ts';
import type { KernelModel, KernelRows } from '../../shared/kernel/stepper.ts';
import type { Model } from '../../shared/model.ts';
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
    events.push({ type: 'generated', id, outcome: outcomeOf(r.job, { totalMs: Math.round(performance.now() - r.started) }) });
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
