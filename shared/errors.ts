/**
 * One catalogued code: when it happens, what the operator should do, and the
 * exit status of a command that ends with it. `docs/ERRORS.md` lists every
 * entry, and a test keeps the two in step with the codes the source uses.
 */
export interface ErrorEntry {
  /** What was wrong, in general terms; the raising call site adds the particulars. */
  readonly when: string;
  /** What to do about it: every error line with this code ends with this text. */
  readonly todo: string;
  /** Exit status of a command that ends with this error; 1 when absent. */
  readonly exit?: number;
}

/** A package's catalogue: stable code → its entry. */
export type ErrorCatalogue = Readonly<Record<string, ErrorEntry>>;

/**
 * An error meant for the operator: a stable code, a message that says what
 * was wrong, and the catalogue's "what to do" for the code. Made only by the
 * factories of the catalogues (`agentError`, `serverError`, {@link sharedError}),
 * so an uncatalogued code does not type-check.
 */
export class TwError extends Error {
  /** What the operator should do, from the catalogue. */
  readonly todo: string;
  /** Exit status of a command that ends with this error. */
  readonly exitCode: number;

  constructor(
    readonly code: string,
    message: string,
    entry: ErrorEntry,
  ) {
    super(message);
    this.name = 'TwError';
    this.todo = entry.todo;
    this.exitCode = entry.exit ?? 1;
  }
}

/**
 * Returns the error factory of a catalogue: it takes only the catalogue's codes
 * and a message that says what was wrong (with names, paths, values).
 */
export function errorFactory<C extends ErrorCatalogue>(catalogue: C): (code: keyof C & string, message: string) => TwError {
  return (code, message) => new TwError(code, message, catalogue[code]!);
}

/** Codes raised by shared modules (config files, command lines), on either side. */
export const SHARED_ERRORS = {
  TW_CONFIG_INVALID: {
    exit: 2,
    when: 'a config file has an unknown key or a bad value; the message names it',
    todo: 'fix or remove that key in the config file and run the command again',
  },
  TW_CONFIG_UNREADABLE: {
    exit: 2,
    when: 'a config file cannot be read or is not YAML',
    todo: 'check the path and its permissions, and that the file is valid YAML',
  },
  TW_ARGS: {
    exit: 2,
    when: 'a command-line argument is missing or wrong',
    todo: 'correct the command line as the usage shows (`--help` after the command prints it with an example)',
  },
} as const satisfies ErrorCatalogue;

/** A code of {@link SHARED_ERRORS}. */
export type SharedErrorCode = keyof typeof SHARED_ERRORS;

/** Creates an error with a code of {@link SHARED_ERRORS}. */
export const sharedError = errorFactory(SHARED_ERRORS);

/**
 * Formats any thrown value as the one error line a CLI prints: `PROG: error
 * CODE: what was wrong; what to do`. An uncatalogued error (a bug) keeps its
 * first line and no code.
 */
export function errorLine(prog: string, err: unknown): string {
  if (err instanceof TwError) return `${prog}: error ${err.code}: ${err.message}; ${err.todo}`;
  const msg = err instanceof Error ? err.message : String(err);
  return `${prog}: error: ${msg.split('\n')[0]}`;
}
