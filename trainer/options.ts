/**
 * Command-line option parsing for every `deeprnn` command: strict (unknown options are errors)
 * and each value checked, so a typo never silently becomes a default.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { OptionError } from '../shared/errors.ts';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export function parseCommand(argv: string[], options: OptionSpec): { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args: argv, options, strict: true, allowPositionals: true });
    return { values: values as Record<string, string | boolean | string[] | undefined>, positionals };
  } catch (e) {
    throw new OptionError((e as Error).message);
  }
}

export function intOption(name: string, raw: string | undefined, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^-?\d+$/.test(raw.trim())) throw new OptionError(`--${name} must be a whole number, got ${JSON.stringify(raw)}`);
  const v = Number(raw);
  if (v < min || v > max) throw new OptionError(`--${name} must be in [${min}, ${max}], got ${v}`);
  return v;
}

export function numberOption(name: string, raw: string | undefined, check: (v: number) => boolean, range: string): number | undefined {
  if (raw === undefined) return undefined;
  const v = raw.trim() === '' ? NaN : Number(raw);
  if (!Number.isFinite(v) || !check(v)) throw new OptionError(`--${name} must be ${range}, got ${JSON.stringify(raw)}`);
  return v;
}

export function choiceOption<T extends string>(name: string, raw: string | undefined, choices: readonly T[]): T | undefined {
  if (raw === undefined) return undefined;
  if (!choices.includes(raw as T)) throw new OptionError(`--${name} must be one of ${choices.join(', ')}, got ${JSON.stringify(raw)}`);
  return raw as T;
}

export function stringOption(name: string, raw: string | boolean | string[] | undefined): string | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string') throw new OptionError(`--${name} takes a value`);
  return raw;
}
