/**
 * A helper thread of the native engine, on any runtime: the same kernel over the same shared
 * memory, running its shard of every window and its slice of the reduction and the optimizer
 * step when the engine's thread says so. It sleeps (Atomics.wait) between jobs: it never spins
 * against a busy core. Node runs it in a worker thread (shard-thread.ts), a page in a Web Worker
 * (edge/web/train-helper.ts).
 */
import type { KernelExports } from '../../shared/kernel/kernel.ts';
import { ARGS, CTRL, OP, reduceSlice, stepSlice, type ThreadJob } from './native.ts';
import { Shard } from './shard.ts';

/** Serve `job` until the engine says exit; `ready` once the kernel is instantiated on the shared memory. */
export function runHelper(job: ThreadJob, ready: () => void = () => {}): void {
  const k = new WebAssembly.Instance(job.module, { env: { memory: job.memory } }).exports as unknown as KernelExports;
  const ctrl = new Int32Array(job.ctrl);
  const args = new Float64Array(job.args);
  const shard = new Shard(k, job.layout);
  const r = ARGS.results + 2 * job.index;
  ready();
  let seen = 0;
  for (;;) {
    Atomics.wait(ctrl, CTRL.seq, seen);
    seen = Atomics.load(ctrl, CTRL.seq);
    const op = Atomics.load(ctrl, CTRL.op);
    if (op === OP.exit) break;
    try {
      if (op === OP.forwardBackward) args[r] = shard.forwardBackward(Atomics.load(ctrl, CTRL.dropping) === 1, Atomics.load(ctrl, CTRL.weightDropping) === 1);
      else if (op === OP.reduce) args[r + 1] = reduceSlice(k, job.blocks, job.slice);
      else if (op === OP.step) stepSlice(k, args, job.blocks[0], job.P, job.M, job.V2, job.slice);
    } catch (e) {
      console.error(`deeprnn: training thread ${job.index} failed: ${(e as Error).message}`);
      Atomics.store(ctrl, CTRL.failed, 1);
    }
    Atomics.add(ctrl, CTRL.done, 1);
    Atomics.notify(ctrl, CTRL.done);
  }
}
