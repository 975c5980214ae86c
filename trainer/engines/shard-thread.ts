/** A helper thread of the native engine in Node: a worker thread running engines/helper.ts. */
import v8 from 'node:v8';
import { workerData } from 'node:worker_threads';
import { runHelper } from './helper.ts';
import type { ThreadJob } from './native.ts';

v8.setFlagsFromString('--experimental-wasm-relaxed-simd'); // the main thread compiled the relaxed build
runHelper(workerData as ThreadJob);
