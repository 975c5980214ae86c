/** The SAMPLES' texts as Node generates them (the Workers tests compare theirs to these). */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createApp } from '../../edge/app.ts';
import { localEngine } from '../../edge/engine/engines.ts';
import { ModelRegistry, servedModel, type ServedArtifact } from '../../edge/registry.ts';
import { predict } from '../../shared/generate.ts';
import { KernelModel } from '../../shared/kernel/stepper.ts';
import { loadKernelNode, readArtifactDir, readModelDir } from '../../shared/platform/node.ts';
import { SAMPLES } from './api-cases.ts';

export const EDGE_MODEL_DIR = join(new URL('../..', import.meta.url).pathname, 'models/timemachine-deep-lstm-int8');
/** The second model the API tests serve beside it (Node and workerd alike): one with author tags. */
export const SECOND_MODEL_DIR = join(new URL('../..', import.meta.url).pathname, 'models/authors-deep-lstm-int8');
/** MODEL_DIR for the API tests: both, the Time Machine model first (the default). */
export const EDGE_MODEL_DIRS = `${EDGE_MODEL_DIR},${SECOND_MODEL_DIR}`;

export async function nodeSampleTexts(): Promise<string[]> {
  const model = await readModelDir(EDGE_MODEL_DIR);
  const km = new KernelModel(await loadKernelNode(), model);
  return SAMPLES.map((s) => predict(model, s, km).text);
}

/** A model folder with its files, as the edge entry points hold it (default: the Workers model). */
export async function edgeModel(dir = EDGE_MODEL_DIR): Promise<ServedArtifact> {
  const { model, files } = await readArtifactDir(dir);
  return { model, files: { ...files, plotSvg: await readFile(join(dir, 'perplexity.svg'), 'utf8') } };
}

/** The app the property tests send bodies to: both sample models, served in process. */
export async function twoModelApp(): Promise<ReturnType<typeof createApp>> {
  const kernel = await loadKernelNode();
  const artifacts = [await edgeModel(), await edgeModel(SECOND_MODEL_DIR)];
  return createApp({
    registry: new ModelRegistry(
      artifacts.map((a) => servedModel(a, localEngine(new KernelModel(kernel, a.model), { capacity: 16, queueSize: 64, deadlineMs: 30_000 }))),
    ),
  });
}
