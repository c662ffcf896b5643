/**
 * An error meant for the operator: a stable code and one line that says what
 * was wrong and what to do. Every package keeps its codes in one catalogue
 * (`agent/errors.ts`, `server/errors.ts`, and {@link SHARED_ERRORS} here).
 */
export class TwError extends Error {
  constructor(readonly code: string, message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'TwError';
  }
}

/** Codes raised by shared modules. */
export const SHARED_ERRORS = {
  TW_CONFIG_INVALID: 'a config file has an unknown key or a bad value; the message names it',
  TW_CONFIG_UNREADABLE: 'a config file cannot be read or is not YAML',
  TW_ARGS: 'a command-line argument is missing or wrong',
} as const;

/** Formats any thrown value as the one error line a CLI prints. */
export function errorLine(prog: string, err: unknown): string {
  if (err instanceof TwError) return `${prog}: error ${err.code}: ${err.message}`;
  const msg = err instanceof Error ? err.message : String(err);
  return `${prog}: error: ${msg.split('\n')[0]}`;
}
