/**
 * npm run bench:gpu (a measurement, not a test): the WebGPU engine against the native engine in
 * the same run, on d2l's 2×256 LSTM (batch 32 × 35) and a 2×1024 LSTM (batch 128 × 100) — tokens
 * per second of whole training windows (forward, backward, clip, SGD step), the dispatches and
 * bytes read back per window, the adapter — and the GEMM shader's GFLOP/s at 2,048³. JSON lines.
 *
 *   npm run bench:gpu                          both shapes, 10 s each engine
 *   BENCH_SHAPES=d2l BENCH_SECONDS=5 npm run bench:gpu
 *   BENCH_NATIVE=0 npm run bench:gpu           the GPU alone (the native engine takes minutes on the large shape)
 *
 * On a software adapter (SwiftShader) the figures say nothing of a GPU: the line says so.
 */
import { availableParallelism } from 'node:os';
import { initParams, type Architecture } from '../shared/model.ts';
import { loadKernelNode } from '../shared/platform/node.ts';
import { Rng } from '../shared/rng.ts';
import type { Engine, EngineShape } from '../trainer/engines/engine.ts';
import { nodeHelpers } from '../trainer/engines/index.ts';
import { NativeEngine } from '../trainer/engines/native.ts';
import { WebGpuEngine } from '../trainer/engines/webgpu/engine.ts';
import { describeAdapter } from '../trainer/engines/webgpu/gpu.ts';
import { GEMM, GEMM_TILE } from '../trainer/engines/webgpu/kernels.ts';
import { openNodeGpu } from '../trainer/engines/webgpu/node.ts';

const SHAPES = {
  d2l: { layers: 2, hidden: 256, vocab: 28, batch: 32, steps: 35 },
  large: { layers: 2, hidden: 1024, vocab: 28, batch: 128, steps: 100 },
} as const;
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const shapes = (process.env.BENCH_SHAPES ?? 'd2l,large').split(',') as (keyof typeof SHAPES)[];
const withNative = process.env.BENCH_NATIVE !== '0';
const emit = (o: Record<string, unknown>) => console.log(JSON.stringify(o));

/** Windows of training on `engine` for `seconds` (after two to warm up): tokens per second. */
async function windowsPerSecond(engine: Engine, arch: Architecture, B: number, T: number): Promise<{ tokensPerSecond: number; windows: number }> {
  const rng = new Rng(1);
  engine.setParams(initParams(arch, () => rng.uniform()));
  engine.resetState();
  const x = Int32Array.from({ length: B * T }, () => rng.randint(1, arch.vocabSize - 1));
  const y = Int32Array.from({ length: B * T }, () => rng.randint(1, arch.vocabSize - 1));
  const window = async () => {
    await engine.forwardBackward(x, y);
    engine.clipGradients(1);
    engine.step(0.5);
  };
  for (let i = 0; i < 2; i++) await window();
  const t0 = performance.now();
  let windows = 0;
  while (windows < 3 || performance.now() - t0 < seconds * 1000) {
    await window();
    windows++;
  }
  return { tokensPerSecond: Math.round((windows * B * T) / ((performance.now() - t0) / 1000)), windows };
}

/** The GEMM shader alone: C = A·B at n³, GFLOP/s over repeated dispatches. */
async function gemmGflops(device: GPUDevice, n: number): Promise<number> {
  const usage = 0x80 | 0x8; // STORAGE | COPY_DST
  const buf = (floats: number) => device.createBuffer({ size: floats * 4, usage });
  const [a, b, c, bias] = [buf(n * n), buf(n * n), buf(n * n), buf(4)];
  const module = device.createShaderModule({ code: GEMM.code });
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main', constants: { TRANS_A: 0, TRANS_B: 1 } } });
  const uniform = device.createBuffer({ size: 256, usage: 0x40 | 0x8 });
  const values = [n, n, n, 0, n, 0, n, 0, n, 0, 0];
  device.queue.writeBuffer(uniform, 0, new Uint32Array(values));
  const bind = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [
      { binding: 0, resource: { buffer: uniform, offset: 0, size: 48 } },
      ...[a, b, c, bias].map((buffer, i) => ({ binding: i + 1, resource: { buffer } })),
    ],
  });
  const run = async (reps: number) => {
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bind);
    for (let r = 0; r < reps; r++) pass.dispatchWorkgroups(Math.ceil(n / GEMM_TILE), Math.ceil(n / GEMM_TILE));
    pass.end();
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
  };
  await run(1);
  let reps = 1;
  for (;;) {
    const t0 = performance.now();
    await run(reps);
    const s = (performance.now() - t0) / 1000;
    if (s > 0.5 || reps >= 1024) return +((2 * n ** 3 * reps) / s / 1e9).toFixed(1);
    reps *= 4;
  }
}

const gpu = await openNodeGpu();
const adapter = describeAdapter(gpu.adapter);
emit({
  kind: 'adapter',
  adapter,
  software: gpu.adapter.software,
  note: gpu.adapter.software ? 'a CPU emulation: these figures say nothing of a GPU' : undefined,
});
const gemmN = gpu.adapter.software ? 512 : 2048; // a CPU emulation takes minutes at 2,048³
emit({ kind: 'gemm', n: gemmN, gflops: await gemmGflops(gpu.device, gemmN), adapter });
gpu.device.destroy();

for (const name of shapes) {
  const s = SHAPES[name];
  const arch: Architecture = { cell: 'lstm', numLayers: s.layers, hiddenSize: s.hidden, vocabSize: s.vocab, input: 'one-hot' };
  const shape: EngineShape = { arch, batchSize: s.batch, numSteps: s.steps, optimizer: { name: 'sgd' }, threads: availableParallelism() };
  const g = new WebGpuEngine(await openNodeGpu(), shape);
  const onGpu = await windowsPerSecond(g, arch, s.batch, s.steps);
  emit({ kind: 'train', shape: name, engine: 'webgpu', adapter, ...onGpu, dispatchesPerWindow: g.dispatchesPerWindow(), readBackBytesPerWindow: 8 });
  await g.dispose();
  if (!withNative) continue;
  const n = new NativeEngine(await loadKernelNode('fastest'), shape, nodeHelpers);
  await n.ready();
  const onCpu = await windowsPerSecond(n, arch, s.batch, s.steps);
  emit({ kind: 'train', shape: name, engine: 'native', backend: n.backend, ...onCpu });
  await n.dispose();
  emit({ kind: 'ratio', shape: name, webgpuOverNative: +(onGpu.tokensPerSecond / onCpu.tokensPerSecond).toFixed(2) });
}
