/**
 * A model as a standard ONNX graph (opset 17), for onnxruntime and the rest of the ONNX world.
 *
 *   tokens [seq, batch] int64 → one-hot (Gather from an identity) → L × (LSTM | GRU | RNN) → MatMul + Add → logits [seq, batch, V]
 *
 * with the recurrent state as explicit inputs h0_l{k} (and c0_l{k}) [1, batch, H] and outputs
 * hn_l{k} (cn_l{k}), so one call is one step or a whole prefix and calls can be chained.
 * ONNX orders gates differently from PyTorch (LSTM i,o,f,c; GRU z,r,h) and the GRU needs
 * linear_before_reset = 1 to apply r after W_hn h + b_hn as PyTorch does.
 * The protobuf is written by hand below: a few dozen lines instead of a dependency.
 */
import type { AsyncRowStepper } from './batch.ts';
import { layerParams, numGates, type Architecture, type Model } from './model.ts';

// ---- protobuf wire format ----

class Writer {
  /** Finished pieces; small writes gather in `pending` so large tensors are never copied byte by byte. */
  private parts: Uint8Array[] = [];
  private pending: number[] = [];
  private length = 0;

  private flush(): void {
    if (this.pending.length) this.parts.push(Uint8Array.from(this.pending));
    this.pending = [];
  }
  private push(...bytes: number[]): void {
    this.pending.push(...bytes);
    this.length += bytes.length;
  }
  private varint(v: number | bigint): void {
    let x = BigInt.asUintN(64, BigInt(v));
    while (x >= 0x80n) {
      this.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.push(Number(x));
  }
  private key(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }
  int(field: number, v: number): this {
    this.key(field, 0);
    this.varint(v);
    return this;
  }
  float(field: number, v: number): this {
    this.key(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.push(...b);
    return this;
  }
  raw(field: number, data: Uint8Array): this {
    this.key(field, 2);
    this.varint(data.length);
    this.flush();
    this.parts.push(data);
    this.length += data.length;
    return this;
  }
  string(field: number, s: string): this {
    return this.raw(field, new TextEncoder().encode(s));
  }
  message(field: number, w: Writer): this {
    return this.raw(field, w.finish());
  }
  packedInts(field: number, vs: number[]): this {
    const inner = new Writer();
    for (const v of vs) inner.varint(v);
    return this.raw(field, inner.finish());
  }
  finish(): Uint8Array {
    this.flush();
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const p of this.parts) out.set(p, o), (o += p.length);
    return out;
  }
}

// ---- ONNX messages (field numbers from onnx.proto) ----

const FLOAT = 1;
const INT64 = 7;

type Attr = { name: string } & ({ i: number } | { s: string } | { strings: string[] });

function node(op: string, inputs: string[], outputs: string[], attrs: Attr[] = []): Writer {
  const n = new Writer();
  for (const i of inputs) n.string(1, i);
  for (const o of outputs) n.string(2, o);
  n.string(3, `${op}_${outputs[0]}`).string(4, op);
  for (const a of attrs) {
    const w = new Writer().string(1, a.name);
    if ('i' in a) w.int(3, a.i).int(20, 2);
    else if ('s' in a) w.string(4, a.s).int(20, 3);
    else {
      for (const s of a.strings) w.string(9, s);
      w.int(20, 8);
    }
    n.message(5, w);
  }
  return n;
}

function tensor(name: string, dims: number[], data: Float32Array | BigInt64Array): Writer {
  const t = new Writer()
    .packedInts(1, dims)
    .int(2, data instanceof Float32Array ? FLOAT : INT64)
    .string(8, name);
  return t.raw(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}

function valueInfo(name: string, elemType: number, dims: (number | string)[]): Writer {
  const shape = new Writer();
  for (const d of dims) shape.message(1, typeof d === 'number' ? new Writer().int(1, d) : new Writer().string(2, d));
  const tensorType = new Writer().int(1, elemType).message(2, shape);
  return new Writer().string(1, name).message(2, new Writer().message(1, tensorType));
}

/** PyTorch gate blocks → ONNX order: LSTM (i,f,g,o) → (i,o,f,c); GRU (r,z,n) → (z,r,h). */
const GATE_ORDER = { lstm: [0, 3, 1, 2], gru: [1, 0, 2], rnn: [0] } as const;

function reorderGates(w: Float32Array, cell: Model['arch']['cell'], H: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  GATE_ORDER[cell].forEach((from, to) => out.set(w.subarray(from * H * cols, (from + 1) * H * cols), to * H * cols));
  return out;
}

/** The graph's recurrent state: per layer h (and the LSTM's c), an input and the output that feeds it next call. */
export function onnxState(arch: Architecture): { input: string; output: string }[] {
  const names: { input: string; output: string }[] = [];
  for (let k = 0; k < arch.numLayers; k++) {
    names.push({ input: `h0_l${k}`, output: `hn_l${k}` });
    if (arch.cell === 'lstm') names.push({ input: `c0_l${k}`, output: `cn_l${k}` });
  }
  return names;
}

/** What the runner needs of onnxruntime (onnxruntime-web and -node both fit), without importing it. */
export interface OrtTensorLike {
  readonly data: unknown;
}
export interface OrtLike<T extends OrtTensorLike> {
  Tensor: new (type: 'float32' | 'int64', data: Float32Array | BigInt64Array, dims: number[]) => T;
}
export interface OrtSessionLike<T extends OrtTensorLike> {
  run(feeds: Record<string, T>): Promise<Record<string, T>>;
}

/**
 * Calls an exported graph at batch 1 with the state carried from call to call, starting at
 * zeros: `run(ids)` feeds the ids in order and returns the logits after the last one.
 */
export function onnxRunner<T extends OrtTensorLike>(ort: OrtLike<T>, session: OrtSessionLike<T>, arch: Architecture): (ids: number[]) => Promise<Float32Array> {
  const rows = onnxRows(ort, session, arch, 1);
  return async (ids) => (await rows.read(0, ids)).subarray((ids.length - 1) * arch.vocabSize);
}

/**
 * An exported graph as rows of state (shared/batch.ts's `AsyncRowStepper`): each call runs the
 * rows it is given as one batch, their states carried in JS between calls.
 */
export function onnxRows<T extends OrtTensorLike>(ort: OrtLike<T>, session: OrtSessionLike<T>, arch: Architecture, capacity: number): AsyncRowStepper {
  const H = arch.hiddenSize;
  const V = arch.vocabSize;
  const names = onnxState(arch);
  // state[name] holds [capacity, H]: row r at r · H.
  const state = Object.fromEntries(names.map((n) => [n.input, new Float32Array(capacity * H)]));
  const run = async (first: number, n: number, seq: number, ids: ArrayLike<number>): Promise<Float32Array> => {
    const feeds: Record<string, T> = { tokens: new ort.Tensor('int64', BigInt64Array.from(Array.from(ids, (t) => BigInt(t))), [seq, n]) };
    for (const { input } of names) feeds[input] = new ort.Tensor('float32', state[input].slice(first * H, (first + n) * H), [1, n, H]);
    const out = await session.run(feeds);
    for (const { input, output } of names) state[input].set(out[output].data as Float32Array, first * H);
    return out.logits.data as Float32Array;
  };
  return {
    capacity,
    logitsStride: V,
    step: (first, tokens) => run(first, tokens.length, 1, tokens),
    read: (row, ids) => run(row, 1, ids.length, ids),
    reset(row) {
      for (const s of Object.values(state)) s.fill(0, row * H, (row + 1) * H);
    },
    gather(first, from) {
      for (const s of Object.values(state)) {
        const before = s.slice();
        from.forEach((src, i) => s.set(before.subarray((first + src) * H, (first + src + 1) * H), (first + i) * H));
      }
    },
  };
}

export function exportOnnx(model: Model): Uint8Array {
  const { cell, hiddenSize: H, vocabSize: V, numLayers } = model.arch;
  const G = numGates(cell);
  const op = { lstm: 'LSTM', gru: 'GRU', rnn: 'RNN' }[cell];
  const graph = new Writer();
  const nodes: Writer[] = [];
  const inits: Writer[] = [];
  const inputs: Writer[] = [valueInfo('tokens', INT64, ['seq', 'batch'])];
  const outputs: Writer[] = [valueInfo('logits', FLOAT, ['seq', 'batch', V])];

  const eye = new Float32Array(V * V);
  for (let i = 0; i < V; i++) eye[i * V + i] = 1;
  inits.push(tensor('onehot_table', [V, V], eye));
  nodes.push(node('Gather', ['onehot_table', 'tokens'], ['x_l0']));
  inits.push(tensor('squeeze_axis', [1], BigInt64Array.of(1n)));

  layerParams(model.arch, model.params).forEach((p, k) => {
    inits.push(
      tensor(`W_l${k}`, [1, G * H, p.inSize], reorderGates(p.wIh, cell, H, p.inSize)),
      tensor(`R_l${k}`, [1, G * H, H], reorderGates(p.wHh, cell, H, H)),
      tensor(`B_l${k}`, [1, 2 * G * H], Float32Array.from([...reorderGates(p.bIh, cell, H, 1), ...reorderGates(p.bHh, cell, H, 1)])),
    );
    const state = onnxState(model.arch).filter((n) => n.input.endsWith(`_l${k}`)); // h (and c) of layer k
    for (const n of state) {
      inputs.push(valueInfo(n.input, FLOAT, [1, 'batch', H]));
      outputs.push(valueInfo(n.output, FLOAT, [1, 'batch', H]));
    }
    const attrs: Attr[] = [{ name: 'hidden_size', i: H }];
    if (cell === 'gru') attrs.push({ name: 'linear_before_reset', i: 1 });
    nodes.push(
      node(op, [`x_l${k}`, `W_l${k}`, `R_l${k}`, `B_l${k}`, '', ...state.map((n) => n.input)], [`y_l${k}`, ...state.map((n) => n.output)], attrs),
      node('Squeeze', [`y_l${k}`, 'squeeze_axis'], [`x_l${k + 1}`]), // [seq, 1, batch, H] → [seq, batch, H]
    );
  });

  const wOut = model.params['linear.weight'];
  const wT = new Float32Array(H * V);
  for (let v = 0; v < V; v++) for (let h = 0; h < H; h++) wT[h * V + v] = wOut[v * H + h];
  inits.push(tensor('linear_weight_t', [H, V], wT), tensor('linear_bias', [V], model.params['linear.bias']));
  nodes.push(node('MatMul', [`x_l${numLayers}`, 'linear_weight_t'], ['scores']), node('Add', ['scores', 'linear_bias'], ['logits']));

  for (const n of nodes) graph.message(1, n);
  graph.string(2, model.name);
  for (const t of inits) graph.message(5, t);
  for (const i of inputs) graph.message(11, i);
  for (const o of outputs) graph.message(12, o);
  return new Writer()
    .int(1, 8) // ir_version
    .string(2, 'deeprnn')
    .message(7, graph)
    .message(8, new Writer().string(1, '').int(2, 17))
    .finish();
}
