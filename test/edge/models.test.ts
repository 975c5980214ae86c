/** MODEL_DIR with several folders: what Node refuses before listening, and what Workers are handed. */
import { spawn } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModelFolders } from '../../edge/node.ts';
import { exportCommand } from '../../trainer/commands/export.ts';
import { parseModelDirs } from '../../edge/registry.ts';
import { stageIfChanged, stageModels } from '../../edge/stage.ts';
import { fetchStagedModels, type ModelsIndex } from '../../edge/worker-models.ts';
import { EDGE_MODEL_DIR, SECOND_MODEL_DIR } from './samples.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const FLOAT_DIR = join(ROOT, 'models/timemachine-deep-lstm'); // the same name as the int8 rendition
let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'deeprnn-models-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('MODEL_DIR: one folder or several', () => {
  it('parses a comma-separated list; an empty entry is an error', () => {
    expect(parseModelDirs('a')).toEqual(['a']);
    expect(parseModelDirs(' a , b ')).toEqual(['a', 'b']);
    for (const bad of ['', 'a,', ',a', 'a,,b'])
      expect(() => parseModelDirs(bad), bad).toThrow(/MODEL_DIR must be one model folder or several separated by commas/);
  });

  it('refuses, naming the folder and the reason: missing, a file, not a model, corrupt, two of one name', async () => {
    const notModel = join(dir, 'notes');
    await mkdir(notModel);
    await writeFile(join(notModel, 'readme.txt'), 'hello');
    const corrupt = join(dir, 'corrupt');
    await cp(SECOND_MODEL_DIR, corrupt, { recursive: true });
    const w = await readFile(join(corrupt, 'weights.bin'));
    w[1000] ^= 0xff;
    await writeFile(join(corrupt, 'weights.bin'), w);
    const cases: [string[], RegExp][] = [
      [[EDGE_MODEL_DIR, join(dir, 'nowhere')], new RegExp(`^MODEL_DIR: ${join(dir, 'nowhere')} does not exist$`)],
      [[join(notModel, 'readme.txt')], /is a file, not a model folder$/],
      [[notModel], new RegExp(`^MODEL_DIR: ${notModel} is not a model that can be served: model\\.json does not exist$`)],
      [[EDGE_MODEL_DIR, corrupt], new RegExp(`^MODEL_DIR: ${corrupt} is not a model that can be served: .*SHA-256`)],
      [[EDGE_MODEL_DIR, FLOAT_DIR], new RegExp(`^${EDGE_MODEL_DIR} and ${FLOAT_DIR} are both named "timemachine-deep-lstm"`)],
    ];
    for (const [dirs, message] of cases) await expect(loadModelFolders(dirs), dirs.join(',')).rejects.toThrow(message);
    expect((await loadModelFolders([EDGE_MODEL_DIR, SECOND_MODEL_DIR])).map((a) => a.model.name)).toEqual(['timemachine-deep-lstm', 'authors-deep-lstm']);
  });

  it('deeprnn export --name gives a rendition a name of its own, so both can be served', async () => {
    const copy = join(dir, 'tm-int8-copy');
    let said = '';
    await exportCommand(['--model', EDGE_MODEL_DIR, '--dtype', 'int8', '--name', 'tm-copy', '--out', copy], (s) => (said = s));
    expect(said).toBe(`wrote ${copy} (int8, 7-bit states, named tm-copy)`);
    expect(await readFile(join(copy, 'weights.bin'))).toEqual(await readFile(join(EDGE_MODEL_DIR, 'weights.bin'))); // int8 → int8 is exact
    expect((await loadModelFolders([EDGE_MODEL_DIR, copy])).map((a) => a.model.name)).toEqual(['timemachine-deep-lstm', 'tm-copy']);
    await expect(exportCommand(['--model', EDGE_MODEL_DIR, '--name', 'a/b', '--out', join(dir, 'x')], () => {})).rejects.toThrow(
      /--name must be 1 to 128 letters/,
    );
  });

  it('deeprnn export --state-bits: int8 renditions with 7-bit states (the default) or int16 states, recorded in model.json', async () => {
    const i16 = join(dir, 'tm-i16');
    let said = '';
    await exportCommand(['--model', EDGE_MODEL_DIR, '--dtype', 'int8', '--state-bits', '16', '--out', i16], (s) => (said = s));
    expect(said).toBe(`wrote ${i16} (int8, 16-bit states)`);
    expect(JSON.parse(await readFile(join(i16, 'model.json'), 'utf8')).weights.stateBits).toBeUndefined();
    expect(JSON.parse(await readFile(join(EDGE_MODEL_DIR, 'model.json'), 'utf8')).weights.stateBits).toBe(7);
    await expect(exportCommand(['--model', EDGE_MODEL_DIR, '--dtype', 'float16', '--state-bits', '7', '--out', join(dir, 'y')], () => {})).rejects.toThrow(
      '--state-bits applies to int8 artifacts',
    );
    await expect(exportCommand(['--model', EDGE_MODEL_DIR, '--dtype', 'int8', '--state-bits', '8', '--out', join(dir, 'z')], () => {})).rejects.toThrow(
      /--state-bits/,
    );
  });

  it('npm start: one line and exit 1, before listening', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'edge/node.ts')], {
      env: { ...process.env, MODEL_DIR: `${EDGE_MODEL_DIR},${FLOAT_DIR}`, PORT: '0', HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (out += d));
    const code = await new Promise((r) => child.on('exit', r));
    expect(code).toBe(1);
    expect(out.trim().split('\n')).toHaveLength(1);
    expect(out).toMatch(/^deeprnn: cannot start the server: .* are both named "timemachine-deep-lstm"/);
  });
});

