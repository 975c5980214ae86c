/** The command line → an option table's values (Node's parseArgs; trainer/options.ts checks them). */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { nearestName } from '../shared/contract.ts';
import { OptionError } from '../shared/errors.ts';
import { resolveOptions, type OptionTable, type OptionValues } from './options.ts';

/**
 * argv → values, by the table: parsed, checked, defaults filled. `given` lists the options
 * that were on the command line (--resume needs to know).
 */
export function parseOptions<T extends OptionTable>(table: T, argv: string[]): { values: OptionValues<T>; given: Set<string>; positionals: string[] } {
  const config: NonNullable<ParseArgsConfig['options']> = {};
  for (const [name, d] of Object.entries(table)) config[name] = { type: d.type === 'boolean' ? 'boolean' : 'string', multiple: d.type === 'list' };
  // A negative number after an option that takes a value is that value (`--epochs -2`), so the
  // option's own check says what its range is; parseArgs alone would call it ambiguous.
  const takesValue = (a: string) => /^--[^=]+$/.test(a) && config[a.slice(2)]?.type === 'string';
  const negative = (a: string | undefined) => a !== undefined && /^-(\d|\.\d)/.test(a);
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (takesValue(argv[i]) && negative(argv[i + 1])) args.push(`${argv[i]}=${argv[++i]}`);
    else args.push(argv[i]);
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args, options: config, strict: true, allowPositionals: true });
  } catch (e) {
    const message = (e as Error).message;
    const unknown = /Unknown option '(--?[^']+)'/.exec(message)?.[1];
    if (unknown) {
      const near = nearestName(unknown.replace(/^-+/, '').split('=')[0], Object.keys(table));
      throw new OptionError(`unknown option ${unknown.split('=')[0]}${near ? `; did you mean --${near}?` : ' (--help lists the options)'}`);
    }
    throw new OptionError(message.split('\n')[0]);
  }
  const raw = parsed.values as Record<string, string | boolean | string[] | undefined>;
  const given = new Set(Object.keys(table).filter((name) => raw[name] !== undefined));
  return { values: resolveOptions(table, raw), given, positionals: parsed.positionals };
}
