/**
 * The serving engines that run in this thread, built from one `Scheduler` and a placement
 * policy: `localEngine` (a page's worker, tests; one lane for the engine's life) and
 * `workersEngine` (a lane per request within the isolate's rows). The Node server's engine runs
 * its lanes in worker threads: threads.ts.
 */
import type { KernelModel } from '../../shared/kernel/stepper.ts';
import { LocalLane } from './lane.ts';
import { fixedLanes, requestLanes, type IsolateRows } from './placement.ts';
import { Scheduler, type SchedulerOptions } from './scheduler.ts';

/** A scheduler over one lane in this thread. `ticksPerYield` > 1 because the lane shares its thread with I/O. */
export function localEngine(kernelModel: KernelModel, o: SchedulerOptions & { capacity: number; ticksPerYield?: number }): Scheduler {
  let scheduler: Scheduler | null = null;
  const lane = new LocalLane(kernelModel, { capacity: o.capacity, ticksPerYield: o.ticksPerYield ?? 8, emit: (events) => scheduler?.onLaneEvents(events) });
  scheduler = new Scheduler(fixedLanes([lane]), kernelModel.engine, o);
  return scheduler;
}

/**
 * The Workers engine's settings (the entry and `npm run bench:http` use the same): rows an
 * isolate runs at once (each request in its own context, any model), the deadline, and how often
 * a request's lane yields. A yield's CPU is billed too, and a request under the free plan's
 * budget computes for at most 10 ms anyway: it yields every 256 characters, so a streamed
 * response still flushes many times a second (figures: docs/benchmarks.md).
 */
export const WORKERS_SCHEDULE = { capacity: 16, deadlineMs: 25_000, ticksPerYield: 256 } as const;

/**
 * The Workers engine: a lane of its own for each request, made in that request's context, over
 * the model's shared weights (steppers come from its pool). Requests an isolate holds at once are
 * bounded by `rows` (one budget for all its models); past it, 503 at once — nothing waits.
 */
export function workersEngine(kernelModel: KernelModel, o: { rows: IsolateRows; deadlineMs: number; ticksPerYield?: number }): Scheduler {
  const placement = requestLanes(o.rows, (capacity, listen) => new LocalLane(kernelModel, { capacity, ticksPerYield: o.ticksPerYield ?? 8, emit: listen }));
  return new Scheduler(placement, kernelModel.engine, { queueSize: 0, deadlineMs: o.deadlineMs });
}
