/**
 * The Node server's engine: `WORKERS` generation threads (one per core by default). Each thread
 * holds every served model once and runs one lane per model; each model has its own scheduler
 * over its lanes in all the threads. So a model's admission, queue and deadlines are its own (a
 * burst on one model never takes another's rows), while the threads share their time between
 * the models' batches, a step of each in turn. Node only; the app sees one `GenerationService`
 * per model, never the threads.
 */
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { tsWorker } from '../../shared/platform/node.ts';
import { DeeprnnError } from '../../shared/errors.ts';
import { fixedLanes } from './placement.ts';
import { Scheduler, type SchedulerOptions } from './scheduler.ts';
import type { Lane, LaneEvent, Work } from './work.ts';

/** The artifact files a thread decodes (plain data, copied to each thread). */
export interface ThreadModelFiles {
  modelJson: string;
  weights: Uint8Array;
}
export interface ThreadInit {
  /** Every served model, in the registry's order: messages name a model by its index here. */
  models: ThreadModelFiles[];
  /** Rows of each model's batch in the thread. */
  capacity: number;
}
export type ToThread = { type: 'submit'; model: number; work: Work } | { type: 'cancel'; model: number; id: number; reason: 'cancelled' | 'deadline' };
export type FromThread = { type: 'ready' } | { type: 'fatal'; message: string } | { type: 'events'; batches: { model: number; events: LaneEvent[] }[] };

const THREAD_SCRIPT = new URL('./thread.ts', import.meta.url);

/** One worker thread: every model's lane in it. Jobs are keyed by (model, id): ids are per scheduler. */
class GenerationThread {
  private worker!: Worker;
  /** Work submitted and not yet finished, per model: failed if the thread dies. */
  private readonly inFlight: Set<number>[];
  private closing = false;

  constructor(
    private readonly init: ThreadInit,
    private readonly onEvents: (model: number, events: LaneEvent[]) => void,
  ) {
    this.inFlight = init.models.map(() => new Set<number>());
  }

  /** Start the thread; resolves once it has loaded every model. */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const w = tsWorker(THREAD_SCRIPT, { workerData: this.init });
      this.worker = w;
      w.on('message', (m: FromThread) => {
        if (m.type === 'ready') resolve();
        else if (m.type === 'fatal') reject(new DeeprnnError('engine_failed', `a generation thread could not start: ${m.message}`));
        else {
          for (const b of m.batches) {
            for (const e of b.events) if (e.type !== 'tokens') this.inFlight[b.model].delete(e.id);
            this.onEvents(b.model, b.events);
          }
        }
      });
      w.on('error', (e) => reject(e));
      w.on('exit', (code) => {
        if (this.closing) return;
        // A thread that dies fails its jobs, and is replaced.
        this.inFlight.forEach((ids, model) => {
          const lost = [...ids].map((id): LaneEvent => ({ type: 'failed', id, message: `the generation thread exited (code ${code})` }));
          ids.clear();
          if (lost.length) this.onEvents(model, lost);
        });
        void this.start().catch((e: Error) => console.error(`deeprnn: cannot restart a generation thread: ${e.message}`));
      });
    });
  }

  submit(model: number, work: Work): void {
    this.inFlight[model].add(work.id);
    this.worker.postMessage({ type: 'submit', model, work } satisfies ToThread);
  }

  cancel(model: number, id: number, reason: 'cancelled' | 'deadline'): void {
    if (reason === 'cancelled') this.inFlight[model].delete(id);
    this.worker.postMessage({ type: 'cancel', model, id, reason } satisfies ToThread);
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.worker.terminate();
  }
}

/** One model's lane in one thread: what that model's scheduler sees. */
class ThreadModelLane implements Lane {
  constructor(
    private readonly thread: GenerationThread,
    private readonly model: number,
    readonly capacity: number,
  ) {}
  submit(work: Work): void {
    this.thread.submit(this.model, work);
  }
  cancel(id: number, reason: 'cancelled' | 'deadline'): void {
    this.thread.cancel(this.model, id, reason);
  }
  async close(): Promise<void> {} // the thread is closed once, by the engine
}

export interface ThreadEngineOptions extends SchedulerOptions {
  /** Generation threads (default: one per core). */
  workers?: number;
  /** Rows of each model's batch in each thread. */
  capacity: number;
}

export interface ThreadEngine {
  /** One scheduler per model, in the order given. */
  services: Scheduler[];
  close(): Promise<void>;
}

/** Start the threads (each loads every model) and one scheduler per model in front of them. */
export async function startThreadEngine(models: { files: ThreadModelFiles; engine: string }[], o: ThreadEngineOptions): Promise<ThreadEngine> {
  const n = o.workers ?? availableParallelism();
  const services: Scheduler[] = [];
  const threads = Array.from(
    { length: n },
    () => new GenerationThread({ models: models.map((m) => m.files), capacity: o.capacity }, (model, events) => services[model]?.onLaneEvents(events)),
  );
  for (const [i, m] of models.entries()) {
    services.push(new Scheduler(fixedLanes(threads.map((th) => new ThreadModelLane(th, i, o.capacity))), `${m.engine}, ${n} thread${n === 1 ? '' : 's'}`, o));
  }
  const close = async () => {
    for (const s of services) await s.close();
    await Promise.all(threads.map((th) => th.close().catch(() => {})));
  };
  try {
    await Promise.all(threads.map((th) => th.start()));
  } catch (e) {
    await close();
    throw e;
  }
  return { services, close };
}
