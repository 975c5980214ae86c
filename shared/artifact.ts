/**
 * Model artifact, format version 1 (docs/model-format.md): a folder with `model.json` and
 * `weights.bin`. This module is the only reader and writer of the format; it works on bytes so
 * that Node, Workers and browsers each bring their own way of fetching the two files.
 */
import { ArtifactError } from './errors.ts';
import { fromFloat16Bits, toFloat16Bits } from './float16.ts';
import {
  CELLS,
  numElements,
  STATE_BITS,
  tensorSpecs,
  type Architecture,
  type Cell,
  type Model,
  type Params,
  type StateBits,
  type TrainingRecord,
} from './model.ts';
import { PREPROCESSINGS, type Preprocessing } from './text.ts';
import { Vocab } from './vocab.ts';

export const FORMAT_NAME = 'deeprnn-model';
export const FORMAT_VERSION = 1;
export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';

export type WeightsDtype = 'float32' | 'float16' | 'int8';
export const WEIGHTS_DTYPES: readonly WeightsDtype[] = ['float32', 'float16', 'int8'];

/**
 * int8 stores each tensor as rows (a matrix's first axis; a vector is one row): the rows' float32
 * scales, then the int8 values row-major, w ≈ q · scale with scale = max|w_row| / 127, padded to
 * a multiple of 4 bytes.
 */
function rowsOf(shape: readonly number[]): [rows: number, cols: number] {
  return shape.length === 1 ? [1, shape[0]] : [shape[0], numElements(shape) / shape[0]];
}

export function tensorByteLength(shape: readonly number[], dtype: WeightsDtype): number {
  if (dtype === 'float32') return numElements(shape) * 4;
  if (dtype === 'float16') return numElements(shape) * 2;
  const [rows, cols] = rowsOf(shape);
  return rows * 4 + Math.ceil((rows * cols) / 4) * 4;
}

/**
 * The widest rows an int8 model may have: the kernel's int8 product sums int8 × int16 products
 * in i32 lanes, exactly up to this many columns (shared/kernel/assembly/kernel.ts, Q8_MAX_COLUMNS).
 * Every product of a model has hiddenSize columns (layer 0 reads one-hot columns, no product).
 */
export const MAX_INT8_COLUMNS = 2064;

function checkInt8(arch: Architecture): void {
  if (arch.hiddenSize > MAX_INT8_COLUMNS) {
    throw new ArtifactError(
      'int8_too_wide',
      `int8 weights support hidden sizes up to ${MAX_INT8_COLUMNS} (their products must sum exactly in 32-bit integers); this model has ${arch.hiddenSize}: keep it in float32 or float16`,
    );
  }
}

/** The int8 rule, in one place: a row's scale is max|w| / 127 and each weight is round(w / scale). */
export function int8Scale(w: Float32Array, start: number, n: number): number {
  let max = 0;
  for (let i = start; i < start + n; i++) max = Math.max(max, Math.abs(w[i]));
  return max / 127;
}

export function toInt8(w: number, scale: number): number {
  return scale === 0 ? 0 : Math.round(w / scale);
}

function writeTensor(view: DataView, offset: number, data: Float32Array, shape: readonly number[], dtype: WeightsDtype): void {
  if (dtype === 'float32') data.forEach((v, i) => view.setFloat32(offset + 4 * i, v, true));
  else if (dtype === 'float16') data.forEach((v, i) => view.setUint16(offset + 2 * i, toFloat16Bits(v), true));
  else {
    const [rows, cols] = rowsOf(shape);
    for (let r = 0; r < rows; r++) {
      const scale = int8Scale(data, r * cols, cols);
      view.setFloat32(offset + 4 * r, scale, true);
      for (let c = 0; c < cols; c++) view.setInt8(offset + rows * 4 + r * cols + c, toInt8(data[r * cols + c], scale));
    }
  }
}

function readTensor(view: DataView, offset: number, shape: readonly number[], dtype: WeightsDtype): Float32Array {
  const data = new Float32Array(numElements(shape));
  if (dtype === 'float32') for (let i = 0; i < data.length; i++) data[i] = view.getFloat32(offset + 4 * i, true);
  else if (dtype === 'float16') for (let i = 0; i < data.length; i++) data[i] = fromFloat16Bits(view.getUint16(offset + 2 * i, true));
  else {
    const [rows, cols] = rowsOf(shape);
    for (let r = 0; r < rows; r++) {
      const scale = view.getFloat32(offset + 4 * r, true);
      for (let c = 0; c < cols; c++) data[r * cols + c] = view.getInt8(offset + rows * 4 + r * cols + c) * scale;
    }
  }
  return data;
}

export interface TensorEntry {
  name: string;
  shape: number[];
  offset: number;
}

export interface ModelJson {
  format: typeof FORMAT_NAME;
  version: typeof FORMAT_VERSION;
  name: string;
  architecture: Architecture;
  vocabulary: { tokens: string[]; unkIndex: number; preprocessing: Preprocessing };
  weights: { file: typeof WEIGHTS_BIN; dtype: WeightsDtype; byteLength: number; sha256: string; tensors: TensorEntry[]; stateBits?: StateBits };
  training: TrainingRecord | null;
}

