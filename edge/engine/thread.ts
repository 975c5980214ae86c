/**
 * One generation thread of the Node server: it loads every served model into one kernel and
 * runs a `LocalLane` per model — continuous batching of the jobs that model's scheduler gives
 * it. The lanes step in turn (each one step, then the next), so the models share the thread step
 * by step, and each turn's events, of every model, go to the main thread as one message. The main thread only
 * parses, schedules and writes; no generation step ever runs on its event loop.
 */
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { decodeArtifact } from '../../shared/artifact.ts';
import { KernelModel } from '../../shared/kernel/stepper.ts';
import { loadKernelNode } from '../../shared/platform/node.ts';
import { LocalLane } from './lane.ts';
import type { ThreadInit, ToThread, FromThread } from './threads.ts';
import type { LaneEvent } from './work.ts';

const init = workerData as ThreadInit;
// Below the main thread (nice +10; on Linux this applies to this thread only): when cores are
// scarce, the event loop that answers requests and health checks runs first.
try {
  setPriority(0, 10);
} catch {
  // not permitted here: run at the same priority
}
const port = parentPort!;
const post = (m: FromThread) => port.postMessage(m);

/**
 * The models' lanes take their turns together: every lane that ticked waits for the same next
 * turn of the thread's loop (one setImmediate, whatever the number of models), and the events of
 * all of them go to the main thread as one message at that turn.
 */
let outbox: { model: number; events: LaneEvent[] }[] = [];
let turn: Promise<void> | null = null;
const nextTurn = (): Promise<void> =>
  (turn ??= new Promise<void>((resolve) =>
    setImmediate(() => {
      turn = null;
      if (outbox.length) post({ type: 'events', batches: outbox });
      outbox = [];
      resolve();
    }),
  ));

try {
  const kernel = await loadKernelNode('simd');
  const lanes: LocalLane[] = [];
  for (const [i, files] of init.models.entries()) {
    const model = await decodeArtifact(files);
    lanes.push(
      new LocalLane(new KernelModel(kernel, model), {
        capacity: init.capacity,
        ticksPerYield: 1,
        flushEveryMs: 20,
        yieldNow: nextTurn,
        emit: (events) => {
          outbox.push({ model: i, events });
          void nextTurn();
        },
      }),
    );
  }
  port.on('message', (m: ToThread) => {
    if (m.type === 'submit') lanes[m.model].submit(m.work);
    else if (m.type === 'cancel') lanes[m.model].cancel(m.id, m.reason);
  });
  post({ type: 'ready' });
} catch (e) {
  post({ type: 'fatal', message: (e as Error).message });
}
