/**
 * Sizing a run to its time budget (`--size auto`, the default with --time-budget): which network,
 * batch, learning rate and regularisation the budget buys on this text and this machine.
 *
 * The rule, from the measurements in README "Sizing to the budget":
 * 1. **Throughput is measured, not assumed**: each candidate width trains a few windows here,
 *    on the engine and threads the run will use (a few seconds, counted in the budget).
 * 2. **Width from compute**: the budget's tokens D = tokens/s × the seconds left; the network is
 *    the width whose D / P (tokens per parameter) comes nearest `tokensPerParameter` — a wider
 *    network sees too few tokens to use its size, a narrower one stops improving (compute-optimal
 *    training, as for Chinchilla's transformers; ours was measured at equal compute on the
 *    largest book here, where the narrowest width, reading the most tokens, won below ~20) —
 *    and **capped by the text**: at most `maxParametersPerChar` parameters per training character
 *    (char-rnn's advice, parameters of the order of the characters, measured here).
 * 3. **Regularisation from repetition**: the passes over the text E = D / N decide the dropout
 *    (between layers and on the output layer), the weight drop (on W_hh) and the weight decay: a
 *    text read a few times needs none, one read tens of times overfits without it. Dropout on the
 *    activations stops at 0.2: more did worse wherever it was measured (0.3 at 27 passes
 *    underfitted; 0.5 at 96 ended worse than 0.2 at 35 passes in a third of the time; 0.3 with
 *    weight drop at 96 fitted the text worse than 0.2). Past ~30 passes the recurrent weights
 *    are dropped too, as AWD-LSTM does: with dropout 0.2 and weight drop 0.3, 30 minutes (100
 *    passes) beat 10 minutes on the small text that activations' dropout alone could not make
 *    gain from them. The cap in 2 keeps long budgets on small texts from building networks many
 *    times the text's size (README, "Sizing to the budget").
 * 4. **Learning rate from width**: Adam's best peak, measured at 256 units, scaled by 256/H (a
 *    wider layer sums more inputs, so one step moves its outputs further), at most `maxLr`.
 * Options given on the command line are never changed; the rule fits the rest around them.
 */
import { initParams, numElements, tensorSpecs, type Cell } from '../shared/model.ts';
import { Rng } from '../shared/rng.ts';
import type { Engine, EngineSpec } from './engines/engine.ts';

/** The options the rule chooses when they are not given. */
export const SIZED_OPTIONS = ['layers', 'hidden', 'batch-size', 'lr', 'dropout', 'output-dropout', 'weight-drop', 'weight-decay'] as const;
export type SizedOption = (typeof SIZED_OPTIONS)[number];

/** The rule's constants (README "Sizing to the budget" has the runs behind each). */
export const SIZING_RULE = {
  /** Candidate widths, narrowest first. */
  hidden: [128, 192, 256, 384, 512, 768, 1024],
  layers: 2,
  batchSize: 32,
  /** Compute-optimal tokens per parameter. */
  tokensPerParameter: 20,
  /**
   * At most this many parameters per training character, whatever the budget: past it a network
   * memorises a small text more than it learns the language (2×256 at 2.8 per character, 30
   * minutes on a 321 K book, ended worse than 2×192 at 1.65 in 10 — with dropout 0.25 or 0.3 —
   * while 2×256 at 2.4 on a 377 K one gained from 30 minutes).
   */
  maxParametersPerChar: 2.5,
  /** Adam's peak learning rate under wsd at 256 units, batch 32; ∝ 1/width, at most `maxLr`. */
  lrAt256: 0.008,
  maxLr: 0.012,
  /**
   * Passes over the text below which nothing is dropped; dropout grows with log(passes) past it,
   * `dropoutPerDoubling` per doubling, in steps of 0.05, to `maxDropout`.
   */
  freePasses: 3,
  dropoutPerDoubling: 0.06,
  maxDropout: 0.2,
  /**
   * Past `weightDropPasses` the recurrent weights are dropped too, `weightDropPerDoubling` per
   * doubling, in steps of 0.05, to `maxWeightDrop` (none at 35 passes, 0.3 at 100 measured best).
   */
  weightDropPasses: 32,
  weightDropPerDoubling: 0.18,
  maxWeightDrop: 0.5,
  /** AdamW's λ once the text is read more than `decayPasses` times. */
  weightDecay: 0.1,
  decayPasses: 8,
  /** The share of the budget validation is expected to take (trainer/train.ts `validationDue`: at most 5%). */
  validationShare: 0.05,
} as const;

