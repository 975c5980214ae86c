/**
 * Training checkpoints: one file, written atomically (write, then rename), holding everything an
 * interrupted run needs to continue exactly — weights, optimizer moments, where in which epoch
 * it stopped (the epoch's iterator seed, the windows done, the state carried between windows),
 * the best validation weights so far — under one SHA-256 that covers the header too, so a
 * damaged or edited file is refused, never resumed.
 *
 *   "DEEPRNN-CKPT2\n" | u32 header length | header JSON | float32 blobs in header.blobs order
 *
 * The header's `sha256` is that of the header JSON written with `sha256: ""`, followed by the blobs.
 */
import { sha256Hex } from '../shared/artifact.ts';
import { DeeprnnError } from '../shared/errors.ts';
import { CELLS, numElements, tensorSpecs, type Architecture, type Params } from '../shared/model.ts';
import { PREPROCESSINGS } from '../shared/text.ts';
import { LR_SCHEDULES, type TrainConfig } from './config.ts';
import { ENGINE_CHOICES } from './engines/engine.ts';
import { ITERATORS } from './data.ts';
import type { OptimizerState } from './engines/engine.ts';

const MAGIC = 'DEEPRNN-CKPT2\n';
const OLD_MAGIC = 'DEEPRNN-CKPT\n';
export const CHECKPOINT_FILE = 'checkpoint.bin';

export interface EpochRecord {
  epoch: number;
  perplexity: number;
  /** Overall, over every file's held-out part; null without a validation split. */
  validationPerplexity: number | null;
  /** Per corpus file (its path → perplexity), with a validation split. */
  validation?: Record<string, number>;
  tokensPerSecond: number;
  elapsedSeconds: number;
  lr?: number;
}

/** Where a run stands: completed epochs, and how far into the next one. */
export interface Position {
  /** Epochs completed. */
  epoch: number;
  /** Windows done in epoch `epoch + 1` (0: at its start). */
  window: number;
  /** The iterator RNG's state at the start of epoch `epoch + 1`. */
  rngState: number[];
  /** The partial epoch's Σ loss and tokens. */
  partial: { loss: number; tokens: number };
}

export interface Checkpoint {
  config: TrainConfig;
  position: Position;
  elapsedSeconds: number;
  last: EpochRecord | null;
  best: { epoch: number; validationPerplexity: number; params: Params } | null;
  params: Params;
  optimizer: OptimizerState;
  /** The state carried between windows, mid-epoch with the sequential iterator. */
  carry: Float32Array | null;
}

interface Header {
  format: 'deeprnn-checkpoint';
  version: 2;
  config: TrainConfig;
  position: Position;
  elapsedSeconds: number;
  last: EpochRecord | null;
  best: { epoch: number; validationPerplexity: number } | null;
  optimizerStep: number;
  /** Tensor groups (each all tensors in state_dict order), then the carried state when present. */
  blobs: string[];
  carryLength: number;
  sha256: string;
}

function archOf(c: TrainConfig): Architecture {
  return { cell: c.cell, numLayers: c.numLayers, hiddenSize: c.hiddenSize, vocabSize: c.vocabSize, input: 'one-hot' };
}

function encodeHeader(h: Header): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(h));
}

async function digest(h: Header, body: Uint8Array): Promise<string> {
  const head = encodeHeader({ ...h, sha256: '' });
  const all = new Uint8Array(head.length + body.length);
  all.set(head);
  all.set(body, head.length);
  return sha256Hex(all);
}

/** A checkpoint as bytes (runtime-free: Node writes them to DIR/checkpoint.bin, trainer/checkpoint-files.ts). */
export async function encodeCheckpoint(ck: Checkpoint): Promise<Uint8Array> {
  const specs = tensorSpecs(archOf(ck.config));
  const groups: [string, Params][] = [['params', ck.params]];
  if (ck.optimizer.moments) groups.push(['adam.m', ck.optimizer.moments.m], ['adam.v', ck.optimizer.moments.v]);
  if (ck.best) groups.push(['best', ck.best.params]);
  const perGroup = specs.reduce((n, s) => n + numElements(s.shape), 0);
  const carryLength = ck.carry?.length ?? 0;
  const floats = new Float32Array(perGroup * groups.length + carryLength);
  let o = 0;
  for (const [, params] of groups) for (const s of specs) floats.set(params[s.name], o), (o += params[s.name].length);
  if (ck.carry) floats.set(ck.carry, o);
  const body = new Uint8Array(floats.buffer);
  const header: Header = {
    format: 'deeprnn-checkpoint',
    version: 2,
    config: ck.config,
    position: ck.position,
    elapsedSeconds: ck.elapsedSeconds,
    last: ck.last,
    best: ck.best && { epoch: ck.best.epoch, validationPerplexity: ck.best.validationPerplexity },
    optimizerStep: ck.optimizer.step,
    blobs: groups.map(([name]) => name),
    carryLength,
    sha256: '',
  };
  header.sha256 = await digest(header, body);
  const head = new TextEncoder().encode(MAGIC + JSON.stringify(header));
  const out = new Uint8Array(4 + head.length + body.length);
  out.set(head.subarray(0, MAGIC.length));
  new DataView(out.buffer).setUint32(MAGIC.length, head.length - MAGIC.length, true);
  out.set(head.subarray(MAGIC.length), MAGIC.length + 4);
  out.set(body, 4 + head.length);
  return out;
}

