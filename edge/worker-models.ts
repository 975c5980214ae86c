/**
 * The models a Worker serves, read from its static assets (put there by edge/stage.ts before
 * `wrangler dev` / `deploy`): an index, then each model's files, decoded and checked — SHA-256,
 * finite values, shapes — once per isolate. Runtime-free apart from the `fetch` it is handed.
 */
import { decodeArtifact } from '../shared/artifact.ts';
import type { ServedArtifact } from './registry.ts';

/** The index's name in the assets' models/ folder. */
export const MODELS_INDEX = 'index.json';

export interface ModelsIndex {
  /** In MODEL_DIR's order: the first is the default. */
  models: { name: string; folder: string; plot: boolean }[];
}

/** Read the staged models through `fetchAsset` (the ASSETS binding): each checked as `npm start` checks a folder. */
export async function fetchStagedModels(fetchAsset: (path: string) => Promise<Response>): Promise<ServedArtifact[]> {
  const get = async (path: string): Promise<Response> => {
    const r = await fetchAsset(path);
    if (!r.ok)
      throw new Error(
        `${path}: HTTP ${r.status}${r.status === 404 ? " (no models in the assets: start with npm run dev:edge or npm run deploy, which copy MODEL_DIR's models there)" : ''}`,
      );
    return r;
  };
  const index = (await (await get(`/models/${MODELS_INDEX}`)).json()) as ModelsIndex;
  if (!Array.isArray(index.models) || index.models.length === 0) throw new Error(`/models/${MODELS_INDEX} lists no models`);
  return Promise.all(
    index.models.map(async (m) => {
      const base = `/models/${m.folder}/`;
      const [modelJson, weights, plotSvg] = await Promise.all([
        get(`${base}model.json`).then((r) => r.text()),
        get(`${base}weights.bin`).then(async (r) => new Uint8Array(await r.arrayBuffer())),
        m.plot ? get(`${base}perplexity.svg`).then((r) => r.text()) : Promise.resolve(undefined),
      ]);
      let model: Awaited<ReturnType<typeof decodeArtifact>>;
      try {
        model = await decodeArtifact({ modelJson, weights });
      } catch (e) {
        throw new Error(`model ${m.name}: ${(e as Error).message}`);
      }
      return { model, files: { modelJson, weights, plotSvg } };
    }),
  );
}
