/**
 * Training checkpoints: one file, written atomically (write, then rename), holding everything a
 * killed run needs to continue exactly — weights, optimizer moments, epoch, iterator RNG, the
 * best validation weights so far — with a SHA-256 so a damaged file is refused, not resumed.
 *
 *   "DEEPRNN-CKPT\n" | u32 header length | header JSON | float32 blobs in header.blobs order
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256Hex } from '../shared/artifact.ts';
import { DeeprnnError } from '../shared/errors.ts';
import { numElements, tensorSpecs, type Architecture, type Params } from '../shared/model.ts';
import { writeFileAtomic } from '../shared/platform/node.ts';
import type { OptimizerState } from './engines/engine.ts';
import type { TrainConfig } from './config.ts';

const MAGIC = 'DEEPRNN-CKPT\n';
export const CHECKPOINT_FILE = 'checkpoint.bin';

export interface EpochRecord {
  epoch: number;
  perplexity: number;
  validationPerplexity: number | null;
  tokensPerSecond: number;
  elapsedSeconds: number;
}

export interface Checkpoint {
  config: TrainConfig;
  /** Epochs completed. */
  epoch: number;
  rngState: number[];
  elapsedSeconds: number;
  last: EpochRecord | null;
  best: { epoch: number; validationPerplexity: number; params: Params } | null;
  params: Params;
  optimizer: OptimizerState;
}

interface Header {
  config: TrainConfig;
  epoch: number;
  rngState: number[];
  elapsedSeconds: number;
  last: EpochRecord | null;
  best: { epoch: number; validationPerplexity: number } | null;
  optimizerStep: number;
  blobs: string[];
  sha256: string;
}

function archOf(c: TrainConfig): Architecture {
  return { cell: c.cell, numLayers: c.numLayers, hiddenSize: c.hiddenSize, vocabSize: c.vocabSize, input: 'one-hot' };
}

export async function writeCheckpoint(dir: string, ck: Checkpoint): Promise<void> {
  const specs = tensorSpecs(archOf(ck.config));
  const groups: [string, Params][] = [['params', ck.params]];
  if (ck.optimizer.moments) groups.push(['adam.m', ck.optimizer.moments.m], ['adam.v', ck.optimizer.moments.v]);
  if (ck.best) groups.push(['best', ck.best.params]);
  const perGroup = specs.reduce((n, s) => n + numElements(s.shape), 0);
  const body = new Float32Array(perGroup * groups.length);
  let o = 0;
  for (const [, params] of groups) for (const s of specs) body.set(params[s.name], o), (o += params[s.name].length);
  const bytes = new Uint8Array(body.buffer);
  const header: Header = {
    config: ck.config,
    epoch: ck.epoch,
    rngState: ck.rngState,
    elapsedSeconds: ck.elapsedSeconds,
    last: ck.last,
    best: ck.best && { epoch: ck.best.epoch, validationPerplexity: ck.best.validationPerplexity },
    optimizerStep: ck.optimizer.step,
    blobs: groups.map(([name]) => name),
    sha256: await sha256Hex(bytes),
  };
  const head = new TextEncoder().encode(MAGIC + JSON.stringify(header));
  const out = new Uint8Array(4 + head.length + bytes.length);
  out.set(head.subarray(0, MAGIC.length));
  new DataView(out.buffer).setUint32(MAGIC.length, head.length - MAGIC.length, true);
  out.set(head.subarray(MAGIC.length), MAGIC.length + 4);
  out.set(bytes, 4 + head.length);
  await writeFileAtomic(join(dir, CHECKPOINT_FILE), out);
}

export async function readCheckpoint(dir: string): Promise<Checkpoint> {
  const path = join(dir, CHECKPOINT_FILE);
  let file: Uint8Array;
  try {
    file = await readFile(path);
  } catch {
    throw new DeeprnnError('no_checkpoint', `${path} does not exist: nothing to resume (start the run with --out ${dir})`);
  }
  const bad = (why: string): never => {
    throw new DeeprnnError('bad_checkpoint', `${path} is damaged (${why}); it cannot be resumed`);
  };
  if (new TextDecoder().decode(file.subarray(0, MAGIC.length)) !== MAGIC) bad('not a deeprnn checkpoint');
  const len = new DataView(file.buffer, file.byteOffset).getUint32(MAGIC.length, true);
  const start = MAGIC.length + 4 + len;
  if (start > file.length) bad('truncated header');
  let header: Header;
  try {
    header = JSON.parse(new TextDecoder().decode(file.subarray(MAGIC.length + 4, start))) as Header;
  } catch {
    return bad('header is not JSON');
  }
  const bytes = new Uint8Array(file.length - start); // a copy, so the floats are 4-byte aligned
  bytes.set(file.subarray(start));
  if ((await sha256Hex(bytes)) !== header.sha256) bad('SHA-256 mismatch');
  const specs = tensorSpecs(archOf(header.config));
  const perGroup = specs.reduce((n, s) => n + numElements(s.shape), 0);
  if (bytes.length !== perGroup * header.blobs.length * 4) bad('wrong size');
  const floats = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
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
  return {
    config: header.config,
    epoch: header.epoch,
    rngState: header.rngState,
    elapsedSeconds: header.elapsedSeconds,
    last: header.last,
    best: header.best && { ...header.best, params: groups.get('best')! },
    params: groups.get('params')!,
    optimizer: { step: header.optimizerStep, moments: m && v ? { m, v } : null },
  };
}
