/** Small models with seeded random weights, written by the tests themselves. */
import { KERNEL_FLAVORS, type Kernel, type KernelFlavor } from '../shared/kernel/kernel.ts';
import { initParams, type Architecture, type Cell, type Model } from '../shared/model.ts';
import { loadKernelNode } from '../shared/platform/node.ts';
import { Rng } from '../shared/rng.ts';
import { Vocab } from '../shared/vocab.ts';

export const TINY_TOKENS = ['<unk>', ' ', 'e', 't', 'a', 'i', 'n', 'o', 's', 'h', 'r', 'm'];

export function randomModel(cell: Cell, opts: { numLayers?: number; hiddenSize?: number; tokens?: string[]; seed?: number; scale?: number } = {}): Model {
  const tokens = opts.tokens ?? TINY_TOKENS;
  const arch: Architecture = { cell, numLayers: opts.numLayers ?? 2, hiddenSize: opts.hiddenSize ?? 8, vocabSize: tokens.length, input: 'one-hot' };
  const rng = new Rng(opts.seed ?? 1);
  // Larger than PyTorch's init so that tiny models have peaked, seed-sensitive outputs.
  const scale = opts.scale ?? 3;
  const params = initParams(arch, () => 0.5 + (rng.uniform() - 0.5) * scale);
  return { name: `tiny-${cell}`, arch, vocab: new Vocab(tokens), preprocessing: 'd2l', params, training: null };
}

export function randomTokens(n: number, V: number, seed: number): Int32Array {
  const rng = new Rng(seed);
  return Int32Array.from({ length: n }, () => rng.randint(0, V - 1));
}

/** Both kernel builds, loaded once per test file. */
export const FLAVORS = KERNEL_FLAVORS;
export async function loadKernels(): Promise<Record<KernelFlavor, Kernel>> {
  return { simd: await loadKernelNode('simd'), 'relaxed-simd': await loadKernelNode('relaxed-simd') };
}
