/**
 * The Node server's engine: `WORKERS` generation threads (one per core by default), each a lane
 * of the scheduler. Node only; the app never sees threads, only the `GenerationService`.
 */
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { tsWorker } from '../../shared/platform/node.ts';
import { DeeprnnError } from '../../shared/errors.ts';
import { Scheduler, type SchedulerOptions } from './scheduler.ts';
import type { Lane, LaneEvent, Work } from './work.ts';

export interface ThreadInit {
  modelJson: string;
  weights: Uint8Array;
  capacity: number;
}
export type ToThread = { type: 'submit'; work: Work } | { type: 'cancel'; id: number; reason: 'cancelled' | 'deadline' };
export type FromThread = { type: 'ready' } | { type: 'fatal'; message: string } | { type: 'events'; events: LaneEvent[] };

const THREAD_SCRIPT = new URL('./thread.ts', import.meta.url);

class ThreadLane implements Lane {
  private worker!: Worker;
  /** Work submitted and not yet finished: failed if the thread dies. */
  private readonly inFlight = new Set<number>();
  private closing = false;

  constructor(
    private readonly init: ThreadInit,
    private readonly onEvents: (events: LaneEvent[]) => void,
  ) {}

  get capacity(): number {
    return this.init.capacity;
  }

  /** Start the thread; resolves once it has loaded the model. */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const w = tsWorker(THREAD_SCRIPT, { workerData: this.init });
      this.worker = w;
      w.on('message', (m: FromThread) => {
        if (m.type === 'ready') resolve();
        else if (m.type === 'fatal') reject(new DeeprnnError('engine_failed', `a generation thread could not start: ${m.message}`));
        else {
          for (const e of m.events) if (e.type !== 'tokens') this.inFlight.delete(e.id);
          this.onEvents(m.events);
        }
      });
      w.on('error', (e) => reject(e));
      w.on('exit', (code) => {
        if (this.closing) return;
        // A thread that dies fails its jobs, and is replaced.
        const lost = [...this.inFlight].map((id): LaneEvent => ({ type: 'failed', id, message: `the generation thread exited (code ${code})` }));
        this.inFlight.clear();
        if (lost.length) this.onEvents(lost);
        void this.start().catch((e: Error) => console.error(`deeprnn: cannot restart a generation thread: ${e.message}`));
      });
    });
  }

  submit(work: Work): void {
    this.inFlight.add(work.id);
    this.worker.postMessage({ type: 'submit', work } satisfies ToThread);
  }

  cancel(id: number, reason: 'cancelled' | 'deadline'): void {
    if (reason === 'cancelled') this.inFlight.delete(id);
    this.worker.postMessage({ type: 'cancel', id, reason } satisfies ToThread);
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.worker.terminate();
  }
}

export interface ThreadEngineOptions extends SchedulerOptions {
  /** Generation threads (default: one per core). */
  workers?: number;
  /** Rows of each thread's batch. */
  capacity: number;
}

/** Start the threads (each loads the model) and the scheduler in front of them. */
export async function startThreadEngine(files: { modelJson: string; weights: Uint8Array }, engine: string, o: ThreadEngineOptions): Promise<Scheduler> {
  const n = o.workers ?? availableParallelism();
  let scheduler: Scheduler | null = null;
  const lanes = Array.from({ length: n }, (_, i) => new ThreadLane({ ...files, capacity: o.capacity }, (events) => scheduler?.onLaneEvents(i, events)));
  scheduler = new Scheduler(lanes, `${engine}, ${n} thread${n === 1 ? '' : 's'}`, o);
  try {
    await Promise.all(lanes.map((l) => l.start()));
  } catch (e) {
    await Promise.all(lanes.map((l) => l.close().catch(() => {})));
    throw e;
  }
  return scheduler;
}