export interface ArtifactFiles {
  /** `model.json` as text, or already parsed (a Workers JSON module import). */
  modelJson: string | unknown;
  weights: Uint8Array | ArrayBuffer;
}

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** Model → the two files of an artifact. */
export async function encodeArtifact(
  model: Model,
  dtype: WeightsDtype = 'float32',
  stateBits: StateBits = 16,
): Promise<{ modelJson: string; weights: Uint8Array }> {
  if (dtype === 'int8') checkInt8(model.arch);
  if (stateBits !== 16 && dtype !== 'int8') throw new ArtifactError('bad_state_bits', `stateBits ${stateBits} applies to int8 weights, not ${dtype}`);
  const specs = tensorSpecs(model.arch);
  const bytes = new Uint8Array(specs.reduce((n, s) => n + tensorByteLength(s.shape, dtype), 0));
  const view = new DataView(bytes.buffer);
  const tensors: TensorEntry[] = [];
  let offset = 0;
  for (const spec of specs) {
    const data = model.params[spec.name];
    if (!data || data.length !== numElements(spec.shape)) {
      throw new ArtifactError('bad_tensor', `tensor ${spec.name} must have ${numElements(spec.shape)} elements`);
    }
    checkFinite(spec.name, data);
    tensors.push({ name: spec.name, shape: spec.shape, offset });
    writeTensor(view, offset, data, spec.shape, dtype);
    offset += tensorByteLength(spec.shape, dtype);
  }
  const json: ModelJson = {
    format: FORMAT_NAME,
    version: FORMAT_VERSION,
    name: model.name,
    architecture: { ...model.arch },
    vocabulary: { tokens: [...model.vocab.tokens], unkIndex: model.vocab.unkIndex, preprocessing: model.preprocessing },
    weights: { file: WEIGHTS_BIN, dtype, byteLength: bytes.length, sha256: await sha256Hex(bytes), tensors, ...(stateBits === 7 ? { stateBits } : {}) },
    training: model.training,
  };
  return { modelJson: JSON.stringify(json, null, 2) + '\n', weights: bytes };
}

/** The two files of an artifact → a model, after checking everything; never a half-valid model. */
export async function decodeArtifact(files: ArtifactFiles): Promise<Model> {
  const json = parseModelJson(files.modelJson);
  const bytes = files.weights instanceof Uint8Array ? files.weights : new Uint8Array(files.weights);
  const w = json.weights;
  if (bytes.length !== w.byteLength) {
    const what = bytes.length < w.byteLength ? 'truncated' : 'oversize';
    throw new ArtifactError(`weights_${what}`, `weights.bin is ${what}: ${bytes.length} bytes, model.json says ${w.byteLength}`);
  }
  const digest = await sha256Hex(bytes);
  if (digest !== w.sha256) {
    throw new ArtifactError(
      'weights_hash_mismatch',
      `weights.bin SHA-256 is ${digest}, model.json says ${w.sha256}: the file is corrupt or belongs to another model`,
    );
  }
  if (w.dtype === 'int8') checkInt8(json.architecture);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const params: Params = {};
  for (const t of w.tensors) {
    params[t.name] = readTensor(view, t.offset, t.shape, w.dtype);
    checkFinite(t.name, params[t.name]);
  }
  const v = json.vocabulary;
  return {
    name: json.name,
    arch: json.architecture,
    vocab: new Vocab(v.tokens, v.unkIndex),
    preprocessing: v.preprocessing,
    params,
    training: json.training,
    storage: w.dtype,
    ...(w.stateBits === 7 ? { stateBits: 7 as const } : {}),
    weightsSha256: digest,
  };
}

/** NaN or ±Inf weights make a model that loads and prints garbage: refuse it, naming the tensor. */
function checkFinite(name: string, data: Float32Array): void {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i]))
      throw new ArtifactError('non_finite_weights', `${name}[${i}] is ${data[i]}: the weights are not all finite numbers (a diverged or damaged model)`);
  }
}

// ---- model.json validation: every field checked, each failure names the field ----

