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
 * The constants are measured on the Workers engine (`npm run bench:budget` prints the measured
 * and the planned CPU side by side), then multiplied by `slowerCpu` for CPUs slower than the one
 * measured — the figures and the machine are in docs/workers.md.
 */
import { numGates, type Model } from './model.ts';

/**
 * Measured on Intel Sapphire Rapids (`npm run bench:budget`): 2026-12-04, int8 with int16 states
 * 0.0393 ns and float32 0.1286 ns per multiply-add (the whole kernel step, cells included), 5–11
 * µs per character and 160–370 µs per request outside it; 2026-12-05, int8 with 7-bit states
 * 0.0290–0.0305 ns. Rounded up, then × slowerCpu.
 */
export const COST = {
  /** ns per multiply-add of the int8 path with int16 states at batch 1 (the step's cells and calls included). */
  int8NsPerMac: 0.04,
  /** … with 7-bit states (the relaxed dot product; model.json `weights.stateBits: 7`). */
  int8State7NsPerMac: 0.032,
  /** ns per multiply-add of the float32 path at batch 1. */
  floatNsPerMac: 0.13,
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

export function stepCosts(model: Model, rows = 1): StepCosts {
  const ns = model.storage !== 'int8' ? COST.floatNsPerMac : model.stateBits === 7 ? COST.int8State7NsPerMac : COST.int8NsPerMac;
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
export function planBudget(model: Model, cpuMs: number, prefixIds: number, numChars: number, rows = 1): StepBudget {
  const c = stepCosts(model, rows);
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
