/**
 * `deeprnn bench` (npm run bench): speed of every engine and kernel on this machine, as JSON
 * lines. Not a test: nothing here asserts a timing.
 */
import { fork } from 'node:child_process';
import { availableParallelism, cpus } from 'node:os';
import { decodeArtifact, encodeArtifact } from '../../shared/artifact.ts';
import { BatchExecutor } from '../../shared/batch.ts';
import { validateGeneration } from '../../shared/decode/validate.ts';
import { createJob } from '../../shared/generate.ts';
import { KERNEL_FLAVORS } from '../../shared/kernel/kernel.ts';
import { KernelModel, referenceRows, type RowStepper } from '../../shared/kernel/stepper.ts';
import { CELLS, initParams, type Architecture, type Cell, type Model } from '../../shared/model.ts';
import { exportOnnx, onnxRows } from '../../shared/onnx.ts';
import { loadKernelNode } from '../../shared/platform/node.ts';
import { Rng } from '../../shared/rng.ts';
import { Vocab } from '../../shared/vocab.ts';
import { nodeHelpers } from '../engines/index.ts';
import { NativeEngine } from '../engines/native.ts';
import { helpText, opt } from '../options.ts';
import { parseOptions } from '../argv.ts';

const OPTIONS = {
  seconds: opt.number({ min: 0, max: 600, exclusiveMin: true, help: 'time spent on each measurement', default: 5 }),
  cell: opt.choice({ choices: CELLS, help: 'recurrent cell', default: 'lstm' as Cell }),
  threads: opt.int({ min: 1, max: availableParallelism(), help: 'measure training with 1 … N threads (default: all cores)', default: availableParallelism() }),
  busy: opt.boolean({ help: 'keep one core busy with another process during the training measurements (a machine that is not idle)' }),
  only: opt.choice({ choices: ['train', 'generate'] as const, help: 'measure only training or only generation' }),
};

export const benchHelp = helpText(
  'Usage: deeprnn bench [--seconds S] [--cell lstm|gru|rnn] [--threads N] [--busy] [--only train|generate]',
  OPTIONS,
  `Measures, on the d2l configuration (2 layers × 256 units, vocabulary 28, batch 32, 35 steps):
training tokens/s for each kernel build and 1 … N threads (with the scaling efficiency), and
generation microseconds per character at batch 1 and characters per second batched. One JSON
object per line, the first describing the machine.`,
);

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

/** A process that spins on one core until killed. */
function busyProcess() {
  return fork('-e', ['for(;;){}'], { execArgv: [], stdio: 'ignore' } as never);
}