function fail(code: string, message: string): never {
  throw new ArtifactError(code, `model.json: ${message}`);
}
function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function obj(v: unknown, path: string): Record<string, unknown> {
  if (!isObject(v)) fail('bad_model_json', `${path} must be an object`);
  return v;
}
function int(v: unknown, path: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    fail('bad_model_json', `${path} must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
  return v;
}
function oneOf<T extends string | number>(v: unknown, path: string, allowed: readonly T[]): T {
  if (!allowed.includes(v as T)) fail('bad_model_json', `${path} must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`);
  return v as T;
}

/** Limits that keep a hostile model.json from asking for absurd memory before the byte checks. */
const MAX_LAYERS = 64;
const MAX_HIDDEN = 16384;
const MAX_VOCAB = 1 << 20;

export function parseModelJson(input: unknown): ModelJson {
  let raw: unknown = input;
  if (input instanceof Uint8Array) raw = new TextDecoder().decode(input);
  if (typeof raw === 'string') {
    try {
      raw = JSON.parse(raw);
    } catch (e) {
      fail('bad_model_json', `not valid JSON (${(e as Error).message})`);
    }
  }
  const root = obj(raw, 'the document');
  if (root.format !== FORMAT_NAME) fail('bad_format', `format must be "${FORMAT_NAME}", got ${JSON.stringify(root.format)}`);
  if (root.version !== FORMAT_VERSION)
    fail('unsupported_version', `version ${JSON.stringify(root.version)} is not supported (this build reads version ${FORMAT_VERSION})`);
  const name = typeof root.name === 'string' && root.name.length > 0 ? root.name : fail('bad_model_json', 'name must be a non-empty string');

  const a = obj(root.architecture, 'architecture');
  const arch: Architecture = {
    cell: oneOf<Cell>(a.cell, 'architecture.cell', CELLS),
    numLayers: int(a.numLayers, 'architecture.numLayers', 1, MAX_LAYERS),
    hiddenSize: int(a.hiddenSize, 'architecture.hiddenSize', 1, MAX_HIDDEN),
    vocabSize: int(a.vocabSize, 'architecture.vocabSize', 2, MAX_VOCAB),
    input: oneOf(a.input, 'architecture.input', ['one-hot'] as const),
  };

  const v = obj(root.vocabulary, 'vocabulary');
  if (!Array.isArray(v.tokens) || !v.tokens.every((t) => typeof t === 'string' && t.length > 0))
    fail('bad_vocabulary', 'vocabulary.tokens must be an array of non-empty strings');
  const tokens = v.tokens as string[];
  if (tokens.length !== arch.vocabSize) fail('vocab_size_mismatch', `vocabulary has ${tokens.length} tokens but architecture.vocabSize is ${arch.vocabSize}`);
  const unkIndex = int(v.unkIndex, 'vocabulary.unkIndex', 0, tokens.length - 1);
  const preprocessing = oneOf<Preprocessing>(v.preprocessing, 'vocabulary.preprocessing', PREPROCESSINGS);

  const w = obj(root.weights, 'weights');
  if (w.file !== WEIGHTS_BIN) fail('bad_model_json', `weights.file must be "${WEIGHTS_BIN}"`);
  const dtype = oneOf<WeightsDtype>(w.dtype, 'weights.dtype', WEIGHTS_DTYPES);
  const byteLength = int(w.byteLength, 'weights.byteLength', 0);
  const sha256 =
    typeof w.sha256 === 'string' && /^[0-9a-f]{64}$/.test(w.sha256) ? w.sha256 : fail('bad_model_json', 'weights.sha256 must be 64 lower-case hex digits');
  const entries: unknown[] = Array.isArray(w.tensors) ? w.tensors : fail('bad_model_json', 'weights.tensors must be an array');
  const expected = tensorSpecs(arch);
  if (entries.length !== expected.length)
    fail('tensor_mismatch', `weights.tensors has ${entries.length} entries; a ${arch.numLayers}-layer ${arch.cell} needs ${expected.length}`);
  let offset = 0;
  const tensors: TensorEntry[] = expected.map((spec, i) => {
    const t = obj(entries[i], `weights.tensors[${i}]`);
    if (t.name !== spec.name) fail('tensor_mismatch', `weights.tensors[${i}] is ${JSON.stringify(t.name)}, expected ${spec.name}`);
    const shape = t.shape;
    if (!Array.isArray(shape) || shape.length !== spec.shape.length || shape.some((d, j) => d !== spec.shape[j])) {
      fail('tensor_shape_mismatch', `${spec.name} has shape ${JSON.stringify(shape)}; the architecture needs [${spec.shape.join(', ')}]`);
    }
    if (t.offset !== offset)
      fail(
        'tensor_mismatch',
        `${spec.name} starts at byte ${JSON.stringify(t.offset)}, expected ${offset} (tensors are stored back to back in state_dict order)`,
      );
    offset += tensorByteLength(spec.shape, dtype);
    return { name: spec.name, shape: spec.shape, offset: t.offset };
  });
  if (offset !== byteLength) fail('tensor_mismatch', `the tensors take ${offset} bytes but weights.byteLength is ${byteLength}`);
  const stateBits = w.stateBits === undefined ? undefined : oneOf<StateBits>(w.stateBits, 'weights.stateBits', STATE_BITS);
  if (stateBits === 7 && dtype !== 'int8') fail('bad_model_json', `weights.stateBits 7 applies to int8 weights, not ${dtype}`);

  const training = root.training === null || root.training === undefined ? null : (obj(root.training, 'training') as TrainingRecord);
  return {
    format: FORMAT_NAME,
    version: FORMAT_VERSION,
    name,
    architecture: arch,
    vocabulary: { tokens, unkIndex, preprocessing },
    weights: { file: WEIGHTS_BIN, dtype, byteLength, sha256, tensors, ...(stateBits === 7 ? { stateBits } : {}) },
    training,
  };
}
