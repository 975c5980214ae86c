/** The SAMPLES' texts as Node generates them (the Workers tests compare theirs to these). */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ServedArtifact } from '../../edge/app.ts';
import { predict } from '../../shared/generate.ts';
import { KernelModel } from '../../shared/kernel/stepper.ts';
import { loadKernelNode, readArtifactDir, readModelDir } from '../../shared/platform/node.ts';
import { SAMPLES } from './api-cases.ts';

export const EDGE_MODEL_DIR = join(new URL('../..', import.meta.url).pathname, 'models/timemachine-deep-lstm-int8');

export async function nodeSampleTexts(): Promise<string[]> {
  const model = await readModelDir(EDGE_MODEL_DIR);
  const km = new KernelModel(await loadKernelNode(), model);
  return SAMPLES.map((s) => predict(model, s, km).text);
}

/** The Workers model with its files, as the edge entry points hold it. */
export async function edgeModel(): Promise<ServedArtifact> {
  const { model, files } = await readArtifactDir(EDGE_MODEL_DIR);
  return { model, files: { ...files, plotSvg: await readFile(join(EDGE_MODEL_DIR, 'perplexity.svg'), 'utf8') } };
}