/** A shape a probe trains. */
export interface ProbeShape {
  numLayers: number;
  hiddenSize: number;
  batchSize: number;
}

/** The rule's choice, recorded in the checkpoint and in model.json's training record. */
export interface SizingChoice extends ProbeShape {
  lr: number;
  dropout: number;
  outputDropout: number;
  weightDrop: number;
  weightDecay: number;
  /** Training tokens/s measured per probed width. */
  probes: { hiddenSize: number; tokensPerSecond: number }[];
  /** What the budget buys at the chosen shape: tokens, passes over the text, tokens per parameter. */
  budgetTokens: number;
  passes: number;
  parameters: number;
  /** The seconds the probes took (counted in the budget). */
  probeSeconds: number;
  /** One line: what was chosen and why. */
  reason: string;
}

export interface SizingRequest {
  cell: Cell;
  vocabSize: number;
  /** Training characters (the split's training part). */
  trainChars: number;
  budgetSeconds: number;
  /** Values given by the user (never changed). */
  fixed: Partial<Record<SizedOption, number>>;
  /** Training tokens/s of this shape on the run's engine (trainer/train.ts's probe). */
  measure(shape: ProbeShape): Promise<number>;
  now(): number;
}

export function parameterCount(cell: Cell, numLayers: number, hiddenSize: number, vocabSize: number): number {
  return tensorSpecs({ cell, numLayers, hiddenSize, vocabSize, input: 'one-hot' }).reduce((n, s) => n + numElements(s.shape), 0);
}

/** `slope` for every doubling of the passes past `from`, in steps of 0.05, at most `max`. */
function perDoubling(passes: number, from: number, slope: number, max: number): number {
  if (passes <= from) return 0;
  return Math.min(max, Math.round(slope * Math.log2(passes / from) * 20) / 20);
}

/** Dropout (between layers, on the output) for a text read `passes` times. */
export function dropoutForPasses(passes: number): number {
  const R = SIZING_RULE;
  return perDoubling(passes, R.freePasses, R.dropoutPerDoubling, R.maxDropout);
}

/** Weight drop on W_hh for a text read `passes` times. */
export function weightDropForPasses(passes: number): number {
  const R = SIZING_RULE;
  return perDoubling(passes, R.weightDropPasses, R.weightDropPerDoubling, R.maxWeightDrop);
}

export function lrForWidth(hiddenSize: number): number {
  return +Math.min(SIZING_RULE.maxLr, (SIZING_RULE.lrAt256 * 256) / hiddenSize).toPrecision(3);
}

