/**
 * Command-line options, declared once per command as a table (char-rnn's `cmd:option` lines,
 * tfjs-examples' argparse): each option's type, default, bounds and help. `parseArgs`, the help
 * text, validation and defaults all come from that table. Strict: an unknown option is an error
 * that names the nearest real one, so a typo never silently becomes a default. Runtime-free: the
 * command line is read by trainer/argv.ts (Node); the library's options objects come through
 * `optionsFromObject`, with the same table.
 */
import { DEFAULT_MODEL, describeBounds, fromStrings, LIBRARY_LIMITS, nearestName, optionName, type FieldSpec } from '../shared/contract.ts';
import { OptionError } from '../shared/errors.ts';

interface Base<V> {
  help: string;
  /** Shown in the help after the option: `--out DIR`. */
  arg?: string;
  /** The value when the option is absent; a function computes it from the other values. */
  default?: V | ((values: Record<string, unknown>) => V | undefined);
  /** Extra check on the parsed value: a message when it is wrong. */
  check?(v: V): string | null;
}
export type OptionDef =
  | (Base<number> & { type: 'int'; min: number; max: number })
  | (Base<number> & { type: 'number'; min?: number; max?: number; exclusiveMin?: boolean })
  | (Base<string> & { type: 'string' })
  | (Base<string> & { type: 'choice'; choices: readonly string[] })
  | (Base<boolean> & { type: 'boolean' })
  | (Base<string[]> & { type: 'list' });
export type OptionTable = Record<string, OptionDef>;

type ValueOf<D> = D extends { type: 'int' | 'number' }
  ? number
  : D extends { type: 'boolean' }
    ? boolean
    : D extends { type: 'list' }
      ? string[]
      : D extends { type: 'choice'; choices: readonly (infer C)[] }
        ? C
        : string;
export type OptionValues<T extends OptionTable> = { [K in keyof T]: ValueOf<T[K]> | undefined };

// Typed constructors, so that a table's values keep their types (choices included).
export const opt = {
  int: (d: Omit<Extract<OptionDef, { type: 'int' }>, 'type'>) => ({ type: 'int' as const, ...d }),
  number: (d: Omit<Extract<OptionDef, { type: 'number' }>, 'type'>) => ({ type: 'number' as const, ...d }),
  string: (d: Omit<Extract<OptionDef, { type: 'string' }>, 'type'>) => ({ type: 'string' as const, ...d }),
  choice: <C extends string>(d: Omit<Base<C>, never> & { choices: readonly C[] }) => ({ type: 'choice' as const, ...d }),
  boolean: (d: Omit<Extract<OptionDef, { type: 'boolean' }>, 'type'>) => ({ type: 'boolean' as const, ...d }),
  list: (d: Omit<Extract<OptionDef, { type: 'list' }>, 'type'>) => ({ type: 'list' as const, ...d }),
};

/** `--model DIR` of the commands that read a model (generate, score, evaluate). */
export const modelOption = opt.string({ arg: 'DIR', help: `model artifact folder (default: $MODEL_DIR or ${DEFAULT_MODEL})` });

/** The contract's fields as CLI options (`numChars` → `--num-chars`), with the library's bounds. */
export function contractOptions(fields: Record<string, FieldSpec>, override: Partial<Record<string, Partial<OptionDef>>> = {}): OptionTable {
  const table: OptionTable = {};
  for (const [name, f] of Object.entries(fields)) {
    if (!f.cli) continue;
    const help = `${f.description.split(/(?<=\.)\s/)[0]} (${describeBounds(f, LIBRARY_LIMITS)})`;
    const dflt = 'default' in f ? f.default : undefined;
    const def: OptionDef =
      f.kind === 'strings'
        ? { type: 'list', help }
        : f.kind === 'boolean'
          ? { type: 'boolean', help }
          : { type: 'string', help, arg: f.kind === 'string' ? 'TEXT' : f.kind === 'integer' ? 'N' : 'X' };
    if (dflt !== undefined && def.type === 'string') def.help += `; default ${dflt}`;
    table[optionName(name, f)] = { ...def, ...override[name] } as OptionDef;
  }
  return table;
}

/** Contract options' raw strings → typed request fields (bounds are the validator's job). */
export function contractValues(fields: Record<string, FieldSpec>, values: Record<string, unknown>): Record<string, unknown> {
  const raw: Record<string, string | string[]> = {};
  for (const [name, f] of Object.entries(fields)) {
    const v = values[optionName(name, f)];
    if (f.cli && v !== undefined && typeof v !== 'boolean') raw[name] = v as string | string[];
  }
  return fromStrings(fields, raw, (f) => `--${optionName(f, fields[f])}`);
}

