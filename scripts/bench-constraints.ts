/**
 * npm run bench:constraints (a measurement, not a test): what constrained generation costs.
 *   - compile: a 50-property JSON Schema and a 100-rule GBNF grammar, compiled for the model's
 *     alphabet from scratch (the cache bypassed), p50 / p95 over 200 runs;
 *   - per character, at batch 1: the time a decode job spends in `advance` (choosing a character,
 *     the constraint's mask and its step) beyond what the same job spends unconstrained, on the
 *     logits of a real generation — for regex, choice (per option character), JSON Schema and a
 *     grammar; first run (states met for the first time) and warm;
 *   - whole generations, unconstrained and constrained, characters per second, in the same run.
 * BASE_TREE=path/to/another/checkout also times that tree's unconstrained generation in this
 * run (the figure "unconstrained generation unchanged" compares). MODEL_DIR selects the model
 * (default: the shipped books model, whose alphabet has no braces: the JSON Schema is an array).
 * JSON lines, with the date and the machine.
 */
import { cpus } from 'node:os';
import type { RowOps } from '../shared/batch.ts';
import { compile, compileConstraint } from '../shared/constraint/constraint.ts';
import type { ConstraintSpec } from '../shared/constraint/spec.ts';
import type { GenerateRequest } from '../shared/contract.ts';
import { createJob, predict } from '../shared/generate.ts';
import { validateGeneration } from '../shared/decode/validate.ts';
import { KernelModel } from '../shared/kernel/stepper.ts';
import { runJob } from '../shared/batch.ts';
import { DEFAULT_MODEL_DIR, loadKernelNode, readModelDir } from '../shared/platform/node.ts';

const model = await readModelDir(process.env.MODEL_DIR || DEFAULT_MODEL_DIR);
const km = new KernelModel(await loadKernelNode(), model);
const line = (o: object) => console.log(JSON.stringify(o));
line({ kind: 'setup', model: model.name, vocabSize: model.arch.vocabSize, cpu: cpus()[0].model, node: process.version, date: new Date().toISOString() });

const quantiles = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { p50: +q(0.5).toFixed(3), p95: +q(0.95).toFixed(3), max: +s[s.length - 1].toFixed(3) };
};

// ---------------------------------------------------------------------------------------------
// Compile

/** A 50-property schema of the kinds the subset has; `salt` makes each one new to the cache. */
const schema50 = (salt: number) => ({
  type: 'array',
  items: {
    anyOf: Array.from({ length: 50 }, (_, i) => {
      const kinds = [
        { type: 'string', maxLength: 20 },
        { type: 'integer', minimum: -i, maximum: 1000 + i },
        { enum: [`v${i}`, `w${i}`, salt] },
        { type: 'array', items: { type: 'string', pattern: `^[a-z]{1,${1 + (i % 5)}}$` }, maxItems: 3 },
        { type: 'boolean' },
      ];
      return kinds[i % kinds.length];
    }),
  },
  maxItems: 5,
});
/** A 100-rule grammar: a chain of rules, each with alternatives, classes and repetition. */
const grammar100 = (salt: number) =>
  [
    `root ::= r0 (", " r0)* "." # ${salt}`,
    ...Array.from(
      { length: 99 },
      (_, i) => `r${i} ::= [A-Z] [a-z]{1,${2 + (i % 7)}} ${i < 98 ? `(" " r${i + 1})?` : ''} | "${String.fromCharCode(97 + (i % 26))}" [0-9]+`,
    ),
  ].join('\n');

for (const [name, make] of [
  ['jsonSchema, 50 properties', (s: number): ConstraintSpec => ({ jsonSchema: schema50(s) })],
  ['grammar, 100 rules', (s: number): ConstraintSpec => ({ grammar: grammar100(s) })],
] as const) {
  const ms: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t0 = performance.now();
    compileConstraint(make(i + 1000 * Math.random()), model);
    ms.push(performance.now() - t0);
  }
  line({ kind: 'compile', constraint: name, runs: ms.length, ms: quantiles(ms.slice(20)) });
}

// ---------------------------------------------------------------------------------------------
// Per character: the job's own work, constrained minus unconstrained, on recorded logits

const RECORD_CHARS = 400;
/** Logits of a real generation, step by step, and the job's advance times on them. */
function advanceTimes(request: Partial<GenerateRequest>): { perChar: number; chars: number } {
  const g = validateGeneration(model, request);
  const job = createJob(model, g);
  const rows = km.acquire(job.rows);
  let spent = 0;
  const advance = job.advance.bind(job);
  job.advance = (logits: Float32Array, at: number, stride: number, ops: RowOps) => {
    const t0 = performance.now();
    const more = advance(logits, at, stride, ops);
    spent += performance.now() - t0;
    return more;
  };
  runJob(job, rows);
  km.release(rows);
  const r = job.result({ totalMs: 0 });
  const chars = Math.max(1, r.numChars);
  return { perChar: (spent * 1000) / chars, chars };
}

