/**
 * `deeprnn bench` (npm run bench): speed of every engine and kernel on this machine, as JSON
 * lines. Not a test: nothing here asserts a timing.
 */
import { cpus } from 'node:os';
import { referenceStepper, type Stepper } from '../../shared/generate.ts';
import { KERNEL_FLAVORS, type KernelFlavor } from '../../shared/kernel/kernel.ts';
import { kernelStepper, loadKernelWeights } from '../../shared/kernel/stepper.ts';
import { initParams, type Architecture, type Cell, type Model } from '../../shared/model.ts';
import { decodeArtifact, encodeArtifact } from '../../shared/artifact.ts';
import { exportOnnx, onnxRunner } from '../../shared/onnx.ts';
import { loadKernelNode } from '../../shared/platform/node.ts';
import { Rng } from '../../shared/rng.ts';
import { Vocab } from '../../shared/vocab.ts';
import { NativeEngine } from '../engines/native.ts';
import { choiceOption, numberOption, parseCommand, stringOption } from '../options.ts';

export const benchHelp = `Usage: deeprnn bench [--seconds S] [--cell lstm|gru|rnn]

Measures, on the d2l configuration (2 layers × 256 units, vocabulary 28, batch 32, 35 steps):
training tokens/s for each engine and kernel, and generation microseconds per character at
batch 1. Prints one JSON object per line, the first describing the machine.

  --seconds S   time spent on each measurement (default 5)
  --cell C      recurrent cell (default lstm)`;


function d2lModel(cell: Cell): Model {
  const tokens = ['<unk>', ' ', ...'etainoshrdlmucfwgypbvkxzjq'];
  const arch: Architecture = { cell, numLayers: 2, hiddenSize: 256, vocabSize: tokens.length, input: 'one-hot' };
  const rng = new Rng(0);
  return { name: 'bench', arch, vocab: new Vocab(tokens), preprocessing: 'd2l', params: initParams(arch, () => rng.uniform()), training: null };
}

/** Run `body` until `seconds` have passed (after one warm-up call); returns calls and seconds. */
async function timed(seconds: number, body: () => unknown): Promise<{ calls: number; seconds: number }> {
  await body();
  const start = performance.now();
  let calls = 0;
  while (performance.now() - start < seconds * 1000) {
    await body();
    calls++;
  }
  return { calls, seconds: (performance.now() - start) / 1000 };
}

export async function benchCommand(argv: string[], out: (s: string) => void): Promise<void> {
  const { values } = parseCommand(argv, { seconds: { type: 'string' }, cell: { type: 'string' } });
  const seconds = numberOption('seconds', stringOption('seconds', values.seconds), (v) => v > 0 && v <= 600, 'a number of seconds in (0, 600]') ?? 5;
  const cell = choiceOption<Cell>('cell', stringOption('cell', values.cell), ['lstm', 'gru', 'rnn']) ?? 'lstm';
  const emit = (o: object) => out(JSON.stringify(o));
  emit({ kind: 'machine', cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version, v8: process.versions.v8, platform: `${process.platform}-${process.arch}`, date: new Date().toISOString() });

  const model = d2lModel(cell);
  const B = 32;
  const T = 35;
  const rng = new Rng(1);
  const x = Int32Array.from({ length: B * T }, () => rng.randint(1, 27));
  const y = Int32Array.from({ length: B * T }, () => rng.randint(1, 27));
  const runs: [KernelFlavor, number][] = [['simd', 1], ['relaxed-simd', 1], ['relaxed-simd', 2]];
  for (const [flavor, threads] of runs) {
    const kernel = await loadKernelNode(flavor);
    const engine = new NativeEngine(kernel, model.arch, B, T, threads);
    engine.setParams(model.params);
    engine.resetState();
    const r = await timed(seconds, async () => {
      await engine.forwardBackward(x, y);
      engine.clipGradients(1);
      engine.update({ name: 'sgd', lr: 2 });
    });
    emit({ kind: 'train', engine: 'native', backend: engine.backend, cell, layers: 2, hidden: 256, batch: B, steps: T, threads, tokensPerSecond: Math.round((r.calls * B * T) / r.seconds) });
    engine.dispose();
  }

  const int8 = await decodeArtifact(await encodeArtifact(model, 'int8'));
  const steppers: [string, () => Promise<Stepper>][] = [
    ['reference (TypeScript)', async () => referenceStepper(model)],
    ...KERNEL_FLAVORS.map((f): [string, () => Promise<Stepper>] => [`wasm-${f}`, async () => kernelStepper(loadKernelWeights(await loadKernelNode(f), model))]),
    ['wasm-simd, int8 model (int8 × int16 path)', async () => kernelStepper(loadKernelWeights(await loadKernelNode('simd'), int8))],
  ];
  for (const [name, make] of steppers) {
    const stepper = await make();
    let t = 0;
    const r = await timed(seconds, () => {
      for (let i = 0; i < 100; i++) t = (t * 7 + 3) % 28 || 1, stepper.step(t);
    });
    emit({ kind: 'generate', engine: name, cell, layers: 2, hidden: 256, batch: 1, microsecondsPerChar: +((r.seconds * 1e6) / (r.calls * 100)).toFixed(1) });
  }

  // onnxruntime-web (wasm, one thread) on the ONNX export, one call per character as the browser module does.
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = 1;
  const session = await ort.InferenceSession.create(exportOnnx(model));
  const run = onnxRunner(ort, session, model.arch);
  let t = 1;
  const r = await timed(seconds, async () => {
    for (let i = 0; i < 100; i++) {
      t = (t * 7 + 3) % 28 || 1;
      await run([t]);
    }
  });
  emit({ kind: 'generate', engine: 'onnxruntime-web (wasm, 1 thread)', cell, layers: 2, hidden: 256, batch: 1, microsecondsPerChar: +((r.seconds * 1e6) / (r.calls * 100)).toFixed(1) });
}