function parseValue(label: string, d: OptionDef, raw: string | boolean | string[]): unknown {
  const bad = (what: string) => new OptionError(`${label} must be ${what}, got ${JSON.stringify(raw)}`);
  switch (d.type) {
    case 'boolean':
    case 'list':
    case 'string':
      return raw;
    case 'choice':
      if (!d.choices.includes(raw as string)) throw bad(`one of ${d.choices.join(', ')}`);
      return raw;
    case 'int': {
      const s = String(raw).trim();
      if (!/^-?\d+$/.test(s)) throw bad('a whole number');
      const v = Number(s);
      if (v < d.min || v > d.max) throw new OptionError(`${label} must be in [${d.min}, ${d.max}], got ${v}`);
      return v;
    }
    case 'number': {
      const s = String(raw).trim();
      const v = s === '' ? NaN : Number(s);
      const range = `${d.exclusiveMin ? '(' : '['}${d.min ?? '-∞'}, ${d.max ?? '∞'}]`;
      if (!Number.isFinite(v) || (d.min !== undefined && (d.exclusiveMin ? v <= d.min : v < d.min)) || (d.max !== undefined && v > d.max))
        throw bad(`a number in ${range}`);
      return v;
    }
  }
}

/**
 * Raw values (strings from a command line, or typed values from an options object) → checked
 * values with the defaults filled, by the table. `label` names an option in errors.
 */
export function resolveOptions<T extends OptionTable>(
  table: T,
  raw: Record<string, string | boolean | string[] | number | undefined>,
  label: (name: string) => string = (n) => `--${n}`,
): OptionValues<T> {
  const values: Record<string, unknown> = {};
  for (const [name, d] of Object.entries(table)) {
    const r = raw[name];
    if (r === undefined) continue;
    if (d.type !== 'boolean' && typeof r === 'boolean') throw new OptionError(`${label(name)} takes a value`);
    if (d.type === 'boolean' && typeof r !== 'boolean') throw new OptionError(`${label(name)} must be true or false, got ${JSON.stringify(r)}`);
    if (d.type === 'list' && !(Array.isArray(r) && r.every((x) => typeof x === 'string')))
      throw new OptionError(`${label(name)} must be a list of strings, got ${JSON.stringify(r)}`);
    if ((d.type === 'string' || d.type === 'choice') && typeof r !== 'string')
      throw new OptionError(`${label(name)} must be a string, got ${JSON.stringify(r)}`);
    if ((d.type === 'int' || d.type === 'number') && typeof r !== 'number' && typeof r !== 'string')
      throw new OptionError(`${label(name)} must be a number, got ${JSON.stringify(r)}`);
    values[name] = parseValue(label(name), d, r as string | boolean | string[]);
    const problem = (d.check as ((v: unknown) => string | null) | undefined)?.(values[name]);
    if (problem) throw new OptionError(`${label(name)} ${problem}`);
  }
  // Defaults last, in table order, so a derived default sees the values it depends on.
  for (const [name, d] of Object.entries(table)) {
    if (values[name] !== undefined || d.default === undefined) continue;
    values[name] = typeof d.default === 'function' ? (d.default as (v: Record<string, unknown>) => unknown)(values) : d.default;
  }
  return values as OptionValues<T>;
}

/** An option's name in a library options object: `max-tokens` → `maxTokens`. */
export const camelName = (name: string) => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/**
 * A library options object (`{ hidden: 512, timeBudget: 2 }`) → the same checked values as the
 * command line, by the same table; `only` limits which options the caller may pass. An unknown
 * name is an error naming the nearest real one.
 */
export function optionsFromObject<T extends OptionTable>(
  table: T,
  obj: Record<string, unknown>,
  only: readonly (keyof T & string)[] = Object.keys(table),
): OptionValues<T> {
  const byCamel = new Map(only.map((n) => [camelName(n), n]));
  const raw: Record<string, string | boolean | string[] | number | undefined> = {};
  for (const [key, v] of Object.entries(obj)) {
    const name = byCamel.get(key);
    if (!name) {
      const near = nearestName(key, [...byCamel.keys()]);
      throw new OptionError(`${key} is not an option${near ? `; did you mean ${near}?` : ` (options: ${[...byCamel.keys()].join(', ')})`}`);
    }
    raw[name] = v as string | boolean | string[] | number | undefined;
  }
  return resolveOptions(table, raw, camelName);
}

/** The help text: usage lines, then one line per option from the table. */
export function helpText(usage: string, table: OptionTable, notes = ''): string {
  const lines = Object.entries(table).map(([name, d]) => {
    const left = `  --${name}${d.type === 'boolean' ? '' : ` ${d.arg ?? (d.type === 'int' ? 'N' : d.type === 'number' ? 'X' : d.type === 'choice' ? d.choices.join('|') : 'VALUE')}`}`;
    let help = d.help;
    if (d.type === 'list') help += ' (repeat for several)';
    if (d.default !== undefined && typeof d.default !== 'function' && !/default/.test(help))
      help += ` (default ${Array.isArray(d.default) ? d.default.join(', ') : String(d.default)})`;
    return left.length > 26 ? `${left}\n${' '.repeat(28)}${help}` : `${left.padEnd(28)}${help}`;
  });
  return `${usage}\n\n${lines.join('\n')}${notes ? `\n\n${notes}` : ''}`;
}
