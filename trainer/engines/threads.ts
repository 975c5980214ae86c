/**
 * A second core for the native engine: one worker thread instantiates the same kernel over the
 * same shared memory, and each large product is split by rows between it and the main thread.
 * Jobs pass through a small shared control block (Atomics.wait / notify), no messages.
 */
import { Worker } from 'node:worker_threads';
import type { Kernel } from '../../shared/kernel/kernel.ts';

// Control block: [0] job sequence, [1] done sequence, [2] opcode (0 = exit, 1 = gemmNT), [3..9] args
const WORKER = `
const { workerData } = require('node:worker_threads');
const { module, memory, control } = workerData;
const k = new WebAssembly.Instance(module, { env: { memory } }).exports;
const c = new Int32Array(control);
let seen = 0;
for (;;) {
  // Spin briefly before sleeping: jobs come every few hundred microseconds during a window.
  for (let i = 0; i < 20000 && Atomics.load(c, 0) === seen; i++);
  Atomics.wait(c, 0, seen);
  seen = Atomics.load(c, 0);
  if (c[2] === 0) break;
  k.gemmNT(c[3], c[4], c[5], c[6], c[7], c[8], c[9]);
  Atomics.store(c, 1, seen);
  Atomics.notify(c, 1);
}
`;

/** Below this many multiply-adds a product is not worth splitting. */
const MIN_SPLIT_WORK = 1 << 18;

export class KernelThreads {
  private readonly control = new Int32Array(new SharedArrayBuffer(16 * 4));
  private readonly worker: Worker;
  private seq = 0;

  private constructor(private readonly kernel: Kernel) {
    this.worker = new Worker(WORKER, { eval: true, workerData: { module: kernel.module, memory: kernel.k.memory, control: this.control.buffer } });
    this.worker.unref();
  }

  /** A helper thread, or null where the kernel's memory cannot be shared (portable build). */
  static start(kernel: Kernel): KernelThreads | null {
    if (!(kernel.k.memory.buffer instanceof SharedArrayBuffer)) return null;
    return new KernelThreads(kernel);
  }

  /** `gemmNT`, rows [0, half) here and [half, M) on the worker. */
  gemmNT(a: number, b: number, c: number, M: number, N: number, K: number, accumulate: boolean): void {
    const k = this.kernel.k;
    if (M < 4 || M * N * K < MIN_SPLIT_WORK) return k.gemmNT(a, b, c, M, N, K, accumulate);
    const half = (M >> 1) & ~1;
    this.control.set([1, a + half * K * 4, b, c + half * N * 4, M - half, N, K, accumulate ? 1 : 0], 2);
    const seq = ++this.seq;
    Atomics.store(this.control, 0, seq);
    Atomics.notify(this.control, 0);
    k.gemmNT(a, b, c, half, N, K, accumulate);
    for (let done = Atomics.load(this.control, 1); done !== seq; done = Atomics.load(this.control, 1)) Atomics.wait(this.control, 1, done);
  }

  close(): Promise<number> {
    this.control[2] = 0;
    Atomics.store(this.control, 0, ++this.seq);
    Atomics.notify(this.control, 0);
    return this.worker.terminate();
  }
}