const FREE: Partial<GenerateRequest> = { prefix: 'The ', numChars: RECORD_CHARS, temperature: 0.8, seed: 1 };
const CASES: [string, Partial<GenerateRequest>][] = [
  ['regex', { constraint: { regex: '([A-Z][a-z ,;]*[.?!] ?){1,20}' } }],
  ['jsonSchema', { constraint: { jsonSchema: { type: 'array', items: { anyOf: [{ type: 'string', maxLength: 30 }, { type: 'integer' }] }, maxItems: 30 } } }],
  ['grammar', { constraint: { grammar: 'root ::= sentence (" " sentence)*\nsentence ::= [A-Z] word (" " word)* [.!?]\nword ::= [a-z,;\']+' } }],
];
/**
 * The constraint's own work per character, replayed on the path a real generation took: the
 * mask (`allows` for every id, as the sampler asks) and the step (`next`), on a fresh automaton
 * (every state met for the first time) and on a warm one (states known: one array read each).
 */
function replay(spec: ConstraintSpec, text: string, numChars: number, fresh: boolean): number {
  const c = fresh ? compile(spec, model) : compileConstraint(spec, model);
  if (c.kind !== 'automaton') throw new TypeError('an automaton constraint');
  const A = c.automaton;
  const ids = model.vocab.encode(text);
  const V = model.arch.vocabSize;
  let s = A.start;
  let allowed = 0;
  const t0 = performance.now();
  for (let k = 0; k < ids.length; k++) {
    for (let id = 0; id < V; id++) if (A.allows(s, id, numChars - k)) allowed++;
    s = A.next(s, ids[k]);
  }
  const us = ((performance.now() - t0) * 1000) / Math.max(1, ids.length);
  if (allowed < 0) throw new Error('unreachable');
  return us;
}

// Warm the engine, then interleave runs so drift falls on both sides alike.
for (let i = 0; i < 3; i++) advanceTimes(FREE);
for (const [name, extra] of CASES) {
  const cold: number[] = [];
  const warm: number[] = [];
  const free: number[] = [];
  const constrained: number[] = [];
  let chars = 0;
  for (let i = 0; i < 15; i++) {
    const seed = 100 + i;
    free.push(advanceTimes({ ...FREE, seed }).perChar);
    const t = advanceTimes({ ...FREE, ...extra, seed });
    constrained.push(t.perChar);
    chars += t.chars;
    const text = predict(model, { ...FREE, ...extra, seed }, km).generated;
    cold.push(replay(extra.constraint!, text, RECORD_CHARS, true));
    warm.push(replay(extra.constraint!, text, RECORD_CHARS, false));
  }
  line({
    kind: 'per-character',
    constraint: name,
    runs: 15,
    meanChars: Math.round(chars / 15),
    constraintWorkUs: { warm: quantiles(warm), firstRun: quantiles(cold) },
    jobAdvanceUs: { unconstrained: quantiles(free).p50, constrained: quantiles(constrained).p50 },
  });
}

// Choice: per option character, scoring's own work (the steps are the model's, as for any row).
{
  const options = ['Yes', 'No', 'Perhaps', 'Certainly not', 'I do not know', 'Never', 'Always', 'Sometimes'];
  const request = { prefix: 'Is it true? ', numChars: 20, temperature: 1, constraint: { choice: options } };
  const runs: number[] = [];
  for (let i = 0; i < 50; i++) {
    const t = advanceTimes({ ...request, seed: i });
    // advanceTimes divides by the text's characters; a choice scores every option's characters.
    runs.push((t.perChar * t.chars) / options.reduce((n, o) => n + o.length, 0));
  }
  line({ kind: 'per-character', constraint: 'choice (per option character, all work of the job)', runs: runs.length, us: quantiles(runs) });
}

// ---------------------------------------------------------------------------------------------
// Whole generations

async function throughput(gen: (r: object) => unknown, request: object, label: string): Promise<void> {
  const rates: number[] = [];
  for (let i = 0; i < 12; i++) {
    const t0 = performance.now();
    const r = gen({ ...request, seed: i }) as { numChars: number };
    rates.push(r.numChars / ((performance.now() - t0) / 1000));
  }
  line({ kind: 'generation', label, charsPerSecond: quantiles(rates.slice(2)) });
}
const whole = { prefix: 'The ', numChars: 1000, temperature: 0.8 };
await throughput((r) => predict(model, r, km), whole, 'unconstrained (this tree)');
if (process.env.BASE_TREE) {
  const base = process.env.BASE_TREE.replace(/\/$/, '');
  const gen = (await import(`${base}/shared/generate.ts`)) as typeof import('../shared/generate.ts');
  const stepper = (await import(`${base}/shared/kernel/stepper.ts`)) as typeof import('../shared/kernel/stepper.ts');
  const node = (await import(`${base}/shared/platform/node.ts`)) as typeof import('../shared/platform/node.ts');
  const m = await node.readModelDir(process.env.MODEL_DIR || DEFAULT_MODEL_DIR);
  const k = new stepper.KernelModel(await node.loadKernelNode(), m);
  await throughput((r) => gen.predict(m, r, k), whole, `unconstrained (${base})`);
}
await throughput((r) => predict(model, r, km), whole, 'unconstrained (this tree, again)');
for (const [name, extra] of CASES) await throughput((r) => predict(model, r, km), { ...whole, ...extra }, `constrained: ${name}`);
