// The deeprnn compute kernel, AssemblyScript → WebAssembly SIMD (128-bit): the module's exports,
// one file per capability.
//
// Every function works on f32 buffers in linear memory, addressed by byte pointers that the
// host (shared/kernel/kernel.ts) allocates. Matrices are row-major. The host runs the
// recurrence; the kernel holds only the loops that cost time: matrix products and the
// element-wise cells with their derivatives (d2l §9.3: H_t = φ(X_t W_xh + H_{t-1} W_hh + b)).
//
//   probes.ts      what the build is, and whether this engine computes its relaxed products right
//   products.ts    generation's batched products (f32, int8 × int16 states, int8 × 7-bit states)
//   training.ts    training's products (gemmNN), transposes, gathers, loss and reductions
//   optimizers.ts  SGD and Adam over a slice of the parameters
//   cells.ts       LSTM, GRU and RNN cells forward and backward, and their activations
//   simd.ts        helpers they share, and the packed-block layout
//
// Five builds of this one source (package.json build:kernel): kernel.wasm (standard SIMD),
// kernel-dot.wasm and kernel-dotadd.wasm (generation on the relaxed 7-bit dot product, floats as
// the standard build), kernel-relaxed.wasm and kernel-relaxed-unshared.wasm (training: fused
// multiply-adds; shared memory for threads, or not).
export { dotAdd, dotAddUnsaturated, fused, gemmQ7Exact, heapBase, relaxedDot } from './probes';
export { gemmPacked, gemmQ7, gemmQ8, Q8_MAX_COLUMNS, q8MaxColumns, quantize16, quantize7 } from './products';
export {
  addColumnSums,
  addInto,
  addRows,
  gatherColumns,
  gatherRows,
  gemmNN,
  mul,
  packB8,
  scale,
  scatterColumns,
  softmaxCrossEntropy,
  sumSquares,
  transpose,
} from './training';
export { adam, sgd } from './optimizers';
export { gruBackward, gruForward, lstmBackward, lstmForward, rnnBackward, rnnForward } from './cells';
