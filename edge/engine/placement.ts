/**
 * Admission as a policy: where a scheduler's work runs, and whether there is room for it now.
 * - `fixedLanes`: lanes that live as long as the engine (a Node server's threads, a page's
 *   worker); work goes to the lane with the most free rows, and waits in the scheduler's queue
 *   when none has room.
 * - `requestLanes`: a lane made for each request and closed with it (Workers: workerd cancels
 *   the timers and promises a request leaves behind, so a lane cannot outlive the request that
 *   started it), within the rows an isolate runs at once for all its models (`IsolateRows`).
 */
import type { Lane, LaneEvent } from './work.ts';

export interface Placement {
  /** Rows in all (for /healthz). */
  readonly capacity: number;
  /** Rows of the largest lane: a request that needs more is refused. */
  readonly largestLane: number;
  /** A lane with `rows` free rows, now taken; null when none has room. `listen` gets the events of a lane made for the work. */
  take(rows: number, listen: (events: LaneEvent[]) => void): Lane | null;
  /** Rows taken on `lane` are free again. */
  give(lane: Lane, rows: number): void;
  activeRows(): number;
  /** Why nothing has room, when the policy says more than the scheduler's generic message. */
  full?(): string;
  close(): Promise<void>;
}

/** Lanes for the engine's lifetime; each already sends its events to the scheduler. */
export function fixedLanes(lanes: readonly Lane[]): Placement {
  const free = lanes.map((l) => l.capacity);
  const capacity = lanes.reduce((n, l) => n + l.capacity, 0);
  return {
    capacity,
    largestLane: Math.max(...lanes.map((l) => l.capacity)),
    take(rows) {
      // The lane with the most free rows that fits.
      let best = -1;
      for (let i = 0; i < free.length; i++) if (free[i] >= rows && (best < 0 || free[i] > free[best])) best = i;
      if (best < 0) return null;
      free[best] -= rows;
      return lanes[best];
    },
    give(lane, rows) {
      free[lanes.indexOf(lane)] += rows;
    },
    activeRows: () => capacity - free.reduce((n, f) => n + f, 0),
    close: async () => {
      await Promise.all(lanes.map((l) => l.close()));
    },
  };
}

/** The rows of generation an isolate runs at once, shared by every model it serves. */
export class IsolateRows {
  busy = 0;
  constructor(readonly capacity: number) {}
}

/** A lane of its own for each request, within the isolate's rows (`makeLane(rows, listen)` builds it in the request's context). */
export function requestLanes(rows: IsolateRows, makeLane: (rows: number, listen: (events: LaneEvent[]) => void) => Lane): Placement {
  let mine = 0;
  return {
    capacity: rows.capacity,
    largestLane: rows.capacity,
    take(n, listen) {
      if (rows.busy + n > rows.capacity) return null;
      rows.busy += n;
      mine += n;
      return makeLane(n, listen);
    },
    give(lane, n) {
      rows.busy -= n;
      mine -= n;
      void lane.close();
    },
    activeRows: () => mine,
    full: () => `this isolate is at capacity (${rows.busy} of ${rows.capacity} rows busy); retry shortly`,
    close: async () => {},
  };
}