/** The configuration a checkpoint holds, checked field by field (a hand-edited file could say anything). */
function checkConfig(c: unknown, bad: (why: string) => never): TrainConfig {
  if (typeof c !== 'object' || c === null) bad('no run configuration');
  // Older checkpoints: none of these (their runs read the text as written: no cleaning).
  const r: Record<string, unknown> = {
    outputDropout: 0,
    weightDrop: 0,
    weightDecay: 0,
    toSize: [],
    sizing: null,
    keepMojibake: true,
    keepMargins: true,
    ...(c as Record<string, unknown>),
  };
  const int = (k: string, min: number) => (Number.isInteger(r[k]) && (r[k] as number) >= min ? null : bad(`config.${k} is not a whole number ≥ ${min}`));
  const num = (k: string) => (typeof r[k] === 'number' && Number.isFinite(r[k]) ? null : bad(`config.${k} is not a number`));
  const one = (k: string, allowed: readonly unknown[]) => (allowed.includes(r[k]) ? null : bad(`config.${k} is ${JSON.stringify(r[k])}`));
  if (!Array.isArray(r.corpus) || !r.corpus.every((f) => typeof f === 'string')) bad('config.corpus is not a list of files');
  for (const k of ['numLayers', 'hiddenSize', 'vocabSize', 'batchSize', 'numSteps', 'epochs', 'threads']) int(k, 1);
  for (const k of ['maxTokens', 'seed']) int(k, 0);
  for (const k of ['valFraction', 'lr', 'clip', 'dropout', 'outputDropout', 'weightDrop', 'weightDecay', 'timeBudgetMinutes']) num(k);
  if (!Array.isArray(r.toSize) || r.toSize.length > 0) bad('config.toSize is not empty: the run was never sized');
  if (r.sizing !== null && (typeof r.sizing !== 'object' || typeof (r.sizing as { reason?: unknown }).reason !== 'string'))
    bad('config.sizing is not a sizing record');
  one('cell', CELLS);
  one('preprocessing', PREPROCESSINGS);
  one('optimizer', ['sgd', 'adam']);
  one('lrSchedule', LR_SCHEDULES);
  one('iterator', ITERATORS);
  one('engine', ENGINE_CHOICES);
  one('unknownChars', ['refuse', 'unk']);
  for (const k of ['keepBoilerplate', 'keepMojibake', 'keepMargins', 'authorTags']) one(k, [true, false]);
  if (typeof r.predictPrefix !== 'string') bad('config.predictPrefix is not a string');
  if (r.initFrom !== null && typeof r.initFrom !== 'string') bad('config.initFrom is not a folder');
  return r as unknown as TrainConfig;
}

/** A checkpoint's bytes, checked (SHA-256 over header and weights, every field); `path` names it in errors. */
export async function decodeCheckpoint(file: Uint8Array, path: string): Promise<Checkpoint> {
  const bad = (why: string): never => {
    throw new DeeprnnError('bad_checkpoint', `${path} is damaged (${why}); it cannot be resumed`);
  };
  const magic = new TextDecoder().decode(file.subarray(0, MAGIC.length));
  if (magic.startsWith(OLD_MAGIC)) {
    throw new DeeprnnError(
      'bad_checkpoint',
      `${path} was written by an older deeprnn whose checkpoints do not cover their header with the checksum; it cannot be resumed safely (start the run again)`,
    );
  }
  if (magic !== MAGIC || file.length < MAGIC.length + 4) bad('not a deeprnn checkpoint');
  const len = new DataView(file.buffer, file.byteOffset).getUint32(MAGIC.length, true);
  const start = MAGIC.length + 4 + len;
  if (start > file.length) bad('truncated header');
  let header: Header;
  try {
    header = JSON.parse(new TextDecoder().decode(file.subarray(MAGIC.length + 4, start))) as Header;
  } catch {
    return bad('header is not JSON');
  }
  const body = new Uint8Array(file.length - start); // a copy, so the floats are 4-byte aligned
  body.set(file.subarray(start));
  if (typeof header !== 'object' || header === null || typeof header.sha256 !== 'string' || (await digest(header, body)) !== header.sha256)
    bad('SHA-256 mismatch');
  const config = checkConfig(header.config, bad);
  const p = header.position;
  if (!p || !Number.isInteger(p.epoch) || !Number.isInteger(p.window) || !Array.isArray(p.rngState) || typeof p.partial?.loss !== 'number') bad('no position');
  const specs = tensorSpecs(archOf(config));
  const perGroup = specs.reduce((n, s) => n + numElements(s.shape), 0);
  if (!Array.isArray(header.blobs) || !header.blobs.includes('params') || body.length !== (perGroup * header.blobs.length + header.carryLength) * 4)
    bad('wrong size');
  const floats = new Float32Array(body.buffer, body.byteOffset, body.length / 4);
  const groups = new Map<string, Params>();
  let o = 0;
  for (const name of header.blobs) {
    const params: Params = {};
    for (const s of specs) {
      const n = numElements(s.shape);
      params[s.name] = floats.slice(o, o + n);
      o += n;
    }
    groups.set(name, params);
  }
  const m = groups.get('adam.m');
  const v = groups.get('adam.v');
  const best = groups.get('best');
  if (header.best && !best) bad('best weights missing');
  return {
    config,
    position: p,
    elapsedSeconds: header.elapsedSeconds,
    last: header.last,
    best: header.best && best ? { ...header.best, params: best } : null,
    params: groups.get('params')!,
    optimizer: { step: header.optimizerStep, moments: m && v ? { m, v } : null },
    carry: header.carryLength > 0 ? floats.slice(o, o + header.carryLength) : null,
  };
}
