/**
 * Requests that arrive together are started a few per event-loop turn. Each request costs the
 * event loop a fraction of a millisecond (the Request object, routing, the body, validation, the
 * response headers), and a burst of connections read in one poll would otherwise run all of that
 * back to back, as one long stall: /healthz, and the characters of the streams already running,
 * would wait for the whole burst. Paced, the loop returns to I/O between every few requests.
 * Runtime-free: the Node entry wraps the app's fetch with it (Workers get one request per call).
 */
export type Fetch<A extends unknown[]> = (request: Request, ...rest: A) => Response | Promise<Response>;

export interface PacingOptions {
  /** Requests started per turn of the event loop. */
  perTurn: number;
  /**
   * Requests that may wait for their turn. Past it a request starts at once, unpaced: pacing
   * smooths bursts, it never becomes a queue of its own (admission control — 503 past the
   * scheduler's queue — stays where it is, and sees every request promptly).
   */
  maxWaiting: number;
  /** Requests answered at once, never queued (cheap, and how a supervisor sees that the server is alive). */
  immediate(request: Request): boolean;
  /** Schedules the next turn: a macrotask after the pending I/O (Node: `setImmediate`). */
  nextTurn(run: () => void): void;
}

export function paced<A extends unknown[]>(fetch: Fetch<A>, o: PacingOptions): Fetch<A> {
  if (!(Number.isInteger(o.perTurn) && o.perTurn >= 1)) throw new RangeError(`perTurn must be an integer ≥ 1, not ${o.perTurn}`);
  if (!(Number.isInteger(o.maxWaiting) && o.maxWaiting >= 0)) throw new RangeError(`maxWaiting must be an integer ≥ 0, not ${o.maxWaiting}`);
  const waiting: (() => void)[] = [];
  let startedThisTurn = 0;
  let turnScheduled = false;
  const turn = () => {
    turnScheduled = false;
    startedThisTurn = 0;
    while (waiting.length > 0 && startedThisTurn < o.perTurn) {
      startedThisTurn++;
      waiting.shift()!();
    }
    if (waiting.length > 0) schedule();
  };
  const schedule = () => {
    if (turnScheduled) return;
    turnScheduled = true;
    o.nextTurn(turn);
  };
  return (request, ...rest) => {
    if (o.immediate(request) || waiting.length >= o.maxWaiting) return fetch(request, ...rest);
    // Within the turn's allowance (and nobody waiting ahead): start now, as without pacing.
    if (waiting.length === 0 && startedThisTurn < o.perTurn) {
      startedThisTurn++;
      schedule(); // the allowance renews at the next turn
      return fetch(request, ...rest);
    }
    return new Promise<Response>((resolve, reject) => {
      waiting.push(() => {
        if (request.signal.aborted) return resolve(new Response(null, { status: 499 })); // its client left while it waited: nobody reads this
        try {
          Promise.resolve(fetch(request, ...rest)).then(resolve, reject);
        } catch (e) {
          reject(e);
        }
      });
      schedule();
    });
  };
}