export async function benchCommand(argv: string[], out: (s: string) => void): Promise<void> {
  const { values } = parseOptions(OPTIONS, argv);
  const seconds = values.seconds!;
  const cell = values.cell!;
  const emit = (o: object) => out(JSON.stringify(o));
  emit({
    kind: 'machine',
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    node: process.version,
    v8: process.versions.v8,
    platform: `${process.platform}-${process.arch}`,
    date: new Date().toISOString(),
  });
  const model = d2lModel(cell);

  if (values.only !== 'generate') {
    const B = 32;
    const T = 35;
    const rng = new Rng(1);
    const x = Int32Array.from({ length: B * T }, () => rng.randint(1, 27));
    const y = Int32Array.from({ length: B * T }, () => rng.randint(1, 27));
    const busy = values.busy ? busyProcess() : null;
    try {
      const runs: ['simd' | 'relaxed-simd', number][] = [
        ['simd', 1],
        ...Array.from({ length: values.threads! }, (_, i): ['relaxed-simd', number] => ['relaxed-simd', i + 1]),
      ];
      let one = 0;
      for (const [flavor, threads] of runs) {
        const engine = new NativeEngine(
          await loadKernelNode(flavor),
          { arch: model.arch, batchSize: B, numSteps: T, optimizer: { name: 'sgd' }, threads: threads },
          nodeHelpers,
        );
        engine.setParams(model.params);
        engine.resetState();
        const r = await timed(seconds, async () => {
          await engine.forwardBackward(x, y);
          engine.clipGradients(1);
          engine.step(2);
        });
        const tokensPerSecond = Math.round((r.calls * B * T) / r.seconds);
        if (flavor === 'relaxed-simd' && threads === 1) one = tokensPerSecond;
        const scaling =
          flavor === 'relaxed-simd' && one > 0
            ? { speedup: +(tokensPerSecond / one).toFixed(2), efficiency: +(tokensPerSecond / one / threads).toFixed(2) }
            : {};
        emit({
          kind: 'train',
          engine: 'native',
          backend: engine.backend,
          cell,
          layers: 2,
          hidden: 256,
          batch: B,
          steps: T,
          threads,
          busyCore: busy !== null,
          tokensPerSecond,
          ...scaling,
        });
        await engine.dispose();
      }
    } finally {
      busy?.kill();
    }
  }
  if (values.only === 'train') return;

  // int8 as exported today (7-bit states, on the relaxed dot product where the engine has it) and
  // as renditions exported before 2026-12-05 are (int16 states).
  const int8 = await decodeArtifact(await encodeArtifact(model, 'int8', 7));
  const int8i16 = await decodeArtifact(await encodeArtifact(model, 'int8'));
  // The generation build this Node picks (kernel-dotadd.wasm where its V8 makes the dot-add one exact instruction).
  const build = (await loadKernelNode('simd')).build;
  const steppers: [string, () => Promise<RowStepper>][] = [
    ['reference (TypeScript)', async () => referenceRows(model, 1)],
    ...KERNEL_FLAVORS.map((f): [string, () => Promise<RowStepper>] => [
      `wasm-${f}, float32 model`,
      async () => new KernelModel(await loadKernelNode(f), model).acquire(1),
    ]),
    [`wasm-simd, int8 model (7-bit states, ${build})`, async () => new KernelModel(await loadKernelNode('simd'), int8).acquire(1)],
    [
      'wasm-simd, int8 model (7-bit states, standard SIMD: engines without relaxed SIMD)',
      async () => new KernelModel(await loadKernelNode('portable'), int8).acquire(1),
    ],
    ['wasm-simd, int8 model (int16 states)', async () => new KernelModel(await loadKernelNode('simd'), int8i16).acquire(1)],
  ];
  for (const [name, make] of steppers) {
    const stepper = await make();
    let t = 0;
    const r = await timed(seconds, () => {
      for (let i = 0; i < 100; i++) (t = (t * 7 + 3) % 28 || 1), stepper.step(0, [t]);
    });
    emit({ kind: 'generate', engine: name, cell, layers: 2, hidden: 256, batch: 1, microsecondsPerChar: +((r.seconds * 1e6) / (r.calls * 100)).toFixed(1) });
  }

  // Continuous batching: characters per second for a whole batch of greedy generations, one core.
  for (const [name, m] of [
    ['float32', model],
    ['int8', int8],
    ['int8 (int16 states)', int8i16],
  ] as const) {
    for (const batch of [1, 8, 32, 128]) {
      const km = new KernelModel(await loadKernelNode('simd'), m);
      const rows = km.acquire(batch);
      const ex = new BatchExecutor(rows);
      let seed = 0;
      const refill = () => {
        while (ex.freeRows > 0) ex.add(createJob(m, validateGeneration(m, { prefix: 'the', numChars: 200, temperature: 1, seed: seed++ })));
      };
      refill();
      const r = await timed(seconds, () => {
        for (let i = 0; i < 20; i++) {
          ex.tick();
          refill();
        }
      });
      emit({
        kind: 'generate-batched',
        model: name,
        batch,
        charsPerSecond: Math.round((r.calls * 20 * batch) / r.seconds),
        microsecondsPerChar: +((r.seconds * 1e6) / (r.calls * 20 * batch)).toFixed(1),
      });
      km.release(rows);
      km.dispose();
    }
  }

  // One step of the network for a batch of rows, nothing else (no sampling, no executor): our
  // kernel beside onnxruntime — web (wasm) and node (native, MLAS) — on our ONNX export, one
  // thread each, at the same batch sizes, so the comparison is one command.
  const ortWeb = await import('onnxruntime-web');
  ortWeb.env.wasm.numThreads = 1;
  // Not a dependency (its install script downloads CUDA libraries): measured when installed.
  const ORT_NODE: string = 'onnxruntime-node';
  const ortNode = (await import(ORT_NODE).catch(() => null)) as typeof ortWeb | null;
  const onnx = exportOnnx(model);
  const stepRows: [string, (batch: number) => Promise<{ step(tokens: number[]): unknown }>][] = [
    [
      'wasm-simd, float32 model',
      async (b) => {
        const rows = new KernelModel(await loadKernelNode('simd'), model).acquire(b);
        return { step: (t) => rows.step(0, t) };
      },
    ],
    [
      `wasm-simd, int8 model (7-bit states, ${build})`,
      async (b) => {
        const rows = new KernelModel(await loadKernelNode('simd'), int8).acquire(b);
        return { step: (t) => rows.step(0, t) };
      },
    ],
    [
      'wasm-simd, int8 model (int16 states)',
      async (b) => {
        const rows = new KernelModel(await loadKernelNode('simd'), int8i16).acquire(b);
        return { step: (t) => rows.step(0, t) };
      },
    ],
    [
      'onnxruntime-web 1.30 (wasm, 1 thread), float32',
      async (b) => {
        const rows = onnxRows(ortWeb, await ortWeb.InferenceSession.create(onnx), model.arch, b);
        return { step: (t) => rows.step(0, t) };
      },
    ],
  ];
  if (ortNode) {
    stepRows.push([
      'onnxruntime-node 1.30 (native CPU, 1 thread), float32',
      async (b) => {
        const session = await ortNode.InferenceSession.create(onnx, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' });
        const rows = onnxRows(ortNode, session, model.arch, b);
        return { step: (t) => rows.step(0, t) };
      },
    ]);
  } else
    emit({
      kind: 'step-batched',
      engine: 'onnxruntime-node',
      skipped: 'not installed: ONNXRUNTIME_NODE_INSTALL=skip npm install --no-save onnxruntime-node@1.30 measures it (the variable skips its CUDA download)',
    });
  for (const [name, make] of stepRows) {
    for (const batch of [1, 8, 32, 128]) {
      const stepper = await make(batch);
      let t = 1;
      const tokens = () => Array.from({ length: batch }, (_, i) => (t = (t * 7 + 3 + i) % 28 || 1));
      const r = await timed(seconds, async () => {
        for (let i = 0; i < 10; i++) await stepper.step(tokens());
      });
      emit({ kind: 'step-batched', engine: name, batch, microsecondsPerChar: +((r.seconds * 1e6) / (r.calls * 10 * batch)).toFixed(1) });
    }
  }
}
