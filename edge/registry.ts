/**
 * The models a server serves, by name: what every route group asks when a request says (or does
 * not say) `model`. Runtime-free: Node reads the folders in MODEL_DIR from disk, Workers fetch
 * them from the static assets, and both hand the loaded artifacts and their engines here.
 */
import { DeeprnnError } from '../shared/errors.ts';
import type { Model } from '../shared/model.ts';
import type { GenerationService } from './engine/scheduler.ts';

/** A served artifact: the model and its files as loaded (handed to pages that generate in place). */
export interface ServedArtifact {
  model: Model;
  files: { modelJson: string; weights: Uint8Array; plotSvg?: string };
}

/** One served model: its artifact and the engine that runs its generations. */
export interface ServedModel extends ServedArtifact {
  readonly name: string;
  readonly engine: GenerationService;
  /** SHA-256 of weights.bin, as model.json records it (ETag, OpenAI's system_fingerprint). */
  readonly weightsSha256: string;
  readonly weightsDtype: string;
}

/** The request named a model this server does not serve: 404, listing those it does. */
export class UnknownModelError extends DeeprnnError {
  constructor(
    readonly modelName: string,
    served: readonly string[],
  ) {
    super('model_not_found', `no model named ${JSON.stringify(modelName)}; this server serves ${served.join(', ')}`);
  }
}

/**
 * MODEL_DIR: one artifact folder, or several separated by commas (the first is the default).
 * The same parser on every runtime, so `npm start` and `npm run dev:edge` read one value alike.
 */
export function parseModelDirs(value: string): string[] {
  const dirs = value.split(',').map((s) => s.trim());
  if (dirs.length === 0 || dirs.some((d) => d === ''))
    throw new Error(`MODEL_DIR must be one model folder or several separated by commas, got ${JSON.stringify(value)}`);
  return dirs;
}

/** Two sources that load to one name cannot both be served: the error names both. */
export function checkUniqueNames(entries: readonly { name: string; source: string }[]): void {
  const seen = new Map<string, string>();
  for (const e of entries) {
    const other = seen.get(e.name);
    if (other !== undefined)
      throw new Error(
        `${other} and ${e.source} are both named ${JSON.stringify(e.name)}: a server serves each name once (serve one, or copy the other under a new name: deeprnn export --model DIR --name NEW --dtype int8 --out NEW_DIR)`,
      );
    seen.set(e.name, e.source);
  }
}

export class ModelRegistry {
  private readonly byName = new Map<string, ServedModel>();

  constructor(readonly models: readonly ServedModel[]) {
    if (models.length === 0) throw new Error('a server needs at least one model');
    checkUniqueNames(models.map((m) => ({ name: m.name, source: m.name })));
    for (const m of models) this.byName.set(m.name, m);
  }

  /** The model served when a request names none: the first listed. */
  get default(): ServedModel {
    return this.models[0];
  }

  get names(): string[] {
    return this.models.map((m) => m.name);
  }

  /** The model a request names (`undefined`: the default); an unknown name throws UnknownModelError. */
  resolve(name: string | undefined): ServedModel {
    if (name === undefined) return this.default;
    const m = this.byName.get(name);
    if (!m) throw new UnknownModelError(name, this.names);
    return m;
  }
}

/** A served model from its artifact and engine (reads the weights' digest and dtype from model.json). */
export function servedModel(artifact: ServedArtifact, engine: GenerationService): ServedModel {
  const w = (JSON.parse(artifact.files.modelJson) as { weights: { dtype: string; sha256: string } }).weights;
  return { ...artifact, name: artifact.model.name, engine, weightsSha256: w.sha256, weightsDtype: w.dtype };
}
