/**
 * A constraint on what a generation writes — `regex`, `choice`, `jsonSchema` or `grammar` (GBNF)
 * — checked, compiled for a model's alphabet, and named. One module for every surface: the HTTP
 * APIs, the library, the CLI and the element all hand a `ConstraintSpec` to the validator
 * (decode/validate.ts), and the jobs compile it where they run (cached per model).
 *
 * How a constrained generation ends: where the text is a match and nothing may follow, there
 * (finishReason "stop"); where it is a match and more may follow, when the model's own choice
 * falls on a character the constraint does not allow there (its probability is the weight of
 * ending: "stop"), or at numChars ("length", still a match: a character is allowed only while a
 * match fits in what is left). `choice` scores every option under the model and picks one with
 * its probability (decode/choice-job.ts).
 */
import { OptionError } from '../errors.ts';
import type { Model } from '../model.ts';
import { sha256Bytes, toHex } from '../sha256.ts';
import { constraintKind, type ConstraintSpec } from './spec.ts';
import { Automaton } from './automaton.ts';
import { parseGbnf } from './gbnf.ts';
import { compileGrammar, UNREACHABLE, type Alphabet, type Grammar, type Program } from './grammar.ts';
import { jsonSchemaGrammar } from './json-schema.ts';
import { parseRegex } from './regex.ts';

/** The name a continuation token carries: the kind and a digest of the spec (a token goes on under the same one only). */
export function constraintName(c: ConstraintSpec): string {
  return `${constraintKind(c)}:${toHex(sha256Bytes(new TextEncoder().encode(JSON.stringify(c)))).slice(0, 32)}`;
}

/** A constraint compiled for a model. */
export type CompiledConstraint =
  | { kind: 'automaton'; name: string; automaton: Automaton }
  | { kind: 'choice'; name: string; options: { text: string; ids: number[] }[] };

/** The model's characters by id (−1: not a character). */
export function alphabetOf(model: Model): Alphabet {
  const { vocab } = model;
  return { codePoints: Int32Array.from(vocab.tokens, (t, id) => (vocab.isSpecial(id) ? -1 : t.codePointAt(0)!)) };
}

/** Compiled constraints per model, the most recent few (a server sees the same schema again and again). */
const cache = new WeakMap<Model, Map<string, { compiled: CompiledConstraint; program: Program | null }>>();
const CACHED_PER_MODEL = 16;
/**
 * States a cached automaton may hold before the next request gets a fresh one (~0.5 KB each for
 * a 115-character alphabet): a recursive schema sent again and again explores new states, and
 * memory stays bounded. A job keeps the automaton it started with.
 */
export const MAX_SHARED_STATES = 4096;

/**
 * A constraint compiled for a model's alphabet, or a 400: outside the subset (naming what), a
 * character the model cannot write that every match needs (listing them), no match at all.
 */
export function compileConstraint(spec: ConstraintSpec, model: Model): CompiledConstraint {
  const key = JSON.stringify(spec);
  let perModel = cache.get(model);
  if (!perModel) cache.set(model, (perModel = new Map()));
  const known = perModel.get(key);
  if (known) {
    perModel.delete(key);
    perModel.set(key, known);
    if (known.compiled.kind === 'automaton' && known.program && known.compiled.automaton.size > MAX_SHARED_STATES) {
      known.compiled = { ...known.compiled, automaton: new Automaton(known.program, model.vocab.tokens.length) };
    }
    return known.compiled;
  }
  const { compiled, program } = compileWithProgram(spec, model);
  perModel.set(key, { compiled, program });
  if (perModel.size > CACHED_PER_MODEL) perModel.delete(perModel.keys().next().value!);
  return compiled;
}

/** A constraint compiled anew, past the cache (benchmarks time this). */
export function compile(spec: ConstraintSpec, model: Model): CompiledConstraint {
  return compileWithProgram(spec, model).compiled;
}

function compileWithProgram(spec: ConstraintSpec, model: Model): { compiled: CompiledConstraint; program: Program | null } {
  const name = constraintName(spec);
  const { vocab } = model;
  const cannot = (chars: Iterable<string>) =>
    `${model.name} cannot write ${[...new Set(chars)].map((c) => JSON.stringify(c)).join(', ')} (its alphabet: ${vocab.describeAlphabet()})`;
  if ('choice' in spec) {
    const options = spec.choice.map((text, i) => {
      const missing = [...text].filter((c) => !vocab.has(c));
      if (missing.length) throw new OptionError(`constraint choice[${i}] can never be generated: ${cannot(missing)}`);
      return { text, ids: vocab.encode(text) };
    });
    return { compiled: { kind: 'choice', name, options }, program: null };
  }
  const grammar: Grammar =
    'regex' in spec
      ? { rules: new Map([['root', parseRegex(spec.regex, 'constraint regex').expr]]), root: 'root' }
      : 'grammar' in spec
        ? parseGbnf(spec.grammar)
        : jsonSchemaGrammar(spec.jsonSchema);
  const alphabet = alphabetOf(model);
  const program = compileGrammar(grammar, alphabet);
  const automaton = new Automaton(program, vocab.tokens.length);
  if (automaton.minToAccept(automaton.start) >= UNREACHABLE) {
    throw new OptionError(
      program.missing.length > 0
        ? `constraint has no match that ${model.name} can write: ${cannot(needed(grammar, alphabet, program.missing))}`
        : `constraint has no match in the characters ${model.name} can write (its alphabet: ${vocab.describeAlphabet()})`,
    );
  }
  return { compiled: { kind: 'automaton', name, automaton }, program };
}

/**
 * Of the characters a grammar names that the model lacks, those every match needs: each one
 * without which no match exists even when the model could write all the others. (None alone:
 * all of them, as the reason together.)
 */
function needed(grammar: Grammar, alphabet: Alphabet, missing: readonly string[]): string[] {
  const has = (chars: readonly string[]) => {
    const codePoints = Int32Array.from([...alphabet.codePoints, ...chars.map((c) => c.codePointAt(0)!)]);
    const p = compileGrammar(grammar, { codePoints });
    const a = new Automaton(p, codePoints.length);
    return a.minToAccept(a.start) < UNREACHABLE;
  };
  const each = missing.filter((c) => !has(missing.filter((d) => d !== c)));
  return each.length > 0 ? each : [...missing];
}

/** The fewest characters a match of a compiled constraint has. */
export function shortestMatch(c: CompiledConstraint): number {
  return c.kind === 'choice' ? Math.min(...c.options.map((o) => o.ids.length)) : c.automaton.minToAccept(c.automaton.start);
}
