/**
 * What a request costs in CPU, planned before it runs: a Worker cannot read its own CPU clock
 * (its timers stand still while it computes), so the Workers entry turns its budget (CPU_MS)
 * into steps with this model and stops there, handing the rest on as a continuation.
 *
 * cost(request) = REQUEST_US                                   parse, validate, respond, token
 *               + prefix ids read  · step(1 row)
 *               + characters       · (step(width rows) + CHAR_US)
 *   step(rows)  = rows · multiply-adds per row · ns per multiply-add (float or int8) + STEP_US
 *
 * The cost of a step is measured in workerd itself — the V8 Workers run, whose lowering of the
 * kernel's SIMD differs from Node 20's (the int16-state product runs 1.6× slower there) — as the
 * wall time of long requests under `wrangler dev` (`npm run bench:workerd`; wall time bounds the
 * CPU), per kernel build; the costs outside the step on the Workers engine in process (`npm run
 * bench:budget`). Then × `slowerCpu` for CPUs slower than the one measured — the figures and the
 * machine are in docs/workers.md.
 */
import type { Kernel } from './kernel/kernel.ts';
import { numGates, type Model } from './model.ts';

/**
 * Measured on Intel Sapphire Rapids, 2026-12-05 (`npm run bench:workerd`, the d2l model, 793,600
 * multiply-adds per step): a character in workerd, everything in it counted, took 21.1–22.5 µs on
 * kernel-dotadd.wasm, 31.2–32.7 on kernel-dot.wasm, 53.4 with int16 states and 116.0 in float32;
 * the plan below gives 32.8, 40.7, 60.6 and 128.0 µs before × slowerCpu. Outside the steps
 * (2026-12-04, `npm run bench:budget`, in process): 160–370 µs per request, 5–11 per character.
 */
export const COST = {
  /** ns per multiply-add, int8 weights with 7-bit states, where workerd runs kernel-dotadd.wasm (its dot-add one AVX-VNNI instruction). */
  int8State7DotAddNsPerMac: 0.03,
  /** … on kernel-dot.wasm: what workerd runs elsewhere. */
  int8State7NsPerMac: 0.04,
  /** ns per multiply-add of the int8 path with int16 states (renditions exported before 2026-12-05). */
  int8NsPerMac: 0.065,
  /** ns per multiply-add of the float32 path. */
  floatNsPerMac: 0.15,
  /** µs per step beyond that. */
  stepUs: 1,
  /** µs per generated character outside the step (sampling, its event, its share of the response). */
  charUs: 8,
  /** µs per request outside the steps (routing, validation, JSON, the continuation token). */
  requestUs: 400,
  /** Margin for CPUs slower than the one measured (a Zen 4 took 1.4–1.5× a Zen 5's CPU on the same request, 2026-12-01). */
  slowerCpu: 1.6,
} as const;

/** Multiply-adds of one step of one row: W_hh of every layer, W_ih above the first (its input is one-hot: a row copy), the output layer. */
export function macsPerStep(model: Model): number {
  const { hiddenSize: H, vocabSize: V, numLayers: L, cell } = model.arch;
  const GH = numGates(cell) * H;
  return L * GH * H + (L - 1) * GH * H + V * H;
}

export interface StepCosts {
  /** µs per prefix id read. */
  prefixUs: number;
  /** µs per generated character, at `rows` rows (beam search: its width). */
  charUs: number;
  requestUs: number;
}

/** ns per multiply-add for this model on this kernel build (unknown build: the slower 7-bit one). */
export function nsPerMac(model: Model, build?: Kernel['build']): number {
  if (model.storage !== 'int8') return COST.floatNsPerMac;
  if (model.stateBits !== 7) return COST.int8NsPerMac;
  return build === 'kernel-dotadd.wasm' ? COST.int8State7DotAddNsPerMac : COST.int8State7NsPerMac;
}

export function stepCosts(model: Model, rows = 1, build?: Kernel['build']): StepCosts {
  const ns = nsPerMac(model, build);
  const step = (n: number) => ((n * macsPerStep(model) * ns) / 1000 + COST.stepUs) * COST.slowerCpu;
  return { prefixUs: step(1), charUs: step(rows) + COST.charUs * COST.slowerCpu, requestUs: COST.requestUs * COST.slowerCpu };
}

/** The steps a budget allows one request: prefix ids it reads, then characters it generates. */
export interface StepBudget {
  prefill: number;
  chars: number;
}

/**
 * `cpuMs` of CPU → how much of a request fits: the prefix first (a long one is read in slices
 * across continuations), then characters. At least one prefix id or one character always fits,
 * so a chain of continuations always moves forward.
 */
export function planBudget(model: Model, cpuMs: number, prefixIds: number, numChars: number, rows = 1, build?: Kernel['build']): StepBudget {
  const c = stepCosts(model, rows, build);
  let left = cpuMs * 1000 - c.requestUs;
  const prefill = Math.min(prefixIds, Math.max(0, Math.floor(left / c.prefixUs)));
  left -= prefill * c.prefixUs;
  let chars = prefill < prefixIds ? 0 : Math.min(numChars, Math.max(0, Math.floor(left / c.charUs)));
  if (prefill === 0 && chars === 0) {
    if (prefixIds > 0) return { prefill: 1, chars: 0 };
    chars = 1;
  }
  return { prefill, chars };
}
