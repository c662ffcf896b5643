import { parseArgs, type ParseArgsConfig } from 'node:util';
import { TwError } from './errors.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * Parses a command's arguments strictly; an unknown or malformed flag becomes
 * one {@link TwError} line that names it (exit code 2).
 */
export function parseCommandArgs<O extends Options>(argv: string[], options: O, usage: string) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    const msg = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new TwError('TW_ARGS', `${msg} (usage: ${usage})`, 2);
  }
}

/** Returns a required string flag or throws a one-line usage error naming it. */
export function requireFlag(value: string | undefined, flag: string, usage: string): string {
  if (value === undefined || value === '') throw new TwError('TW_ARGS', `missing --${flag} (usage: ${usage})`, 2);
  return value;
}
