/**
 * deeprnn/ai-sdk with no server: the provider over a model loaded by the library, in process.
 * Same text as the library's generate() for the same seed and settings; the prompt is sent raw.
 */
import { readFile } from 'node:fs/promises';
import { generateText, streamText } from 'ai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDeeprnn } from '../../shared/ai-sdk.ts';
import { generate, loadModel, type LoadedModel } from '../../shared/index.ts';

let m: LoadedModel;
beforeAll(async () => {
  const dir = new URL('../../models/authors-deep-lstm-int8/', import.meta.url);
  const kernel = await WebAssembly.compile(await readFile(new URL('../../shared/kernel/build/kernel.wasm', import.meta.url)));
  m = await loadModel(
    { modelJson: await readFile(new URL('model.json', dir), 'utf8'), weights: (await readFile(new URL('weights.bin', dir))).buffer as ArrayBuffer },
    { kernel },
  );
});
afterAll(() => m.dispose());

describe('createDeeprnn({ model }): the AI SDK on a model in this process', () => {
  it("generateText and streamText write the library's text; system and user texts are joined raw", async () => {
    const deeprnn = createDeeprnn({ model: m });
    const ours = generate(m, { prefix: 'Holmes said. It was', numChars: 80, temperature: 0.8, seed: 9 });
    const settings = { maxOutputTokens: 80, temperature: 0.8, seed: 9 } as const;
    const r = await generateText({ model: deeprnn(), system: 'Holmes said.', prompt: ' It was', ...settings });
    expect(r.text).toBe(ours.generated);
    expect(r.usage).toMatchObject({ inputTokens: 19, outputTokens: 80 });
    expect(r.response.modelId).toBe(m.model.name);
    const s = streamText({ model: deeprnn(), system: 'Holmes said.', prompt: ' It was', ...settings });
    const deltas: string[] = [];
    for await (const d of s.textStream) deltas.push(d);
    expect(deltas.join('')).toBe(ours.generated);
    expect(deltas.length).toBeGreaterThan(1);
  });

  it('continues from a continuation token, warns about settings a character model ignores, refuses a bad option', async () => {
    const deeprnn = createDeeprnn({ model: m });
    const whole = generate(m, { prefix: 'The ', numChars: 60, temperature: 1, seed: 4 });
    const first = await generateText({ model: deeprnn(), prompt: 'The ', maxOutputTokens: 25, temperature: 1, seed: 4, presencePenalty: 0.5 });
    expect(first.warnings?.map((w) => w.type === 'unsupported' && w.feature)).toEqual(['presencePenalty']);
    const token = (first.providerMetadata?.deeprnn as { continuation: string } | undefined)?.continuation;
    const rest = await generateText({ model: deeprnn(), prompt: '', maxOutputTokens: 35, providerOptions: { deeprnn: { continuation: token } } });
    expect(first.text + rest.text).toBe(whole.generated);
    await expect(generateText({ model: deeprnn(), prompt: 'a', providerOptions: { deeprnn: { beams: 2 } } })).rejects.toThrow(
      'providerOptions.deeprnn.beams is not an option',
    );
    expect(() => createDeeprnn({})).toThrow(/exactly one of baseURL/);
  });
});