describe('Workers: the models travel as static assets', () => {
  it("stages once per change: wrangler dev's second build at every start finds the stamp and copies nothing; a changed file is staged again", async () => {
    const assets = join(dir, 'stamped', 'web');
    const first = await stageIfChanged(EDGE_MODEL_DIR, assets);
    expect(first.copied).toBe(true);
    const again = await stageIfChanged(EDGE_MODEL_DIR, assets);
    expect(again).toEqual({ index: first.index, copied: false });
    expect(await readdir(join(assets, 'models'))).toEqual(['0', 'index.json']); // the stamp is not an asset
    expect((await stageIfChanged(SECOND_MODEL_DIR, assets)).copied).toBe(true);
    await rm(join(assets, 'models'), { recursive: true });
    expect((await stageIfChanged(SECOND_MODEL_DIR, assets)).copied).toBe(true); // a stamp without its folder stages anew
  });

  it("a bad MODEL_DIR under wrangler deploy: our line alone (not wrangler's stack trace), and a failing exit", async () => {
    const child = spawn(process.execPath, [join(ROOT, 'node_modules/wrangler/bin/wrangler.js'), 'deploy', '--dry-run'], {
      cwd: ROOT,
      env: { ...process.env, MODEL_DIR: 'models/nope', WRANGLER_SEND_METRICS: 'false' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (out += d));
    const [code, signal] = await new Promise<[number | null, string | null]>((r) => child.on('exit', (c, s) => r([c, s])));
    expect(code !== 0 || signal !== null).toBe(true);
    expect(out).toMatch(/deeprnn: cannot stage the models for the Worker: MODEL_DIR: models\/nope does not exist/);
    expect(out).not.toMatch(/at makeError|Command failed|ERROR/);
  }, 60_000);

  it('stages the folders in order, checked; refuses a file over the asset limit', async () => {
    const assets = join(dir, 'assets');
    const index = await stageModels(`${EDGE_MODEL_DIR},${SECOND_MODEL_DIR}`, assets);
    expect(index.models.map((m) => m.name)).toEqual(['timemachine-deep-lstm', 'authors-deep-lstm']);
    expect(JSON.parse(await readFile(join(assets, 'models/index.json'), 'utf8'))).toEqual(index);
    expect(await readFile(join(assets, 'models/1/weights.bin'))).toEqual(await readFile(join(SECOND_MODEL_DIR, 'weights.bin')));
    // A second run replaces the first: no model of the old list is left behind.
    await stageModels(SECOND_MODEL_DIR, assets);
    await expect(readFile(join(assets, 'models/1/model.json'))).rejects.toThrow(/ENOENT/);
    await expect(stageModels(`${EDGE_MODEL_DIR},${FLOAT_DIR}`, assets)).rejects.toThrow(/are both named/);
    await expect(stageModels(EDGE_MODEL_DIR, assets, 500_000)).rejects.toThrow(
      /weights\.bin is 0\.8 MiB; a Workers static asset may be at most 0 MiB \(export an int8 rendition/,
    );
  });

  it('the Worker checks what it fetches: a corrupt weights file or no staged models is a reason, not a model', async () => {
    const assets = join(dir, 'fetched');
    await stageModels(`${EDGE_MODEL_DIR},${SECOND_MODEL_DIR}`, assets);
    const fromDisk = (mutate?: (path: string, bytes: Buffer) => Buffer) => async (path: string) => {
      try {
        const bytes = await readFile(join(assets, path));
        return new Response(new Uint8Array(mutate ? mutate(path, bytes) : bytes));
      } catch {
        return new Response('not found', { status: 404 });
      }
    };
    const ok = await fetchStagedModels(fromDisk());
    expect(ok.map((a) => a.model.name)).toEqual(['timemachine-deep-lstm', 'authors-deep-lstm']);
    expect(ok[0].files.plotSvg).toMatch(/^<svg/);
    const flip = (path: string, b: Buffer) => (path === '/models/1/weights.bin' ? ((b[5000] ^= 1), b) : b);
    await expect(fetchStagedModels(fromDisk(flip))).rejects.toThrow(/^model authors-deep-lstm: .*SHA-256/);
    await expect(fetchStagedModels(async () => new Response('', { status: 404 }))).rejects.toThrow(
      /no models in the assets: start with npm run dev:edge or npm run deploy/,
    );
    const empty: ModelsIndex = { models: [] };
    await expect(fetchStagedModels(async () => Response.json(empty))).rejects.toThrow(/lists no models/);
  });
});
