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
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options: config, strict: true, allowPositionals: true });
  } catch (e) {
    const unknown = /Unknown option '(--?[^']+)'/.exec((e as Error).message)?.[1];
    const near = unknown ? nearestName(unknown.replace(/^-+/, '').split('=')[0], Object.keys(table)) : undefined;
    throw new OptionError(`${(e as Error).message}${near ? `; did you mean --${near}?` : ''}`);
  }
  const raw = parsed.values as Record<string, string | boolean | string[] | undefined>;
  const given = new Set(Object.keys(table).filter((name) => raw[name] !== undefined));
  return { values: resolveOptions(table, raw), given, positionals: parsed.positionals };
}
