import { type ParseArgsConfig, parseArgs } from 'node:util';
import { sharedError } from './errors.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * Parses a command's arguments strictly; an unknown or malformed flag becomes
 * one `TW_ARGS` error line that names it (exit code 2).
 */
export function parseCommandArgs<O extends Options>(argv: string[], options: O, usage: string) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    const msg = err instanceof Error ? err.message.split('\n')[0]! : String(err);
    // Node's own line for an unknown flag runs on about '--' and positionals; the flag is what matters.
    const unknown = (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? /'([^']+)'/.exec(msg)?.[1] : undefined;
    throw sharedError('TW_ARGS', `${unknown ? `unknown flag ${unknown}` : msg} (usage: ${usage})`);
  }
}

/** Returns a required string flag or throws a one-line usage error naming it. */
export function requireFlag(value: string | undefined, flag: string, usage: string): string {
  if (value === undefined || value === '') throw sharedError('TW_ARGS', `missing --${flag} (usage: ${usage})`);
  return value;
}

/**
 * The arguments of a `NAME on|off --dir D` command (`sample`, `group-ports`):
 * the data dir, the name and the switch; anything else is one usage line (exit 2).
 * @param what how the name is asked for in that line, e.g. `a HOST`.
 */
export function parseOnOffArgs(argv: string[], usage: string, what: string): { dir: string; name: string; on: boolean } {
  const { values, positionals } = parseCommandArgs(argv, { dir: { type: 'string' } }, usage);
  const dir = requireFlag(values.dir, 'dir', usage);
  const [name, state] = positionals;
  if (positionals.length !== 2 || (state !== 'on' && state !== 'off')) throw sharedError('TW_ARGS', `name ${what} and on or off (usage: ${usage})`);
  return { dir, name: name!, on: state === 'on' };
}