/** Apply the rule to a run: probe, choose the width, then regularisation and lr for it. */
export async function sizeRun(r: SizingRequest): Promise<SizingChoice> {
  const R = SIZING_RULE;
  const t0 = r.now();
  const numLayers = r.fixed.layers ?? R.layers;
  const batchSize = r.fixed['batch-size'] ?? R.batchSize;
  const widths = r.fixed.hidden !== undefined ? [r.fixed.hidden] : R.hidden;
  const probes: SizingChoice['probes'] = [];
  // Widths are probed narrowest first; the first whose tokens per parameter fall below the target
  // ends the probing (a wider one would be further below), and of the probed widths the one
  // nearest the target, by ratio, is taken.
  const options: { hiddenSize: number; tokens: number; parameters: number; miss: number }[] = [];
  const tooLarge = (hiddenSize: number) => parameterCount(r.cell, numLayers, hiddenSize, r.vocabSize) > R.maxParametersPerChar * r.trainChars;
  // The text caps the width (the narrowest is always a candidate); a given --hidden is kept.
  const capped = r.fixed.hidden !== undefined ? widths : widths.filter((h, i) => i === 0 || !tooLarge(h));
  for (const hiddenSize of capped) {
    const tokensPerSecond = await r.measure({ numLayers, hiddenSize, batchSize });
    probes.push({ hiddenSize, tokensPerSecond: Math.round(tokensPerSecond) });
    const seconds = r.budgetSeconds * (1 - R.validationShare) - (r.now() - t0);
    const tokens = tokensPerSecond * Math.max(1, seconds);
    const parameters = parameterCount(r.cell, numLayers, hiddenSize, r.vocabSize);
    options.push({ hiddenSize, tokens, parameters, miss: Math.abs(Math.log(tokens / (R.tokensPerParameter * parameters))) });
    if (tokens < R.tokensPerParameter * parameters) break;
  }
  const c = options.reduce((a, b) => (b.miss < a.miss ? b : a));
  const passes = c.tokens / Math.max(1, r.trainChars);
  const dropout = r.fixed.dropout ?? (numLayers > 1 ? dropoutForPasses(passes) : 0);
  const outputDropout = r.fixed['output-dropout'] ?? dropoutForPasses(passes);
  const weightDrop = r.fixed['weight-drop'] ?? weightDropForPasses(passes);
  const weightDecay = r.fixed['weight-decay'] ?? (passes > R.decayPasses ? R.weightDecay : 0);
  const lr = r.fixed.lr ?? lrForWidth(c.hiddenSize);
  const probeSeconds = +(r.now() - t0).toFixed(2);
  const cappedBy = capped.length < widths.length && c.hiddenSize === capped.at(-1) && c === options.at(-1) && c.tokens >= R.tokensPerParameter * c.parameters;
  const shapeWhy =
    r.fixed.hidden !== undefined
      ? 'given'
      : cappedBy
        ? `${(c.tokens / c.parameters).toFixed(0)} tokens per parameter; the widest under ${R.maxParametersPerChar} parameters per character of the text`
        : `${(c.tokens / c.parameters).toFixed(0)} tokens per parameter, the nearest of the widths to ${R.tokensPerParameter}`;
  const reason =
    `sized to ${(r.budgetSeconds / 60).toPrecision(3)} min: ${numLayers}×${c.hiddenSize} ${r.cell.toUpperCase()} (${(c.parameters / 1e6).toFixed(2)} M parameters; ${shapeWhy}), ` +
    `batch ${batchSize}, lr ${lr}: ~${(c.tokens / 1e6).toFixed(1)} M tokens at ${Math.round(probes.find((p) => p.hiddenSize === c.hiddenSize)!.tokensPerSecond)} tokens/s = ${passes.toFixed(1)} passes over ${r.trainChars} characters → ` +
    `dropout ${dropout}, output dropout ${outputDropout}, weight drop ${weightDrop}, weight decay ${weightDecay} (tokens/s by width: ${probes.map((p) => `${p.hiddenSize} ${p.tokensPerSecond}`).join(', ')}; ${probeSeconds.toFixed(1)} s)`;
  return {
    numLayers,
    hiddenSize: c.hiddenSize,
    batchSize,
    lr,
    dropout,
    outputDropout,
    weightDrop,
    weightDecay,
    probes,
    budgetTokens: Math.round(c.tokens),
    passes: +passes.toFixed(2),
    parameters: c.parameters,
    probeSeconds,
    reason,
  };
}

/** A probe times at least this many windows and this long, after `warmup` that warm the engine up (compilation, first touches of memory). */
const PROBE = { warmup: 2, windows: 3, seconds: 1 } as const;

/** What a probe runs on: the run's own engine spec (engine, threads, optimizer) and how the host builds engines. */
export interface ProbeEngine {
  spec: EngineSpec;
  makeEngine(spec: EngineSpec): Promise<Engine>;
  /** The run's seed (weights and tokens) and clipping threshold. */
  seed: number;
  clip: number;
}

/**
 * Training tokens/s of one shape on the run's own engine and threads: fresh weights, random
 * tokens (a window's cost does not depend on which), forward, backward, clip and step.
 */
export async function measureShape(run: ProbeEngine, shape: ProbeShape): Promise<number> {
  const arch = { ...run.spec.arch, numLayers: shape.numLayers, hiddenSize: shape.hiddenSize };
  const { numSteps } = run.spec;
  const engine = await run.makeEngine({ ...run.spec, arch, batchSize: shape.batchSize });
  try {
    const rng = new Rng(run.seed);
    engine.setParams(initParams(arch, () => rng.uniform()));
    const n = shape.batchSize * numSteps;
    const x = Int32Array.from({ length: n }, () => Math.floor(rng.uniform() * arch.vocabSize));
    const y = Int32Array.from({ length: n }, () => Math.floor(rng.uniform() * arch.vocabSize));
    const window = async () => {
      await engine.forwardBackward(x, y);
      engine.clipGradients(run.clip);
      engine.step(1e-6);
    };
    for (let w = 0; w < PROBE.warmup; w++) await window();
    const t0 = performance.now();
    let windows = 0;
    while (windows < PROBE.windows || performance.now() - t0 < PROBE.seconds * 1000) {
      await window();
      windows++;
    }
    return (windows * n) / ((performance.now() - t0) / 1000);
  } finally {
    await engine.dispose();
  }
}
